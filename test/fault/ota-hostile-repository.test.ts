// One test per TUF attack class (tuf-spec 1.0.34 §"Goals to protect against specific attacks")
// and per client-workflow check (§5), against repositories made by Ridgeline's publisher and then
// tampered with. Codes are asserted, never messages.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DirectoryFetcher } from "../../ota/repo-fetchers.js";
import { generateSigningKey, signSigned } from "../../ota/tuf-keys.js";
import { targetPath, type RefreshResult } from "../../ota/tuf-client.js";
import { selectUpdate, requireTarget, type DeviceIdentity } from "../../ota/target-selection.js";
import { TargetHasher } from "../../ota/target-hasher.js";
import { makeRepo, resign, TamperingFetcher, runtimeCustom } from "../helpers/ota-repo.js";

const dev: DeviceIdentity = { kind: "runtime", board: "sim", arch: "x64", current: "1.0.0", minVersion: "1.0.0" };

function fail(r: RefreshResult): { code: string } {
  assert.ok(!r.ok, "refresh should fail");
  return r as { code: string };
}

test("baseline: a good repository refreshes and yields the newest fitting target", async () => {
  const t = await makeRepo();
  try {
    await t.addTarget("ridge-1.1.0.tar", new Uint8Array([1, 2, 3]), runtimeCustom("1.1.0"));
    await t.addTarget("ridge-1.2.0.tar", new Uint8Array([4, 5, 6]), runtimeCustom("1.2.0"));
    const r = await t.client().refresh();
    assert.ok(r.ok, JSON.stringify(r));
    if (!r.ok) return;
    const s = selectUpdate(r.value.trusted.targets, dev);
    assert.ok(s.ok && s.value?.name === "ridge-1.2.0.tar");
  } finally {
    t.cleanup();
  }
});

test("arbitrary installation: targets signed by a key the root does not name is refused", async () => {
  const t = await makeRepo();
  try {
    await t.addTarget("a.tar", new Uint8Array([1]), runtimeCustom("1.1.0"));
    const evil = generateSigningKey("ed25519");
    const v = t.repo.published("targets")!.signed.version;
    resign(t.dir, `${v}.targets.json`, (s) => ((s.targets as Record<string, unknown>)["evil.tar"] = { length: 1, hashes: { sha256: "00".repeat(32) }, custom: runtimeCustom("9.0.0") }), [evil]);
    // keep the snapshot's hash consistent so that the signature check is what fails
    const bytes = readFileSync(join(t.dir, "metadata", `${v}.targets.json`));
    const { createHash } = await import("node:crypto");
    resign(t.dir, "snapshot.json", (s) => ((s.meta as Record<string, unknown>)["targets.json"] = { version: v, length: bytes.length, hashes: { sha256: createHash("sha256").update(bytes).digest("hex") } }), [t.keys.snapshot]);
    const sv = t.repo.published("snapshot")!.signed.version;
    copyFileSync(join(t.dir, "metadata", "snapshot.json"), join(t.dir, "metadata", `${sv}.snapshot.json`));
    const sb = readFileSync(join(t.dir, "metadata", "snapshot.json"));
    resign(t.dir, "timestamp.json", (s) => ((s.meta as Record<string, unknown>)["snapshot.json"] = { version: sv, length: sb.length, hashes: { sha256: createHash("sha256").update(sb).digest("hex") } }), [t.keys.timestamp]);
    assert.is(fail(await t.client().refresh()).code, "E_OTA_SIGNATURE");
  } finally {
    t.cleanup();
  }
});

test("arbitrary installation: a target whose bytes were replaced fails its signed hash", async () => {
  const t = await makeRepo();
  try {
    await t.addTarget("a.tar", new Uint8Array([1, 2, 3, 4]), runtimeCustom("1.1.0"));
    const r = await t.client().refresh();
    assert.ok(r.ok);
    if (!r.ok) return;
    const file = r.value.trusted.targets.targets["a.tar"]!;
    const h = new TargetHasher("a.tar", file);
    h.update(new Uint8Array([1, 2, 3, 5]));
    const c = h.finish();
    assert.ok(!c.ok && c.code === "E_OTA_HASH");
    // and the honest bytes pass
    const ok = new TargetHasher("a.tar", file);
    ok.update(readFileSync(join(t.dir, targetPath(r.value.trusted.root, "a.tar", file.hashes.sha256!))));
    assert.ok(ok.finish().ok);
  } finally {
    t.cleanup();
  }
});

