// Flashing refuses, before writing anything, what would give a device that cannot boot: native
// code for the wrong CPU, missing target artifacts (addons, Node) for arm64 and riscv64, a bad root, an
// unreadable identity key (never replaced).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadBoard } from "../../boards/index.js";
import { crossAddonDir, deviceLayout, flashDevice, type FlashOptions } from "../../flash/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { tempDir } from "../../peers/process.js";
import { repoRoot, ridge } from "../helpers/gateway.js";
import { RISCV64_BASE, ensureRiscv64Artifacts } from "../helpers/riscv64.js";

const tmp = tempDir("ridge-flash-fault-");
let n = 0;
const freshRoot = () => {
  const r = join(tmp.dir, `root-${n++}`);
  mkdirSync(r);
  return r;
};
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};
const flash = (o: Partial<FlashOptions> & { root: string; board: FlashOptions["board"] }) => flashDevice({ projectRoot: repoRoot, validate: validateGatewayConfig, ...o });
const bsqlVersion = (JSON.parse(readFileSync(join(repoRoot, "node_modules/better-sqlite3/package.json"), "utf8")) as { version: string }).version;

test.before(() => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
});
test.after(() => tmp.cleanup());

test("an x86-64 addon passed off as the arm64 build: E_FLASH_ELF_MISMATCH, nothing written", () => {
  const cache = join(tmp.dir, "cache-wrong");
  const dir = crossAddonDir(cache, "arm64", "better-sqlite3", bsqlVersion);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(repoRoot, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"), join(dir, "better_sqlite3.node"));
  const root = freshRoot();
  let err: unknown;
  try {
    flash({ root, board: loadBoard("generic-arm64"), cacheDir: cache, withNode: false });
  } catch (e) {
    err = e;
  }
  assert.is((err as { code?: string }).code, "E_FLASH_ELF_MISMATCH");
  assert.match(String((err as Error).message), /better_sqlite3\.node: x64 \(e_machine 0x3E\)/);
  assert.equal(readdirSync(root), []);
});

test("no arm64 build cached: E_FLASH_ARTIFACT_MISSING naming the fix, nothing written", () => {
  const root = freshRoot();
  let err: unknown;
  try {
    flash({ root, board: loadBoard("rpi5"), cacheDir: join(tmp.dir, "empty-cache"), withNode: false });
  } catch (e) {
    err = e;
  }
  assert.is((err as { code?: string }).code, "E_FLASH_ARTIFACT_MISSING");
  assert.match(String((err as Error).message), /scripts\/prepare-target\.mjs --arch arm64/);
  assert.is(codeOf(() => flash({ root, board: loadBoard("rpi5"), cacheDir: join(tmp.dir, "empty-cache"), withNode: true })), "E_FLASH_ARTIFACT_MISSING", "no node package either");
  assert.equal(readdirSync(root), []);
});

test("no riscv64 builds cached: E_FLASH_ARTIFACT_MISSING naming prepare-target --arch riscv64, with or without Node", () => {
  const root = freshRoot();
  for (const withNode of [true, false]) {
    let err: unknown;
    try {
      flash({ root, board: loadBoard("visionfive2"), cacheDir: join(tmp.dir, "empty-cache"), withNode });
    } catch (e) {
      err = e;
    }
    assert.is((err as { code?: string }).code, "E_FLASH_ARTIFACT_MISSING");
    assert.match(String((err as Error).message), /scripts\/prepare-target\.mjs --arch riscv64/);
  }
  assert.equal(readdirSync(root), []);
});

test("a riscv64 root whose glibc is older than the slot's Node needs: E_FLASH_BOARD_GLIBC, nothing written; a new enough one flashes", () => {
  ensureRiscv64Artifacts();
  const board = loadBoard("visionfive2");
  const old = freshRoot();
  mkdirSync(join(old, "usr/lib/riscv64-linux-gnu"), { recursive: true });
  writeFileSync(join(old, "usr/lib/riscv64-linux-gnu/libc.so.6"), Buffer.from("\x7fELF....\0GLIBC_2.27\0GLIBC_2.36\0GLIBC_PRIVATE\0"));
  symlinkSync("usr/lib", join(old, "lib"));
  const before = readdirSync(old).sort();
  assert.is(codeOf(() => flash({ root: old, board, withNode: true })), "E_FLASH_BOARD_GLIBC");
  assert.equal(readdirSync(old).sort(), before, "nothing written");
  // without Node in the slot the system's glibc does not matter
  flashDevice({ projectRoot: repoRoot, validate: validateGatewayConfig, root: old, board, withNode: false, dryRun: true });
  // Debian 13's own libc6 (the riscv64 test sysroot): 2.41
  const ok = freshRoot();
  mkdirSync(join(ok, "usr/lib/riscv64-linux-gnu"), { recursive: true });
  copyFileSync(join(RISCV64_BASE, "usr/lib/riscv64-linux-gnu/libc.so.6"), join(ok, "usr/lib/riscv64-linux-gnu/libc.so.6"));
  const { plan } = flashDevice({ projectRoot: repoRoot, validate: validateGatewayConfig, root: ok, board, withNode: true, dryRun: true });
  assert.ok(plan.slot.node?.glibc);
});

test("a root that is not a directory: E_FLASH_ROOT", () => {
  const f = join(tmp.dir, "a-file");
  writeFileSync(f, "");
  assert.is(codeOf(() => flash({ root: f, board: loadBoard("sim") })), "E_FLASH_ROOT");
  assert.is(codeOf(() => flash({ root: join(tmp.dir, "missing"), board: loadBoard("sim") })), "E_FLASH_ROOT");
});

test("an unreadable identity key is never replaced: E_FLASH_IDENTITY_KEY", () => {
  const board = loadBoard("sim");
  const root = freshRoot();
  const key = join(root, deviceLayout(board).identityKey);
  mkdirSync(join(key, ".."), { recursive: true });
  writeFileSync(key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
  assert.is(codeOf(() => flash({ root, board })), "E_FLASH_IDENTITY_KEY");
  assert.match(readFileSync(key, "utf8"), /not a key/);
});

test("CLI: unknown board exits 2, missing options exit 64, hostile OTA root exits 2", async () => {
  const root = freshRoot();
  const unknown = await ridge(["flash", "--board", "nosuch", "--root", root]);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /E_BOARD_UNKNOWN/);
  const usage = await ridge(["flash", "--board", "sim"]);
  assert.is(usage.code, 64);
  // a missing root folder is not an invalid config (2): exit 1, nothing made
  const missing = await ridge(["flash", "--board", "sim", "--root", join(tmp.dir, "no-such-root")]);
  assert.is(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /E_FLASH_ROOT/);
  const ota = join(tmp.dir, "root.json");
  writeFileSync(ota, "[1,2,3]");
  const bad = await ridge(["flash", "--board", "sim", "--root", root, "--ota-root", ota]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /E_FLASH_OTA_ROOT/);
  assert.equal(readdirSync(root), []);
  const help = await ridge(["flash", "--help"]);
  assert.is(help.code, 0);
  assert.match(help.stdout, /--dry-run/);
  const force = await ridge(["flash", "--force", "--help"]);
  assert.is(force.code, 0);
  assert.match(force.stdout, /--force +re-flash a provisioned device\. Kept: the identity and attestation keys, the data directory/);
  assert.match(force.stdout, /gateway\.yaml unless --config is given/);
  assert.match(force.stdout, /credentials not named again\. Rewritten:/);
  assert.match(force.stdout, /--project DIR/);
});

test.run();
