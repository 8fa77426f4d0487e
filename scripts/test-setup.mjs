#!/usr/bin/env node
// `npm run test:setup`: everything `npm test` needs on a Debian 12 machine, installed only where it
// is missing, so the README's one test command (`npm run test:setup && npm test`, also all that
// .ci/run does) passes on a fresh machine and is a quick no-op on a prepared one.
//
//  1. The Debian packages of peers/debian-packages.json (real peers, cross toolchains, qemu, node-gyp's
//     tools), checked with one dpkg-query. Missing ones are installed with apt-get as root, or through
//     `sudo -n`; when neither is possible the script prints the one `apt-get install …` line and exits 1.
//  2. `npm ci` when node_modules is missing or does not match package-lock.json (npm's own record of
//     what it installed, node_modules/.package-lock.json, compared package by package).
//  3. The arm64 and riscv64 caches of scripts/prepare-target.mjs (a few minutes once, then nothing).
//
// Node's built-ins only: it runs before node_modules exists.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const t0 = Date.now();
const log = (msg) => console.log(`test:setup: ${msg}`);

function run(cmd, args) {
  log(`${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`test:setup: ${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

// 1. Debian packages
const packages = Object.keys(JSON.parse(readFileSync(join(root, "peers/debian-packages.json"), "utf8")).packages);
const status = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\\n", ...packages], { encoding: "utf8" });
if (status.error) {
  console.error(`test:setup: dpkg-query not found: the test command needs Debian 12 (or a derivative) and these packages: ${packages.join(" ")}`);
  process.exit(1);
}
const installed = new Set(
  status.stdout
    .split("\n")
    .filter((l) => l.endsWith(" install ok installed"))
    .map((l) => l.split(" ")[0].replace(/:.*$/, "")),
);
const missing = packages.filter((p) => !installed.has(p));
if (missing.length) {
  const install = ["install", "-y", "--no-install-recommends", ...missing];
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status !== 0) {
    console.error(`test:setup: missing Debian packages; install them as root, then run the test command again:\n  sudo apt-get update && sudo apt-get ${install.join(" ")}`);
    process.exit(1);
  }
  const apt = (args) => (asRoot ? run("apt-get", args) : run("sudo", ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args]));
  process.env.DEBIAN_FRONTEND = "noninteractive";
  apt(["update"]);
  apt(install);
}

// 2. node_modules as package-lock.json says
function nodeModulesStale() {
  const hidden = join(root, "node_modules/.package-lock.json");
  if (!existsSync(hidden)) return "node_modules is missing";
  const want = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")).packages;
  const have = JSON.parse(readFileSync(hidden, "utf8")).packages;
  for (const [path, p] of Object.entries(want)) {
    if (path === "") continue;
    const h = have[path];
    // optional packages for other platforms (esbuild's, for one) are not installed here
    if (!h) {
      if (!p.optional) return `${path} is not installed`;
    } else if (h.version !== p.version || h.resolved !== p.resolved) return `${path} is ${h.version}, package-lock.json says ${p.version}`;
  }
  for (const path of Object.keys(have)) if (!(path in want)) return `${path} is installed but not in package-lock.json`;
  return undefined;
}
const stale = nodeModulesStale();
if (stale) {
  log(`${stale}: npm ci`);
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

// 3. the ARM64 and RISC-V proofs' caches (Node for each target, cross-built native addons)
for (const arch of ["arm64", "riscv64"]) {
  const check = spawnSync(process.execPath, [join(root, "scripts/prepare-target.mjs"), "--arch", arch, "--check"], { cwd: root, stdio: "ignore" });
  if (check.status !== 0) run(process.execPath, [join(root, "scripts/prepare-target.mjs"), "--arch", arch]);
}

log(`ready (${Date.now() - t0} ms)`);