test("endless data: an oversized timestamp, and a snapshot longer than the timestamp says, are cut off", async () => {
  const t = await makeRepo();
  try {
    const big = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (p.endsWith("timestamp.json") ? new Uint8Array(1 << 20) : b));
    assert.is(fail(await t.client(undefined, [big]).refresh()).code, "E_OTA_TOO_LARGE");
    const padded = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (p.endsWith(".snapshot.json") && b ? new Uint8Array([...b, ...new Uint8Array(4096).fill(32)]) : b));
    assert.is(fail(await t.client(undefined, [padded]).refresh()).code, "E_OTA_TOO_LARGE");
    const h = new TargetHasher("x", { length: 3, hashes: { sha256: "00".repeat(32) } });
    assert.is(h.update(new Uint8Array(2)), true);
    assert.is(h.update(new Uint8Array(2)), false);
    const c = h.finish();
    assert.ok(!c.ok && c.code === "E_OTA_TOO_LARGE");
  } finally {
    t.cleanup();
  }
});

test("extraneous dependencies: only the one chosen target is fetched; 'dependencies' fields are ignored", async () => {
  const t = await makeRepo();
  try {
    await t.addTarget("ridge-1.1.0.tar", new Uint8Array([1]), { ...runtimeCustom("1.1.0"), dependencies: ["model.onnx", "other.tar"] } as never);
    await t.addTarget("model.onnx", new Uint8Array([2]), { kind: "model", version: "5.0.0", boards: ["sim"] });
    await t.addTarget("other.tar", new Uint8Array([3]), runtimeCustom("1.0.5", "rpi5", "arm64"));
    const rec = new TamperingFetcher(new DirectoryFetcher(t.dir), (_p, b) => b);
    const r = await t.client(undefined, [rec]).refresh();
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.ok(rec.requests.every((p) => p.startsWith("metadata/")), "refresh fetches metadata only");
    const s = selectUpdate(r.value.trusted.targets, dev);
    assert.ok(s.ok);
    assert.is(s.ok && s.value?.name, "ridge-1.1.0.tar");
  } finally {
    t.cleanup();
  }
});

test("fast-forward: a compromised timestamp key raises versions; rotating that key lets the client recover", async () => {
  const t = await makeRepo();
  try {
    const store = t.store();
    assert.ok((await t.client(store).refresh()).ok);
    const good = readFileSync(join(t.dir, "metadata", "timestamp.json"));
    // attacker with the timestamp key serves version 1000
    resign(t.dir, "timestamp.json", (s) => ((s.version as number) = 1000), [t.keys.timestamp]);
    assert.ok((await t.client(store).refresh()).ok, "a validly signed fast-forward is accepted at first");
    // the repository publishes its honest next timestamp: the client now sees a rollback
    writeFileSync(join(t.dir, "metadata", "timestamp.json"), good);
    t.repo.bump("timestamp");
    t.repo.sign(t.all());
    assert.is(fail(await t.client(store).refresh()).code, "E_OTA_ROLLBACK");
    // recovery (§5.3.11): a new root with a new timestamp key makes the client forget the trusted timestamp
    const ts2 = generateSigningKey("ed25519");
    t.repo.rotateRoot({ root: { keys: t.keys.root.map((k) => k.key), threshold: 1 }, timestamp: { keys: [ts2.key], threshold: 1 } });
    t.repo.sign(t.keys.root);
    t.repo.bump("timestamp");
    t.repo.sign([ts2]);
    const r = await t.client(store).refresh();
    assert.ok(r.ok, JSON.stringify(r));
    assert.is(r.ok && r.value.rootRotations, 1);
  } finally {
    t.cleanup();
  }
});

