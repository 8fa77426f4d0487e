#!/usr/bin/env node
// Target-arch artifacts for `ridge flash` and `ridge ota bundle`, cached in .cache/ (ignored by git):
//
//   node scripts/prepare-target.mjs [--arch arm64|riscv64|x64] [--install-packages] [--check]
//
// Where each arch's Node.js comes from is data (flash/slot-contents.json, `node`):
//  - from "npm" (x64, arm64): the registry package node-linux-<arch> at the host's Node version
//    (`npm pack`), unpacked to .cache/node/node-linux-<arch>-<version>/ (bin/node, include/node).
//  - from "debian" (riscv64: there is no official build): Debian 13's `nodejs` and the libraries it
//    links, downloaded with apt-get under a PRIVATE configuration in .cache/debian/<arch>/apt (its own
//    sources.list, lists, status and archives: the host's /etc/apt and dpkg architecture list are
//    never touched), the archive being the host's configured Debian mirror (or RIDGE_DEBIAN_MIRROR),
//    signatures checked against debian-archive-keyring. The packages are unpacked with dpkg-deb -x and
//    .cache/node/<dir>/ is laid out as the slot carries it: bin/node (Debian's, its DT_RUNPATH turned
//    into a DT_RPATH so that $ORIGIN/../lib serves the libraries' own dependencies too), lib/ with
//    every library it needs except glibc's (the board's own), share/doc/<package>/copyright, and
//    ridge-node.json (version, NODE_MODULE_VERSION, the glibc it needs, the files).
//    .cache/debian/<arch>/base/ holds only glibc (libc6): the stand-in for the board's system that
//    the tests run the slot's Node on under qemu, so a library the slot lacks fails here.
// Native addons without a prebuild for the target (slot-contents.json `native.crossBuild`:
// better-sqlite3 everywhere but the host, @serialport/bindings-cpp for riscv64) are cross-compiled
// with Debian's g++-<triple> against Node's headers (the npm package's include/node, else the host
// Node's: the same NODE_MODULE_VERSION, checked), stripped, their ELF machine checked, into
// .cache/addons/linux-<arch>/<package>-<version>/<addon>.node; under qemu they are loaded once.
//
// Debian packages: g++-aarch64-linux-gnu / g++-riscv64-linux-gnu (compiler + sysroot),
// qemu-user-static (tests), debian-archive-keyring (riscv64), python3 and make (node-gyp).
// --install-packages installs the missing ones with apt-get (root). Concurrent runs (parallel test
// files) serialize on a lock directory per arch.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, closeSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const contents = JSON.parse(readFileSync(join(root, "flash/slot-contents.json"), "utf8"));
const args = process.argv.slice(2);
const arch = args.includes("--arch") ? args[args.indexOf("--arch") + 1] : "arm64";
const checkOnly = args.includes("--check");
const hostVersion = process.versions.node;
const cache = join(root, ".cache");
/** A path under .cache/ from slot-contents.json's `cache` templates (the slot builder, flash/runtime-slot.ts, reads the same ones). */
const cachePath = (template, vars) => join(cache, template.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? ""));

/** Per target arch: the ELF e_machine, node-gyp's arch name, the Debian packages the steps use. */
const TARGETS = {
  x64: { machine: 0x3e, gypArch: "x64", qemu: undefined, apt: [] },
  arm64: { machine: 0xb7, gypArch: "arm64", qemu: "qemu-aarch64-static", apt: ["g++-aarch64-linux-gnu", "qemu-user-static"] },
  riscv64: { machine: 0xf3, gypArch: "riscv64", qemu: "qemu-riscv64-static", apt: ["g++-riscv64-linux-gnu", "qemu-user-static", "debian-archive-keyring"] },
};
const target = TARGETS[arch];
const nodeSource = contents.node[arch];
if (!target || !nodeSource) die(`no target "${arch}": one of ${Object.keys(TARGETS).join(", ")}`);
const triple = nodeSource.triple;

