// A bad version is never retried in a loop (issue 16 item 7). A runtime that crashes at every
// start, one that fails its health check, one that refuses the config, and a bundle refused after
// its signed hashes matched: each is recorded (name + sha256) and never downloaded again, through
// the real launcher and through restarts, until the repository publishes something different.
// Failures of the way there (a mirror that served too few bytes) are retried.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { makeDevice, type Behaviour } from "../helpers/ota-device.js";
import { serveRepo } from "../helpers/ota-http.js";
import { bootOnce, journal, published } from "../helpers/ota-launch.js";
import { fetcherFor } from "../../ota/repo-fetchers.js";
import { UpdateStore } from "../../ota/update-store.js";
import { writeBundle } from "../../ota/bundle-writer.js";
import { ARCH } from "../helpers/ota-device.js";
import Database from "better-sqlite3";
import type { UpdateState } from "../../ota/update-machine.js";
import { writeFileSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** `ridge ota status` as a person runs it (no RIDGE_SLOT: not started by the launcher). */
function otaStatus(dataDir: string): string {
  const env = { ...process.env };
  delete env.RIDGE_SLOT;
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "runtime/cli/entry.ts"), "ota", "status", "--board", "sim", "--data", dataDir], { cwd: ROOT, encoding: "utf8", timeout: 60_000, env });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

const targetGets = (reqs: { path: string }[]) => reqs.filter((r) => r.path.includes("/targets/") && r.path.endsWith(".tar")).length;

function failedRows(dataDir: string) {
  const db = new Database(join(dataDir, "ridgeline.db"), { readonly: true });
  try {
    return new UpdateStore(db).failedTargets();
  } finally {
    db.close();
  }
}

for (const [behaviour, code] of [
  ["crash", "E_OTA_BOOT_FAILED"],
  ["unhealthy", "E_OTA_HEALTH"],
  ["bad-config", "E_OTA_CONFIG_REFUSED"],
] as [Behaviour, string][]) {
  test(`real launcher: a runtime that ${behaviour === "crash" ? "crashes at start" : behaviour === "unhealthy" ? "fails its health check" : "refuses the config"} rolls back once; more polls (each a restart of the old slot) download nothing and never start slot b again`, async () => {
    const d = await makeDevice();
    const srv = await serveRepo(d.repo.dir);
    try {
      await d.publish("1.1.0", behaviour);
      const first = await bootOnce(d.dataDir, { OTA_TEST_REPO: srv.url });
      assert.is(first.code, 0, first.output);
      const startsOfB = () => journal(d.dataDir).filter((l) => l.startsWith("start slot=b")).length;
      const bStarts = startsOfB();
      assert.ok(bStarts >= 1, journal(d.dataDir).join("\n"));
      assert.is(targetGets(srv.requests), 1);
      const rows = failedRows(d.dataDir);
      assert.is(rows.length, 1);
      assert.is(rows[0]!.version, "1.1.0");
      assert.is(rows[0]!.code, code);
      // two more boots of the old slot, each polling once (the restart a power cut gives, too)
      for (let i = 0; i < 2; i++) {
        rmSync(join(d.dataDir, "checked"), { force: true });
        const r = await bootOnce(d.dataDir, { OTA_TEST_REPO: srv.url });
        assert.is(r.code, 0, r.output);
      }
      assert.is(startsOfB(), bStarts, "slot b never started again");
      assert.is(targetGets(srv.requests), 1, "the bad target was downloaded once");
      // the cloud heard the rollback once, with its reason; later polls report idle, not another rollback
      const pubs = published(d.dataDir);
      assert.is(pubs.filter((p) => p.s === "rolled-back").length, 1);
      assert.is(pubs.find((p) => p.s === "rolled-back")!.code, code);
      // a fixed build of the same version (different hashes) installs
      await d.publish("1.1.0", "ok");
      rmSync(join(d.dataDir, "checked"), { force: true });
      const fixed = await bootOnce(d.dataDir, { OTA_TEST_REPO: srv.url });
      assert.is(fixed.code, 0, fixed.output);
      assert.is(targetGets(srv.requests), 2);
      assert.match(journal(d.dataDir).filter((l) => l.startsWith("start ")).pop()!, /slot=b version=1\.1\.0 behaviour=ok/);
    } finally {
      await srv.close();
      d.cleanup();
    }
  });
}