test("indefinite freeze: the same metadata served past its expiry is refused (timestamp, and root)", async () => {
  const t = await makeRepo();
  try {
    const store = t.store();
    assert.ok((await t.client(store).refresh()).ok);
    await t.clock.advance(2 * 86_400_000); // timestamp lives 1 day
    const r = fail(await t.client(store).refresh());
    assert.is(r.code, "E_OTA_EXPIRED");
    // a fresh timestamp but an expired snapshot kept from an earlier cycle (python-tuf #322)
    t.repo.bump("timestamp");
    t.repo.sign(t.all());
    await t.clock.advance(6 * 86_400_000);
    t.repo.bump("timestamp");
    t.repo.sign(t.all());
    assert.is(fail(await t.client(store).refresh()).code, "E_OTA_EXPIRED");
    await t.clock.advance(400 * 86_400_000);
    const rr = await t.client(store).refresh();
    assert.ok(!rr.ok && rr.code === "E_OTA_EXPIRED" && rr.role === "root");
  } finally {
    t.cleanup();
  }
});

test("malicious mirrors: a mirror serving tampered or no metadata does not block a good mirror", async () => {
  const t = await makeRepo();
  try {
    const dir = new DirectoryFetcher(t.dir);
    const bad = new TamperingFetcher(dir, (p, b) => (p.endsWith("timestamp.json") && b ? new Uint8Array(Buffer.from(Buffer.from(b).toString().replace('"version":1', '"version":7'))) : b));
    const empty = new TamperingFetcher(dir, () => undefined);
    const r = await t.client(undefined, [bad, empty, dir]).refresh();
    assert.ok(r.ok, JSON.stringify(r));
    assert.is(fail(await t.client(undefined, [bad]).refresh()).code, "E_OTA_SIGNATURE");
  } finally {
    t.cleanup();
  }
});

test("mix-and-match: a snapshot that does not match the timestamp's hash, or a targets of another version", async () => {
  const t = await makeRepo();
  try {
    await t.addTarget("a.tar", new Uint8Array([1]), runtimeCustom("1.1.0"));
    const oldSnap = readFileSync(join(t.dir, "metadata", "2.snapshot.json"));
    await t.addTarget("b.tar", new Uint8Array([2]), runtimeCustom("1.2.0"));
    // serve the old (validly signed) snapshot under the new name
    const mix = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (p === "metadata/3.snapshot.json" ? oldSnap : b));
    assert.is(fail(await t.client(undefined, [mix]).refresh()).code, "E_OTA_HASH");
    // a targets file whose version is not the snapshot's (hash left out so the version check decides)
    const t2 = await makeRepo();
    try {
      await t2.addTarget("a.tar", new Uint8Array([1]), runtimeCustom("1.1.0"));
      const v2 = readFileSync(join(t2.dir, "metadata", "2.targets.json"));
      resign(t2.dir, "snapshot.json", (s) => ((s.meta as Record<string, unknown>)["targets.json"] = { version: 1 }), [t2.keys.snapshot]);
      writeFileSync(join(t2.dir, "metadata", "1.targets.json"), v2);
      const sv = t2.repo.published("snapshot")!.signed.version;
      copyFileSync(join(t2.dir, "metadata", "snapshot.json"), join(t2.dir, "metadata", `${sv}.snapshot.json`));
      const sb = readFileSync(join(t2.dir, "metadata", "snapshot.json"));
      resign(t2.dir, "timestamp.json", (s) => ((s.meta as Record<string, unknown>)["snapshot.json"] = { version: sv, length: sb.length }), [t2.keys.timestamp]);
      assert.is(fail(await t2.client().refresh()).code, "E_OTA_VERSION_MISMATCH");
    } finally {
      t2.cleanup();
    }
  } finally {
    t.cleanup();
  }
});

