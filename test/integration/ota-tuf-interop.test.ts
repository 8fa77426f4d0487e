// Interop with an independent TUF implementation: tuf-js (the client the npm CLI relies on)
// reads a repository made by Ridgeline's publisher over loopback HTTP (Ed25519 and ECDSA P-256
// keys, root rotation included) and refuses tampered variants; Ridgeline's client reads a
// repository written through @tufjs/models (@tufjs/repo-mock's generator). SM2 is ours only.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { Updater } from "tuf-js";
import { HttpFetcher } from "../../ota/repo-fetchers.js";
import { MemoryMetadataStore, TufClient, targetPath } from "../../ota/tuf-client.js";
import { TargetHasher } from "../../ota/target-hasher.js";
import { generateSigningKey } from "../../ota/tuf-keys.js";
import { FakeClock } from "../../core/clock.js";
import { makeRepo, resign, runtimeCustom, type TestRepo } from "../helpers/ota-repo.js";
import { serveRepo } from "../helpers/ota-http.js";
import { tempDir } from "../../peers/process.js";

const require = createRequire(import.meta.url);

async function tufJs(t: TestRepo, url: string, name: string): Promise<Buffer> {
  const tmp = tempDir("ridge-tufjs-");
  try {
    const metadataDir = join(tmp.dir, "meta");
    mkdirSync(metadataDir);
    writeFileSync(join(metadataDir, "root.json"), t.rootV1);
    const u = new Updater({ metadataDir, metadataBaseUrl: `${url}metadata`, targetBaseUrl: `${url}targets`, targetDir: join(tmp.dir, "t"), config: { fetchRetries: 0, fetchRetry: 0 } });
    await u.refresh();
    const info = await u.getTargetInfo(name);
    if (!info) throw new Error(`tuf-js: no target ${name}`);
    const out = join(tmp.dir, "download.bin");
    mkdirSync(join(tmp.dir, "t"), { recursive: true });
    await u.downloadTarget(info, out);
    return readFileSync(out);
  } finally {
    tmp.cleanup();
  }
}

async function rejects(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).constructor.name;
  }
  throw new Error("tuf-js accepted a tampered repository");
}

for (const alg of ["ed25519", "ecdsa-p256-sha256"] as const) {
  test(`tuf-js reads a ridge ota repository signed with ${alg}, across a root rotation`, async () => {
    const t = await makeRepo({ alg, now: Date.now() });
    const srv = await serveRepo(t.dir);
    try {
      const payload = Buffer.from("runtime bundle bytes ".repeat(1000));
      await t.addTarget("ridge-1.1.0.tar", payload, runtimeCustom("1.1.0"));
      assert.equal(await tufJs(t, srv.url, "ridge-1.1.0.tar"), payload);
      // rotate the root to a new key (signed by old and new), then publish more
      const newRoot = generateSigningKey(alg);
      t.repo.rotateRoot({ root: { keys: [newRoot.key], threshold: 1 } });
      const rep = t.repo.sign([...t.keys.root, newRoot], "root");
      assert.ok(rep.published.includes("root"));
      await t.addTarget("ridge-1.2.0.tar", Buffer.from("v1.2.0"), runtimeCustom("1.2.0"));
      assert.equal(await tufJs(t, srv.url, "ridge-1.2.0.tar"), Buffer.from("v1.2.0"));
    } finally {
      await srv.close();
      t.cleanup();
    }
  });
}

test("tuf-js refuses tampered variants: a bad targets signature, replaced target bytes, an expired timestamp", async () => {
  const t = await makeRepo({ now: Date.now() });
  const srv = await serveRepo(t.dir);
  try {
    await t.addTarget("a.tar", Buffer.from("good bytes"), runtimeCustom("1.1.0"));
    const v = t.repo.published("targets")!.signed.version;
    const file = join(t.dir, "metadata", `${v}.targets.json`);
    const good = readFileSync(file);
    // targets re-signed by a key the root does not trust
    resign(t.dir, `${v}.targets.json`, () => {}, [generateSigningKey("ed25519")]);
    await rejects(tufJs(t, srv.url, "a.tar"));
    writeFileSync(file, good);
    // replaced target bytes
    const sha = t.repo.published("targets")!.signed.targets["a.tar"]!.hashes.sha256!;
    const tf = join(t.dir, "targets", `${sha}.a.tar`);
    writeFileSync(tf, "evil bytes");
    await rejects(tufJs(t, srv.url, "a.tar"));
    writeFileSync(tf, "good bytes");
    assert.equal(await tufJs(t, srv.url, "a.tar"), Buffer.from("good bytes"));
    // expired timestamp (re-signed validly, expiry in the past)
    resign(t.dir, "timestamp.json", (s) => (s.expires = "2020-01-01T00:00:00Z"), [t.keys.timestamp]);
    await rejects(tufJs(t, srv.url, "a.tar"));
  } finally {
    await srv.close();
    t.cleanup();
  }
});

test("Ridgeline's client reads a repository written through @tufjs/models (repo-mock's generator)", async () => {
  const { initializeTUFRepo, tufHandlers } = require("@tufjs/repo-mock") as typeof import("@tufjs/repo-mock");
  const content = Buffer.from("artifact from an independent publisher");
  const repo = initializeTUFRepo([{ name: "model.onnx", content }]);
  const tmp = tempDir("ridge-tufjs-repo-");
  const srvDir = join(tmp.dir, "repo");
  for (const h of tufHandlers(repo, {})) {
    const r = h.fn();
    if (r.statusCode !== 200) continue;
    const p = join(srvDir, h.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, r.response);
  }
  copyFileSync(join(srvDir, "metadata", "1.root.json"), join(srvDir, "metadata", "root.json"));
  const srv = await serveRepo(srvDir);
  try {
    const rootBytes = new Uint8Array(Buffer.from(JSON.stringify(repo.rootMeta.toJSON())));
    const client = new TufClient(new MemoryMetadataStore(rootBytes), [new HttpFetcher(srv.url)], new FakeClock(Date.now()));
    const r = await client.refresh();
    assert.ok(r.ok, JSON.stringify(r));
    if (!r.ok) return;
    const f = r.value.trusted.targets.targets["model.onnx"]!;
    assert.ok(f);
    const bytes = readFileSync(join(srvDir, targetPath(r.value.trusted.root, "model.onnx", f.hashes.sha256!)));
    const h = new TargetHasher("model.onnx", f);
    h.update(bytes);
    assert.ok(h.finish().ok);
    // and the same repository with a byte of targets.json changed is refused
    const tj = join(srvDir, "metadata", "targets.json");
    const doc = JSON.parse(readFileSync(tj, "utf8")) as { signed: { expires: string } };
    doc.signed.expires = "2099-01-01T00:00:00Z";
    writeFileSync(tj, JSON.stringify(doc));
    const r2 = await new TufClient(new MemoryMetadataStore(rootBytes), [new HttpFetcher(srv.url)], new FakeClock(Date.now())).refresh();
    assert.ok(!r2.ok && (r2.code === "E_OTA_SIGNATURE" || r2.code === "E_OTA_HASH" || r2.code === "E_OTA_LENGTH"), JSON.stringify(r2));
  } finally {
    await srv.close();
    tmp.cleanup();
  }
});

test.run();