test("in process: a rolled-back target is skipped by later checks and refused by name (E_OTA_TARGET_FAILED), across a reopen; a newer version installs", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    const mirrors = [fetcherFor(srv.url)];
    const name = await d.publish("1.1.0", "ok");
    let a = d.agent({ booted: "a", mirrors });
    await a.check("poll");
    assert.is(a.state().s, "pending");
    // right after the install the old slot still runs (the boot order already names b first)
    let out = otaStatus(d.dataDir);
    assert.match(out, /^active slot: a, running 1\.0\.0,/m, out);
    assert.match(out, /^pending: slot b, version 1\.1\.0, boot attempts left 3$/m, out);
    // the new slot never came up: the launcher booted a again after its attempts
    writeFileSync(d.bootFile, JSON.stringify({ order: ["a", "b"], left: { a: 3, b: 0 } }));
    a = d.agent({ booted: "a", mirrors });
    await a.boot();
    assert.is(a.state().s, "rolled-back");
    out = otaStatus(d.dataDir);
    assert.match(out, /^active slot: a, running 1\.0\.0,/m, out);
    assert.match(out, /^last failure: \S+ rolled-back 1\.1\.0: E_OTA_BOOT_FAILED slot b did not start/m, out);
    assert.match(out, /^never again: runtime-sim-1\.1\.0\.tar 1\.1\.0 \(sha256 [0-9a-f]{12}…\) failed \S+  E_OTA_BOOT_FAILED/m, out);
    const before = targetGets(srv.requests);
    for (let i = 0; i < 3; i++) {
      await a.check("poll");
      assert.is(a.state().s, "idle");
    }
    assert.is(targetGets(srv.requests), before, "nothing downloaded");
    const states: UpdateState[] = [];
    a = d.agent({ booted: "a", mirrors, states });
    await a.check("local", { target: name });
    const st = a.state();
    assert.is(st.s, "failed");
    assert.is(st.s === "failed" && st.code, "E_OTA_TARGET_FAILED");
    assert.match(st.s === "failed" ? st.reason : "", /runtime-sim-1\.1\.0\.tar 1\.1\.0 failed here on .*E_OTA_BOOT_FAILED/);
    assert.is(a.status().failed.length, 1);
    assert.is(targetGets(srv.requests), before);
    // a newer version is a different target: it installs
    await d.publish("1.2.0", "ok");
    await a.check("poll");
    assert.is(a.state().s, "pending");
    assert.is(targetGets(srv.requests), before + 1);
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test("a bundle refused after its hashes matched is remembered; a mirror that cut the download is not", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    const mirrors = [fetcherFor(srv.url)];
    // a signed bundle for another board: verified, then refused at install
    const src = join(d.dataDir, "..", "wrong");
    mkdirSync(join(src, "dist"), { recursive: true });
    writeFileSync(join(src, "dist", "ridge.mjs"), "export {};\n");
    const out = join(d.dataDir, "..", "wrong.tar");
    await writeBundle(out, { kind: "runtime", version: "1.1.0", board: "pi5", arch: ARCH, entry: "dist/ridge.mjs", files: new Map([["dist/ridge.mjs", join(src, "dist", "ridge.mjs")]]) });
    await d.repo.repo.addTarget(out, "runtime-sim-1.1.0.tar", { kind: "runtime", version: "1.1.0", boards: ["sim"], arch: [ARCH] });
    d.repo.repo.sign(d.repo.all());
    const a = d.agent({ booted: "a", mirrors });
    await a.check("poll");
    const st = a.state();
    assert.is(st.s, "failed");
    assert.is(st.s === "failed" && st.code, "E_OTA_WRONG_BOARD");
    assert.is(a.status().failed.length, 1);
    assert.equal(existsSync(join(d.dataDir, "ota", "download")) ? readdirSync(join(d.dataDir, "ota", "download")).filter((f) => f.endsWith(".part")) : [], [], "no .part left");
    const n = targetGets(srv.requests);
    await a.check("poll");
    assert.is(a.state().s, "idle");
    assert.is(targetGets(srv.requests), n);
    // a download that fails on the way (the mirror is gone) is not the target's fault
    const b = d.agent({ booted: "a", mirrors: [fetcherFor("http://127.0.0.1:1")] });
    await b.check("poll");
    assert.is(b.status().failed.length, 1, "only the refused bundle is remembered");
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test.run();