function log(msg) {
  console.error(`[prepare ${arch}] ${msg}`);
}
function die(msg) {
  console.error(`[prepare ${arch ?? ""}] ${msg}`);
  process.exit(1);
}
function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) die(`${cmd} ${argv.join(" ")} failed (${r.status ?? r.signal ?? r.error?.message}):\n${(r.stdout ?? "").slice(-3000)}\n${(r.stderr ?? "").slice(-3000)}`);
  return r.stdout;
}
/** Seconds as people read them ("2 min 05 s"). */
function elapsed(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}
/**
 * run() for the steps that take minutes (a cross-compile): the same failure report, plus a line
 * every 30 s with the time so far and the compiler steps done (node-gyp's CXX/CC/LINK lines).
 */
function runWithProgress(what, cmd, argv, opts = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let out = "";
    let err = "";
    let steps = 0;
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], ...opts });
    const count = (d) => {
      const t = d.toString();
      steps += (t.match(/^\s*(CXX|CC|LINK|SOLINK_MODULE)\(target\)/gm) ?? []).length;
      return t;
    };
    child.stdout.on("data", (d) => (out = (out + count(d)).slice(-6000)));
    child.stderr.on("data", (d) => (err = (err + count(d)).slice(-6000)));
    const beat = setInterval(() => log(`${what}: ${elapsed(Date.now() - t0)} so far, ${steps} compile/link step${steps === 1 ? "" : "s"} done`), 30_000);
    child.on("close", (code, signal) => {
      clearInterval(beat);
      if (code !== 0) die(`${cmd} ${argv.join(" ")} failed (${code ?? signal}):\n${out.slice(-3000)}\n${err.slice(-3000)}`);
      resolve(out);
    });
  });
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

// ELF64 little-endian dynamic section (x86-64, aarch64, riscv64): DT_NEEDED names and the run paths.
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, RPATH: 15, RUNPATH: 29 };
/** Debian's libnode reads some builtins from here; rewritten to BUILTINS_VIA_FD (same length). */
const DEBIAN_BUILTINS = "/usr/share/nodejs/";
const BUILTINS_VIA_FD = "/proc/self/fd/250/"; // scripts/node-main.cc kBuiltinsFd
function elfDynamic(buf, file) {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) die(`${file}: not a 64-bit little-endian ELF file`);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const loads = [];
  let dyn;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = buf.readUInt32LE(o);
    const seg = { offset: Number(buf.readBigUInt64LE(o + 8)), vaddr: Number(buf.readBigUInt64LE(o + 16)), filesz: Number(buf.readBigUInt64LE(o + 32)) };
    if (type === 1) loads.push(seg);
    if (type === 2) dyn = seg;
  }
  if (!dyn) return { needed: [], rpath: undefined, runpath: undefined, entries: [] };
  const entries = [];
  for (let p = dyn.offset; p + 16 <= dyn.offset + dyn.filesz; p += 16) {
    const tag = Number(buf.readBigInt64LE(p));
    if (tag === DT.NULL) break;
    entries.push({ tag, val: Number(buf.readBigUInt64LE(p + 8)), at: p });
  }
  const strVaddr = entries.find((e) => e.tag === DT.STRTAB)?.val;
  const seg = loads.find((s) => strVaddr >= s.vaddr && strVaddr < s.vaddr + s.filesz);
  if (strVaddr === undefined || !seg) die(`${file}: no string table for its dynamic section`);
  const strOff = strVaddr - seg.vaddr + seg.offset;
  const str = (off) => buf.toString("latin1", strOff + off, buf.indexOf(0, strOff + off));
  const one = (tag) => {
    const e = entries.find((x) => x.tag === tag);
    return e ? str(e.val) : undefined;
  };
  return { needed: entries.filter((e) => e.tag === DT.NEEDED).map((e) => str(e.val)), rpath: one(DT.RPATH), runpath: one(DT.RUNPATH), entries };
}

/** The highest GLIBC_2.N[.M] symbol version a file references, as [N, M] (GNU version strings sit in .dynstr). */
function glibcNeeded(buf) {
  let best = [0, 0];
  for (const m of buf.toString("latin1").matchAll(/GLIBC_2\.(\d+)(?:\.(\d+))?\0/g)) {
    const v = [Number(m[1]), Number(m[2] ?? 0)];
    if (v[0] > best[0] || (v[0] === best[0] && v[1] > best[1])) best = v;
  }
  return best;
}