test("rollback: older timestamp, a snapshot in which targets goes back, a root file holding another version", async () => {
  const t = await makeRepo();
  try {
    const store = t.store();
    await t.addTarget("a.tar", new Uint8Array([1]), runtimeCustom("1.1.0"));
    const ts2 = readFileSync(join(t.dir, "metadata", "timestamp.json"));
    assert.ok((await t.client(store).refresh()).ok);
    await t.addTarget("b.tar", new Uint8Array([2]), runtimeCustom("1.2.0"));
    assert.ok((await t.client(store).refresh()).ok);
    writeFileSync(join(t.dir, "metadata", "timestamp.json"), ts2);
    assert.is(fail(await t.client(store).refresh()).code, "E_OTA_ROLLBACK");
    // timestamp grows but names a snapshot whose targets went back
    const t3 = await makeRepo();
    try {
      const s3 = t3.store();
      await t3.addTarget("a.tar", new Uint8Array([1]), runtimeCustom("1.1.0"));
      assert.ok((await t3.client(s3).refresh()).ok);
      t3.repo.bump("snapshot");
      t3.repo.sign(t3.all());
      const sv = t3.repo.published("snapshot")!.signed.version;
      resign(t3.dir, `${sv}.snapshot.json`, (s) => ((s.meta as Record<string, unknown>)["targets.json"] = { version: 1 }), [t3.keys.snapshot]);
      resign(t3.dir, "timestamp.json", (s) => ((s.meta as Record<string, unknown>)["snapshot.json"] = { version: sv }), [t3.keys.timestamp]);
      assert.is(fail(await t3.client(s3).refresh()).code, "E_OTA_ROLLBACK");
    } finally {
      t3.cleanup();
    }
    // a root file N+1 that holds version N+2
    const t4 = await makeRepo();
    try {
      t4.repo.rotateRoot({ root: { keys: t4.keys.root.map((k) => k.key), threshold: 1 } });
      t4.repo.sign(t4.keys.root);
      resign(t4.dir, "2.root.json", (s) => ((s.version as number) = 3), t4.keys.root);
      assert.is(fail(await t4.client().refresh()).code, "E_OTA_ROLLBACK");
    } finally {
      t4.cleanup();
    }
  } finally {
    t.cleanup();
  }
});

test("key compromise below threshold: 1 of a 2-of-3 root cannot rotate the root, even listing its key id twice", async () => {
  const t = await makeRepo({ rootKeys: 3, rootThreshold: 2 });
  try {
    const attacker = t.keys.root[0]!;
    const evil = generateSigningKey("ed25519");
    const cur = t.repo.published("root")!.signed;
    const signed = { ...cur, version: 2, keys: { ...cur.keys, [evil.keyid]: evil.key }, roles: { ...cur.roles, root: { keyids: [attacker.keyid, evil.keyid], threshold: 1 } } };
    const s1 = signSigned(attacker, signed);
    writeFileSync(join(t.dir, "metadata", "2.root.json"), JSON.stringify({ signed, signatures: [s1, s1, signSigned(evil, signed)] }));
    assert.is(fail(await t.client().refresh()).code, "E_OTA_SIGNATURE");
    // with two of three it goes through
    t.repo.rotateRoot({ root: { keys: t.keys.root.map((k) => k.key), threshold: 2 } });
    rmSync(join(t.dir, "metadata", "2.root.json"));
    const rep = t.repo.sign([t.keys.root[1]!]);
    assert.ok(rep.waiting.root, "one signature is not enough to publish");
    t.repo.sign([t.keys.root[2]!]);
    const r = await t.client().refresh();
    assert.ok(r.ok && r.value.rootRotations === 1, JSON.stringify(r));
  } finally {
    t.cleanup();
  }
});

