// tuf-spec §5.6.7, one test per rule: targets found through a delegated role whose paths cover
// them; a delegated role signed by the wrong key is refused; a role listing names outside its
// paths is not believed; cycles are skipped; the number of roles visited is capped; a
// terminating delegation stops the search; the first role in pre-order wins.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateSigningKey, signSigned, type SigningKey } from "../../ota/tuf-keys.js";
import { formatExpires, type TargetsSigned } from "../../ota/tuf-metadata.js";
import { pathMatches } from "../../ota/tuf-client.js";
import { makeRepo, resign, T0, type TestRepo } from "../helpers/ota-repo.js";

const file = (b: string) => ({ length: b.length, hashes: { sha256: createHash("sha256").update(b).digest("hex") } });
const role = (name: string, keys: SigningKey[], paths: string[], terminating = false) => ({ name, keyids: keys.map((k) => k.keyid), threshold: 1, terminating, paths });
const delegs = (keys: SigningKey[], roles: ReturnType<typeof role>[]) => ({ keys: Object.fromEntries(keys.map((k) => [k.keyid, k.key])), roles });

/** Write delegated roles (signed by `signers`) and the top-level delegations, then re-sign snapshot and timestamp. */
function publish(t: TestRepo, top: ReturnType<typeof delegs>, roles: { name: string; targets: Record<string, ReturnType<typeof file>>; delegations?: ReturnType<typeof delegs>; signers: SigningKey[] }[]) {
  const meta: Record<string, unknown> = {};
  for (const r of roles) {
    const signed: TargetsSigned = { _type: "targets", spec_version: "1.0.31", version: 1, expires: formatExpires(T0 + 86_400_000 * 30), targets: r.targets, ...(r.delegations ? { delegations: r.delegations as never } : {}) };
    const bytes = Buffer.from(JSON.stringify({ signed, signatures: r.signers.map((k) => signSigned(k, signed)) }));
    writeFileSync(join(t.dir, "metadata", `1.${r.name}.json`), bytes);
    meta[`${r.name}.json`] = { version: 1 };
  }
  const tv = t.repo.published("targets")!.signed.version;
  const tb = resign(t.dir, `${tv}.targets.json`, (s) => (s.delegations = top), [t.keys.targets]);
  const sv = t.repo.published("snapshot")!.signed.version;
  const sb = resign(t.dir, `${sv}.snapshot.json`, (s) => (s.meta = { ...(s.meta as object), ...meta, "targets.json": { version: tv, length: tb.length } }), [t.keys.snapshot]);
  copyFileSync(join(t.dir, "metadata", `${sv}.snapshot.json`), join(t.dir, "metadata", "snapshot.json"));
  resign(t.dir, "timestamp.json", (s) => (s.meta = { "snapshot.json": { version: sv, length: sb.length } }), [t.keys.timestamp]);
}

async function resolve(t: TestRepo) {
  const c = t.client();
  const r = await c.refresh();
  assert.ok(r.ok, JSON.stringify(r));
  if (!r.ok) throw new Error();
  return c.resolveTargets(r.value.trusted, r.value.startedAt);
}

test("path patterns: '*' within a segment, '?' one character", () => {
  assert.ok(pathMatches("runtime-1.2.tar", "runtime-*"));
  assert.not.ok(pathMatches("a/runtime-1.2.tar", "runtime-*"));
  assert.ok(pathMatches("models/x.onnx", "models/*.onnx"));
  assert.not.ok(pathMatches("models/x.onnx.bak", "models/*.onnx"));
  assert.ok(pathMatches("v1", "v?"));
});

test("a target found through a delegated role; names outside its paths are not believed", async () => {
  const t = await makeRepo();
  try {
    const d = generateSigningKey("ed25519");
    publish(t, delegs([d], [role("runtimes", [d], ["runtime-*"])]), [{ name: "runtimes", signers: [d], targets: { "runtime-2.0.tar": file("rt"), "model.onnx": file("evil") } }]);
    const r = await resolve(t);
    assert.ok(r.ok, JSON.stringify(r));
    if (!r.ok) return;
    assert.ok(r.value["runtime-2.0.tar"]);
    assert.is(r.value["model.onnx"], undefined, "outside the delegation's paths");
  } finally {
    t.cleanup();
  }
});

test("a delegated role signed by a key the delegator does not name is refused", async () => {
  const t = await makeRepo();
  try {
    const d = generateSigningKey("ed25519");
    const evil = generateSigningKey("ed25519");
    publish(t, delegs([d], [role("runtimes", [d], ["runtime-*"])]), [{ name: "runtimes", signers: [evil], targets: { "runtime-2.0.tar": file("rt") } }]);
    const r = await resolve(t);
    assert.ok(!r.ok && r.code === "E_OTA_SIGNATURE" && r.role === "runtimes", JSON.stringify(r));
  } finally {
    t.cleanup();
  }
});

test("cycles are skipped, and at most maxDelegations roles are visited", async () => {
  const t = await makeRepo();
  try {
    const d = generateSigningKey("ed25519");
    const back = delegs([d], [role("a", [d], ["*"]), role("b", [d], ["*"])]);
    publish(t, delegs([d], [role("a", [d], ["*"])]), [
      { name: "a", signers: [d], targets: {}, delegations: back },
      { name: "b", signers: [d], targets: { "deep.tar": file("x") }, delegations: back },
    ]);
    const r = await resolve(t);
    assert.ok(r.ok && r.value["deep.tar"], JSON.stringify(r));
    const { TufClient } = await import("../../ota/tuf-client.js");
    const { DirectoryFetcher } = await import("../../ota/repo-fetchers.js");
    const capped = new TufClient(t.store(), [new DirectoryFetcher(t.dir)], t.clock, { maxDelegations: 2 });
    const rr = await capped.refresh();
    assert.ok(rr.ok);
    if (!rr.ok) return;
    const c = await capped.resolveTargets(rr.value.trusted);
    assert.ok(c.ok && c.value["deep.tar"] === undefined, "the third role is never visited");
  } finally {
    t.cleanup();
  }
});

test("a terminating delegation stops the search; the first role in pre-order wins", async () => {
  const t = await makeRepo();
  try {
    const d1 = generateSigningKey("ed25519");
    const d2 = generateSigningKey("ed25519");
    publish(t, delegs([d1, d2], [role("first", [d1], ["app-*"], true), role("second", [d2], ["app-*"])]), [
      { name: "first", signers: [d1], targets: { "app-1.tar": file("one") } },
      { name: "second", signers: [d2], targets: { "app-1.tar": file("two"), "app-2.tar": file("two") } },
    ]);
    const r = await resolve(t);
    assert.ok(r.ok, JSON.stringify(r));
    if (!r.ok) return;
    assert.equal(r.value["app-1.tar"], file("one"));
    assert.is(r.value["app-2.tar"], undefined, "hidden behind the terminating delegation");
  } finally {
    t.cleanup();
  }
});

test.run();