const pkgVersion = (dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;

/** Node.js for the target, as the slot carries it. */
const nodeDir = nodeSource.from === "npm" ? cachePath(contents.cache.npmNode, { package: nodeSource.package, version: hostVersion }) : cachePath(contents.cache.debianNode, { dir: nodeSource.dir });
const debianWork = join(cache, "debian", arch);
const baseSysroot = join(debianWork, "base");
const nodeReady = () => existsSync(join(nodeDir, "bin/node")) && (nodeSource.from === "npm" || (existsSync(join(nodeDir, "ridge-node.json")) && existsSync(join(baseSysroot, "lib"))));

/** The addons to cross-build for this arch: those of slot-contents.json's crossBuild without a linux-<arch> prebuild. */
const addons = Object.entries(contents.native.crossBuild)
  .map(([pkg, { addon }]) => {
    const dir = join(root, "node_modules", pkg);
    if (!existsSync(join(dir, "package.json"))) die(`${dir} is missing: run npm ci`);
    const prebuilt = existsSync(join(dir, "prebuilds", `linux-${arch}`));
    const version = pkgVersion(dir);
    return { pkg, dir, version, addon, out: join(cachePath(contents.cache.addon, { arch, package: pkg, version }), addon), needed: arch !== process.arch && !prebuilt };
  })
  .filter((a) => a.needed);

const ready = () => nodeReady() && addons.every((a) => existsSync(a.out));
if (checkOnly) {
  console.log(ready() ? "ready" : "missing");
  process.exit(ready() ? 0 : 1);
}
if (ready()) {
  log(`cached: ${nodeDir}/bin/node${addons.map((a) => `, ${a.out}`).join("")}`);
  process.exit(0);
}

// One preparer at a time (test files run in parallel processes).
mkdirSync(cache, { recursive: true });
const lock = join(cache, `.prepare-${arch}.lock`);
const deadline = Date.now() + 15 * 60_000;
let waitingSince;
let lastWaitLine;
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
    // another preparer (a parallel test file) holds the lock: say so, not minutes of silence
    if (!waitingSince) log(`waiting for another prepare (pid ${holder || "?"}) to finish ${arch} (${lock})`);
    waitingSince ??= Date.now();
    if (Date.now() - (lastWaitLine ?? waitingSince) >= 30_000) {
      lastWaitLine = Date.now();
      log(`still waiting for pid ${holder || "?"}: ${elapsed(Date.now() - waitingSince)}`);
    }
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

// 1a. Node.js from the npm registry package, same version as the host.
function prepareNpmNode() {
  const packDir = join(cache, "node");
  mkdirSync(packDir, { recursive: true });
  const tgz = join(packDir, `${nodeSource.package}-${hostVersion}.tgz`);
  if (!existsSync(tgz)) {
    log(`npm pack ${nodeSource.package}@${hostVersion}`);
    run("npm", ["pack", `${nodeSource.package}@${hostVersion}`, "--silent", "--pack-destination", packDir], { cwd: packDir });
  }
  const tmp = `${nodeDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run("tar", ["xzf", tgz, "-C", tmp, "--strip-components=1"]);
  if (elfMachine(join(tmp, "bin/node")) !== target.machine) die(`${tgz}: bin/node is not a ${arch} ELF`);
  rmSync(nodeDir, { recursive: true, force: true });
  renameSync(tmp, nodeDir);
  log(`node ${hostVersion} for ${arch} in ${nodeDir}`);
}

/** The host's Debian mirror: the first URIs: of /etc/apt/sources.list.d/*.sources, else the first `deb` line. */
function hostMirror() {
  if (process.env.RIDGE_DEBIAN_MIRROR) return process.env.RIDGE_DEBIAN_MIRROR;
  const dir = "/etc/apt/sources.list.d";
  const texts = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".sources")).sort().map((f) => readFileSync(join(dir, f), "utf8")) : [];
  for (const t of texts) {
    // deb822 stanzas: the main archive, not debian-security
    for (const stanza of t.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? "";
      if (uri && /^Types:.*\bdeb\b/m.test(stanza) && !/-security\b/.test(suites)) return uri;
    }
  }
  if (existsSync("/etc/apt/sources.list")) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/m.exec(readFileSync("/etc/apt/sources.list", "utf8"));
    if (m) return m[1];
  }
  die("no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list: set RIDGE_DEBIAN_MIRROR");
}

// 1b. Node.js from Debian packages (riscv64).
function prepareDebianNode() {
  for (const t of ["apt-get", "dpkg-deb", target.qemu]) if (!has(t)) die(`${t} is missing: apt-get install -y --no-install-recommends ${target.apt.join(" ")}`);
  if (!existsSync(nodeSource.keyring)) die(`${nodeSource.keyring} is missing: apt-get install -y debian-archive-keyring`);
  const apt = join(debianWork, "apt");
  for (const d of ["lists/partial", "archives/partial", "cache", "etc/none"]) mkdirSync(join(apt, d), { recursive: true });
  const mirror = hostMirror();
  writeFileSync(join(apt, "etc/sources.list"), `deb [arch=${arch} signed-by=${nodeSource.keyring}] ${mirror} ${nodeSource.suite} main\n`);
  writeFileSync(join(apt, "status"), "");
  const opt = [
    ["Dir::Etc::SourceList", join(apt, "etc/sources.list")],
    ["Dir::Etc::SourceParts", join(apt, "etc/none")],
    ["Dir::Etc::PreferencesParts", join(apt, "etc/none")],
    ["Dir::Etc::Preferences", join(apt, "etc/none/preferences")],
    ["Dir::State::Lists", join(apt, "lists")],
    ["Dir::State::status", join(apt, "status")],
    ["Dir::Cache", join(apt, "cache")],
    ["Dir::Cache::archives", join(apt, "archives")],
    ["APT::Architecture", arch],
    ["APT::Architectures::", arch],
    ["Debug::NoLocking", "1"],
    ["Acquire::Languages", "none"],
  ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  log(`apt-get update (${mirror} ${nodeSource.suite} ${arch}, private configuration in ${apt})`);
  run("apt-get", [...opt, "update"]);
  log(`apt-get install --download-only ${nodeSource.package}:${arch}`);
  run("apt-get", [...opt, "install", "--download-only", "-y", "--no-install-recommends", nodeSource.package]);
  const debs = readdirSync(join(apt, "archives"))
    .filter((f) => f.endsWith(".deb"))
    .map((f) => {
      const [name, version] = f.slice(0, -4).split("_");
      return { file: join(apt, "archives", f), name, version: decodeURIComponent(version) };
    });
  // the newest version of each package (an older download may linger in the archive folder)
  const byName = new Map();
  for (const d of debs) if (!byName.has(d.name) || spawnSync("dpkg", ["--compare-versions", d.version, "gt", byName.get(d.name).version]).status === 0) byName.set(d.name, d);
  if (!byName.has(nodeSource.package)) die(`apt-get downloaded no ${nodeSource.package} package`);

  // each package unpacked on its own (so every library is known by the package that brings it)
  const pkgs = join(debianWork, "packages");
  rmSync(pkgs, { recursive: true, force: true });
  for (const d of byName.values()) {
    mkdirSync(join(pkgs, d.name), { recursive: true });
    run("dpkg-deb", ["-x", d.file, join(pkgs, d.name)]);
  }
  // the board's own system: glibc only
  rmSync(baseSysroot, { recursive: true, force: true });
  mkdirSync(baseSysroot, { recursive: true });
  for (const n of nodeSource.systemPackages) {
    const d = byName.get(n);
    if (!d) die(`apt-get downloaded no ${n} package`);
    run("dpkg-deb", ["-x", d.file, baseSysroot]);
  }
  if (!existsSync(join(baseSysroot, "lib"))) symlinkSync("usr/lib", join(baseSysroot, "lib")); // merged /usr: the loader is /lib/ld-linux-*.so.1
  const systemLibs = new Set();
  for (const d of [join(baseSysroot, "usr/lib", triple), join(baseSysroot, "usr/lib")]) if (existsSync(d)) for (const f of readdirSync(d)) systemLibs.add(f);

  const libDirs = (pkg) => [join(pkgs, pkg, "usr/lib", triple), join(pkgs, pkg, "lib", triple), join(pkgs, pkg, "usr/lib")];
  const findLib = (soname) => {
    for (const pkg of byName.keys()) for (const d of libDirs(pkg)) if (existsSync(join(d, soname))) return { pkg, path: join(d, soname) };
    return undefined;
  };

  const tmp = `${nodeDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, "bin"), { recursive: true });
  mkdirSync(join(tmp, "lib"), { recursive: true });
  // lib/libnode.so.*: Debian's, its externalized builtins' paths (/usr/share/nodejs/...) rewritten to
  // the same length under /proc/self/fd/250/, the descriptor bin/node opens on share/nodejs.
  const libnodeName = readdirSync(join(pkgs, nodeSource.libnodePackage, "usr/lib", triple)).find((f) => /^libnode\.so\.\d+$/.test(f));
  if (!libnodeName) die(`no libnode.so.N in ${nodeSource.libnodePackage}`);
  const libnode = readFileSync(join(pkgs, nodeSource.libnodePackage, "usr/lib", triple, libnodeName));
  const builtins = [];
  for (let at = libnode.indexOf(`\0${DEBIAN_BUILTINS}`); at >= 0; at = libnode.indexOf(`\0${DEBIAN_BUILTINS}`, at + 1)) {
    const end = libnode.indexOf(0, at + 1);
    const path = libnode.toString("latin1", at + 1, end);
    if (!path.endsWith(".js")) continue;
    libnode.write(BUILTINS_VIA_FD, at + 1, "latin1");
    builtins.push(path.slice(DEBIAN_BUILTINS.length));
  }
  if (!builtins.length) die(`${libnodeName} names no ${DEBIAN_BUILTINS}*.js builtins: scripts/node-main.cc is not needed any more, review this step`);
  mkdirSync(join(tmp, "share/nodejs"), { recursive: true });
  const files = [];
  const usedPkgs = new Set([nodeSource.package, nodeSource.libnodePackage]);
  for (const b of builtins) {
    const owner = [...byName.keys()].find((p) => existsSync(join(pkgs, p, "usr/share/nodejs", b)));
    if (!owner) die(`${DEBIAN_BUILTINS}${b} (a builtin libnode reads at start-up) is in none of the downloaded packages`);
    mkdirSync(dirname(join(tmp, "share/nodejs", b)), { recursive: true });
    copyFileSync(join(pkgs, owner, "usr/share/nodejs", b), join(tmp, "share/nodejs", b));
    files.push(`share/nodejs/${b}`);
    usedPkgs.add(owner);
  }
  writeFileSync(join(tmp, "lib", libnodeName), libnode, { mode: 0o644 });
  // bin/node: our entry (scripts/node-main.cc), RPATH $ORIGIN/../lib
  const libDir = join(tmp, "lib");
  run(`${triple}-g++`, ["-O2", "-Wall", "-o", join(tmp, "bin/node"), join(root, "scripts/node-main.cc"), `-L${libDir}`, `-l:${libnodeName}`, "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--disable-new-dtags", "-Wl,--allow-shlib-undefined", "-s"]);
  const nodeBin = readFileSync(join(tmp, "bin/node"));
  const dyn = elfDynamic(nodeBin, "bin/node");
  if (dyn.rpath !== "$ORIGIN/../lib" || dyn.runpath) die(`bin/node: DT_RPATH is ${dyn.rpath}, DT_RUNPATH ${dyn.runpath}`);
  files.unshift("bin/node", `lib/${libnodeName}`);
  const libnodeDyn = elfDynamic(libnode, libnodeName);
  if (libnodeDyn.runpath) die(`${libnodeName} carries a DT_RUNPATH (${libnodeDyn.runpath}): the executable's RPATH would not serve its dependencies`);
  let glibc = glibcNeeded(nodeBin);
  const g0 = glibcNeeded(libnode);
  if (g0[0] > glibc[0] || (g0[0] === glibc[0] && g0[1] > glibc[1])) glibc = g0;
  const queue = [...dyn.needed, ...libnodeDyn.needed];
  const seen = new Set([libnodeName]);
  while (queue.length) {
    const soname = queue.shift();
    if (seen.has(soname)) continue;
    seen.add(soname);
    if (systemLibs.has(soname)) continue; // glibc: the board's
    const found = findLib(soname);
    if (!found) die(`${soname} (needed by node) is in none of the downloaded packages`);
    const bytes = readFileSync(found.path); // follows the soname link to the real file
    const d = elfDynamic(bytes, soname);
    if (d.runpath) die(`${soname} carries a DT_RUNPATH (${d.runpath}): the executable's RPATH would not serve its dependencies`);
    writeFileSync(join(tmp, "lib", soname), bytes, { mode: 0o644 });
    files.push(`lib/${soname}`);
    usedPkgs.add(found.pkg);
    const g = glibcNeeded(bytes);
    if (g[0] > glibc[0] || (g[0] === glibc[0] && g[1] > glibc[1])) glibc = g;
    queue.push(...d.needed);
  }
  for (const p of [...usedPkgs].sort()) {
    const c = join(pkgs, p, "usr/share/doc", p, "copyright");
    if (!existsSync(c)) continue;
    mkdirSync(join(tmp, "share/doc", p), { recursive: true });
    copyFileSync(c, join(tmp, "share/doc", p, "copyright"));
    files.push(`share/doc/${p}/copyright`);
  }
  // It runs on glibc alone (the base sysroot), and speaks the host's addon ABI.
  const probe = spawnSync(target.qemu, ["-L", baseSysroot, join(tmp, "bin/node"), "-p", "JSON.stringify({ arch: process.arch, version: process.versions.node, modules: process.versions.modules, sm3: require('node:crypto').getHashes().includes('sm3') })"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  if (probe.status !== 0) die(`the ${arch} node does not run under ${target.qemu} on glibc alone:\n${probe.stderr}`);
  const info = JSON.parse(probe.stdout.trim());
  if (info.arch !== arch) die(`the Debian node says process.arch ${info.arch}`);
  if (info.modules !== process.versions.modules) die(`the Debian node's NODE_MODULE_VERSION is ${info.modules}, the host's ${process.versions.modules}: addons cross-built against the host's headers would not load`);
  if (!info.sm3) die("the Debian node's OpenSSL has no SM3 (attestation needs it)");
  const deb = byName.get(nodeSource.package);
  const manifest = {
    arch,
    version: info.version,
    modules: info.modules,
    source: `Debian ${nodeSource.suite} ${nodeSource.package} ${deb.version} (${arch})`,
    glibc: `2.${glibc[0]}${glibc[1] ? `.${glibc[1]}` : ""}`,
    packages: Object.fromEntries([...usedPkgs].sort().map((p) => [p, byName.get(p).version])),
    files,
  };
  writeFileSync(join(tmp, "ridge-node.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(nodeDir, { recursive: true, force: true });
  renameSync(tmp, nodeDir);
  const bytes = files.reduce((n, f) => n + statSync(join(nodeDir, f)).size, 0);
  log(`node ${info.version} for ${arch} from ${manifest.source}: ${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB, needs glibc >= ${manifest.glibc}, in ${nodeDir}`);
}

// 2. Native addons for the target arch (the host's own build serves the host arch).
function headersDir() {
  if (existsSync(join(nodeDir, "include/node/node.h"))) return nodeDir;
  const host = dirname(dirname(process.execPath));
  if (existsSync(join(host, "include/node/node.h"))) return host;
  die(`no Node.js headers in ${nodeDir}/include/node or ${host}/include/node`);
}

async function crossBuild(a) {
  if (existsSync(a.out)) return;
  for (const t of [`${triple}-g++`, `${triple}-gcc`, "python3", "make"])
    if (!has(t)) die(`${t} is missing: apt-get install -y --no-install-recommends ${target.apt.join(" ")} python3 make (or rerun with --install-packages)`);
  const gyp = [process.env.npm_config_node_gyp, join(dirname(dirname(process.execPath)), "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js")].find((p) => p && existsSync(p));
  if (!gyp) die("cannot find node-gyp (npm's bundled copy)");
  const work = join(cache, "build", `${a.pkg.replace("/", "+")}-${a.version}-${arch}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  cpSync(a.dir, work, { recursive: true, filter: (src) => !/[\\/](node_modules|build|prebuilds)$/.test(src.slice(a.dir.length)) });
  // binding.gyp may ask Node for its build dependencies (node-addon-api's include_dir) from here
  const pj = JSON.parse(readFileSync(join(a.dir, "package.json"), "utf8"));
  mkdirSync(join(work, "node_modules"), { recursive: true });
  for (const dep of Object.keys(pj.dependencies ?? {})) {
    const from = [join(a.dir, "node_modules", dep), join(root, "node_modules", dep)].find((p) => existsSync(p));
    if (!from) continue;
    mkdirSync(dirname(join(work, "node_modules", dep)), { recursive: true });
    symlinkSync(from, join(work, "node_modules", dep));
  }
  const headers = headersDir();
  log(`cross-compiling ${a.pkg} ${a.version} with ${triple}-g++ against ${headers}/include/node (a few minutes)`);
  const env = { ...process.env, CC: `${triple}-gcc`, CXX: `${triple}-g++`, LINK: `${triple}-g++`, AR: `${triple}-ar`, STRIP: `${triple}-strip` };
  const t0 = Date.now();
  await runWithProgress(`cross-compiling ${a.pkg}`, process.execPath, [gyp, "rebuild", "--release", `--arch=${target.gypArch}`, `--nodedir=${headers}`, "-j", "2"], { cwd: work, env });
  const built = join(work, "build/Release", a.addon);
  if (has(`${triple}-strip`)) run(`${triple}-strip`, ["--strip-unneeded", built]);
  const m = elfMachine(built);
  if (m !== target.machine) die(`${built}: ELF machine 0x${(m ?? 0).toString(16)} is not ${arch}`);
  mkdirSync(dirname(a.out), { recursive: true });
  copyFileSync(built, `${a.out}.tmp`);
  renameSync(`${a.out}.tmp`, a.out);
  rmSync(work, { recursive: true, force: true });
  log(`${a.pkg} for ${arch} in ${elapsed(Date.now() - t0)}: ${a.out} (${statSync(a.out).size} bytes)`);
}

/** Load each cross-built addon once with the target's Node under qemu (the Debian node: on glibc alone). */
function loadAddons() {
  if (!target.qemu || !has(target.qemu) || nodeSource.from !== "debian") return;
  const code = `for (const f of JSON.parse(process.argv[1])) process.dlopen({ exports: {} }, f); console.log("loaded")`;
  const r = spawnSync(target.qemu, ["-L", baseSysroot, join(nodeDir, "bin/node"), "-e", code, JSON.stringify(addons.map((a) => a.out))], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0 || r.stdout.trim() !== "loaded") die(`the ${arch} addons do not load in the ${arch} node:\n${r.stderr}`);
  log(`${addons.map((a) => a.pkg).join(", ")} load in node for ${arch} (qemu)`);
}

const started = Date.now();
const built = addons.filter((a) => !existsSync(a.out));
const plan = [...(nodeReady() ? [] : [`Node.js for ${arch} (${nodeSource.from})`]), ...built.map((a) => `cross-compile ${a.pkg} (a few minutes)`), ...(built.length ? ["load the addons under qemu"] : [])];
let step = 0;
const next = (what) => log(`step ${++step}/${plan.length}: ${what} (${elapsed(Date.now() - started)} so far)`);
log(`preparing ${cache} for ${arch}: ${plan.join("; ")}`);
if (!nodeReady()) {
  next(plan[0]);
  (nodeSource.from === "npm" ? prepareNpmNode : prepareDebianNode)();
}
for (const a of built) {
  next(`cross-compile ${a.pkg}`);
  await crossBuild(a);
}
if (built.length) {
  next("load the addons under qemu");
  loadAddons();
}
log(`ready in ${elapsed(Date.now() - started)}`);
