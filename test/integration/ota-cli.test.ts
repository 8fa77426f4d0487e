// `ridge ota …` as a publisher and an operator use it (real child processes): keys, a 2-of-2
// root signed in two sittings, adding a runtime, offline install from the repository directory,
// status, timestamp refresh, root rotation, and the error codes and exit statuses of misuse.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readMarker } from "../../ota/slot-marker.js";
import { runtimeBundle } from "../helpers/ota-device.js";
import { tempDir } from "../../peers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function ridge(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "runtime/cli/entry.ts"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("publish with ridge ota, install offline from the directory, read the status", async () => {
  const t = tempDir("ridge-ota-cli-");
  const k = (n: string) => join(t.dir, n);
  try {
    for (const [alg, name] of [["ed25519", "root1"], ["ed25519", "root2"], ["p256", "online"], ["sm2", "ts"]]) {
      const r = ridge("ota", "keygen", "--alg", alg!, "--out", k(name!));
      assert.is(r.code, 0, r.out);
    }
    assert.is(statSync(k("root1")).mode & 0o777, 0o600);
    const again = ridge("ota", "keygen", "--alg", "ed25519", "--out", k("root1"));
    assert.is(again.code, 2);
    assert.match(again.out, /E_OTA_KEY_EXISTS/);

    const repo = k("repo");
    const init = ridge("ota", "init-repo", repo, "--root-keys", `${k("root1.pub")},${k("root2.pub")}`, "--threshold", "2", "--targets-keys", k("online.pub"), "--snapshot-keys", k("online.pub"), "--timestamp-keys", k("ts.pub"), "--key", k("root1"));
    assert.is(init.code, 0, init.out);
    assert.match(init.out, /waiting for signatures: root \(1\/2/);
    const second = ridge("ota", "sign", repo, "--key", k("root2"), "--key", k("online"), "--key", k("ts"));
    assert.match(second.out, /published: root, targets, snapshot, timestamp/);

    const bundle = await runtimeBundle(t.dir, "1.1.0", "ok");
    // a bundle whose manifest says another version (or board) than the flags is never published
    for (const flags of [["--version", "1.2.0", "--board", "sim"], ["--version", "1.1.0", "--board", "rpi5"]]) {
      const bad = ridge("ota", "add", repo, bundle, "--kind", "runtime", ...flags, "--key", k("online"), "--key", k("ts"));
      assert.is(bad.code, 1, bad.out);
      assert.match(bad.out, /E_OTA_BUNDLE_MANIFEST: .*ridge-bundle\.json says (version 1\.1\.0, not 1\.2\.0|board sim, not rpi5).*; every device would refuse it/);
    }
    const add = ridge("ota", "add", repo, bundle, "--kind", "runtime", "--version", "1.1.0", "--board", "sim", "--key", k("online"), "--key", k("ts"));
    assert.is(add.code, 0, add.out);
    assert.match(add.out, /published: targets, snapshot, timestamp/);
    assert.match(add.out, /staged runtime-sim-1\.1\.0\.tar: \d+ bytes, sha256 [0-9a-f]{64}, \d+ chunks/);

    const data = k("data");
    const inst = ridge("ota", "install", repo, "--board", "sim", "--data", data, "--root", join(repo, "metadata", "1.root.json"));
    assert.is(inst.code, 0, inst.out);
    assert.match(inst.out, /installed runtime-sim-1\.1\.0\.tar \(1\.1\.0\) into slot b/);
    // on a pipe: progress lines (not a bar), ending "done"; a chunk-indexed target (ridge ota add's
    // default) is streamed, verified piece by piece, straight into the slot: one pass, no unpack phase
    assert.match(inst.out, /^download 100% [\d.]+\/[\d.]+ MiB at [\d.]+ MiB\/s, done$/m);
    assert.not.match(inst.out, /^unpack /m);
    assert.not.match(inst.out, /\r/);
    assert.is(readMarker(join(data, "slots", "b"))?.version, "1.1.0");
    const st = ridge("ota", "status", "--board", "sim", "--data", data, "--json");
    assert.is((JSON.parse(st.out) as { state: { s: string } }).state.s, "pending");

    // a fresh timestamp, then a root rotation to a single new key (old 2-of-2 and new 1-of-1)
    const bump = ridge("ota", "sign", repo, "--role", "timestamp", "--bump", "--key", k("ts"));
    assert.match(bump.out, /published: timestamp/);
    assert.is(ridge("ota", "keygen", "--alg", "ed25519", "--out", k("root3")).code, 0);
    const rot = ridge("ota", "rotate-root", repo, "--root-keys", k("root3.pub"), "--threshold", "1", "--key", k("root1"), "--key", k("root3"));
    assert.match(rot.out, /waiting for signatures: root \(1\/2 of root v1, 1\/1 of root v2\)/);
    assert.match(ridge("ota", "sign", repo, "--role", "root", "--key", k("root2")).out, /published: root/);
    assert.ok(existsSync(join(repo, "metadata", "2.root.json")));
    assert.is((JSON.parse(readFileSync(join(repo, "metadata", "root.json"), "utf8")) as { signed: { version: number } }).signed.version, 2);
  } finally {
    t.cleanup();
  }
});

test("misuse: unknown subcommand, missing arguments, a tampered repository on install (exit codes, error codes)", async () => {
  const t = tempDir("ridge-ota-cli-");
  try {
    assert.is(ridge("ota", "nope").code, 64);
    assert.is(ridge("ota", "add").code, 64);
    assert.is(ridge("ota", "keygen", "--help").code, 0);
    assert.is(ridge("boot", "--help").code, 0);
    const bad = ridge("ota", "install", join(t.dir, "nothing"), "--board", "sim", "--data", join(t.dir, "d"));
    assert.is(bad.code, 2);
    assert.match(bad.out, /E_OTA_NO_ROOT/);
  } finally {
    t.cleanup();
  }
});

test.run();