test("wrong software: targets for another board or arch are never chosen, and refused by name", async () => {
  const t = await makeRepo();
  try {
    await t.addTarget("rpi.tar", new Uint8Array([1]), runtimeCustom("2.0.0", "rpi5", "arm64"));
    await t.addTarget("sim-arm.tar", new Uint8Array([1]), runtimeCustom("2.0.0", "sim", "arm64"));
    const r = await t.client().refresh();
    assert.ok(r.ok);
    if (!r.ok) return;
    const s = selectUpdate(r.value.trusted.targets, dev);
    assert.ok(s.ok && s.value === undefined);
    const n = requireTarget(r.value.trusted.targets, "rpi.tar", dev);
    assert.ok(!n.ok && n.code === "E_OTA_WRONG_BOARD");
    const a = requireTarget(r.value.trusted.targets, "sim-arm.tar", dev);
    assert.ok(!a.ok && a.code === "E_OTA_WRONG_BOARD");
    const u = requireTarget(r.value.trusted.targets, "nope.tar", dev);
    assert.ok(!u.ok && u.code === "E_OTA_TARGET_UNKNOWN");
    // below the anti-rollback floor
    const floor = requireTarget(r.value.trusted.targets, "rpi.tar", { ...dev, board: "rpi5", arch: "arm64", minVersion: "3.0.0" });
    assert.ok(!floor.ok && floor.code === "E_OTA_ROLLBACK");
  } finally {
    t.cleanup();
  }
});

test("hostile bytes: truncated metadata, unknown signature algorithm, floats, not JSON", async () => {
  const t = await makeRepo();
  try {
    const trunc = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (p.endsWith("timestamp.json") && b ? b.slice(0, b.length - 9) : b));
    assert.is(fail(await t.client(undefined, [trunc]).refresh()).code, "E_OTA_PARSE");
    const floats = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (p.endsWith("timestamp.json") && b ? new Uint8Array(Buffer.from(Buffer.from(b).toString().replace('"version":1', '"version":1.5'))) : b));
    assert.is(fail(await t.client(undefined, [floats]).refresh()).code, "E_OTA_JSON_NUMBER");
    // a root v2 whose only key is of an algorithm nobody knows
    const cur = t.repo.published("root")!.signed;
    const weird = { keytype: "rsa", scheme: "rsassa-pss-sha256", keyval: { public: "-----BEGIN PUBLIC KEY-----" } };
    const signed = { ...cur, version: 2, keys: { ...cur.keys, abc: weird }, roles: { ...cur.roles, root: { keyids: ["abc"], threshold: 1 } } };
    writeFileSync(join(t.dir, "metadata", "2.root.json"), JSON.stringify({ signed, signatures: [signSigned(t.keys.root[0]!, signed), { keyid: "abc", sig: "00" }] }));
    assert.is(fail(await t.client().refresh()).code, "E_OTA_SIGNATURE");
    writeFileSync(join(t.dir, "metadata", "2.root.json"), "\u0000\u0001garbage");
    assert.is(fail(await t.client().refresh()).code, "E_OTA_PARSE");
  } finally {
    t.cleanup();
  }
});

test("an error mid-cycle leaves the device's trusted metadata usable (next cycle succeeds)", async () => {
  const t = await makeRepo();
  try {
    const store = t.store();
    const broken = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (p.includes("targets.json") ? new Uint8Array([1]) : b));
    assert.not.ok((await t.client(store, [broken]).refresh()).ok);
    assert.ok((await t.client(store).refresh()).ok);
  } finally {
    t.cleanup();
  }
});

for (const alg of ["ecdsa-p256-sha256", "sm2-sm3"] as const) {
  test(`${alg}: a repository signed with ${alg} keys refreshes; a flipped signature bit is refused`, async () => {
    const t = await makeRepo({ alg });
    try {
      await t.addTarget("a.tar", new Uint8Array([1]), runtimeCustom("1.1.0"));
      assert.ok((await t.client().refresh()).ok);
      const p = join(t.dir, "metadata", "timestamp.json");
      const doc = JSON.parse(readFileSync(p, "utf8")) as { signatures: { sig: string }[] };
      const s = doc.signatures[0]!;
      s.sig = s.sig.slice(0, 20) + (s.sig[20] === "0" ? "1" : "0") + s.sig.slice(21);
      writeFileSync(p, JSON.stringify(doc));
      const store = t.store();
      assert.is(fail(await t.client(store).refresh()).code, "E_OTA_SIGNATURE");
    } finally {
      t.cleanup();
    }
  });
}

test.run();
