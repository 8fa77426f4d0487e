/**
 * The runtime bundle for a board (`ridge ota bundle`, reused by `ridge flash`): dist/ridge.mjs
 * (from `npm run bundle`), boards/*.yaml, package.json, and the packages esbuild leaves external
 * (native addons and WASM runtimes) with their runtime dependencies, minus sources and build
 * leftovers. The slot is then runnable as `node <slot>/dist/ridge.mjs`.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { RidgeError } from "../core/errors.js";
import type { Board } from "../boards/index.js";
import type { BundleManifest } from "./bundle-manifest.js";
import { writeBundle } from "./bundle-writer.js";

/** Packages kept outside dist/ridge.mjs (scripts/bundle.mjs `external`). */
export const EXTERNAL_PACKAGES = ["better-sqlite3", "serialport", "@serialport/bindings-cpp", "@serialport/bindings-interface", "cbor-extract", "onnxruntime-web"];
/** Install-time tools among their dependencies that a running gateway never loads. */
const NOT_AT_RUNTIME = new Set(["prebuild-install", "node-gyp", "node-gyp-build-optional-packages"]);
const SKIP_DIRS = new Set(["src", "deps", "test", "tests", "docs", "doc", "example", "examples", "benchmark", ".github", "obj.target", "prebuilds-src"]);
/**
 * Packages of which the runtime needs only a few files: onnxruntime-web's Node entry
 * (`exports.node`) and the one WASM build it loads (single-threaded SIMD), not its browser,
 * WebGL, WebGPU and JSPI variants (about 115 MiB).
 */
const KEEP_ONLY: Record<string, RegExp> = {
  "onnxruntime-web": /^(package\.json|LICENSE.*|dist\/ort\.node\.min\.m?js|dist\/ort-wasm-simd-threaded\.(mjs|wasm))$/,
};
const SKIP_FILE = /\.(c|cc|cpp|h|hpp|gyp|gypi|md|markdown|map|ts|mk|o|a)$|^(Makefile|binding\.Makefile|config\.gypi|CHANGELOG.*|README.*)$/i;

export interface RuntimeBundleOptions {
  /** The project root holding dist/, boards/, package.json and node_modules/. */
  root: string;
  board: Board;
  out: string;
  version?: string;
  /** Leave out these external packages (e.g. onnxruntime-web on a board without models). */
  without?: string[];
  /** Only these board files (default: all). */
  boards?: string[];
}

function walk(dir: string, into: (abs: string) => void): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (SKIP_DIRS.has(e.name)) continue;
      if (e.name === "build") {
        // keep only the compiled addons of node-gyp's build/ folder
        const rel = join(p, "Release");
        if (existsSync(rel)) for (const f of readdirSync(rel)) if (f.endsWith(".node")) into(join(rel, f));
        continue;
      }
      walk(p, into);
    } else if (e.isFile() && !SKIP_FILE.test(e.name)) into(p);
  }
}

function packageClosure(root: string, names: string[]): string[] {
  const out = new Set<string>();
  const queue = [...names];
  while (queue.length) {
    const n = queue.shift()!;
    if (out.has(n) || NOT_AT_RUNTIME.has(n)) continue;
    const pj = join(root, "node_modules", n, "package.json");
    if (!existsSync(pj)) continue;
    out.add(n);
    const deps = (JSON.parse(readFileSync(pj, "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {};
    queue.push(...Object.keys(deps));
  }
  return [...out].sort();
}

export async function buildRuntimeBundle(opts: RuntimeBundleOptions): Promise<BundleManifest> {
  const { root, board } = opts;
  const entry = join(root, "dist", "ridge.mjs");
  if (!existsSync(entry)) throw new RidgeError("E_OTA_BUNDLE_INPUT", "config", `${entry} is missing: run "npm run bundle" first`);
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  const files = new Map<string, string>();
  files.set("dist/ridge.mjs", entry);
  files.set("package.json", join(root, "package.json"));
  const boardsDir = join(root, "boards");
  for (const f of readdirSync(boardsDir)) {
    if (!f.endsWith(".yaml")) continue;
    if (opts.boards && !opts.boards.includes(f.slice(0, -5))) continue;
    files.set(`boards/${f}`, join(boardsDir, f));
  }
  const pkgs = packageClosure(root, EXTERNAL_PACKAGES.filter((p) => !opts.without?.includes(p)));
  for (const p of pkgs) {
    const dir = join(root, "node_modules", p);
    const keep = KEEP_ONLY[p];
    walk(dir, (abs) => {
      const rel = relative(dir, abs).split("\\").join("/");
      if (keep && !keep.test(rel)) return;
      if (statSync(abs).isFile()) files.set(`node_modules/${p}/${rel}`, abs);
    });
  }
  return writeBundle(opts.out, { kind: "runtime", version: opts.version ?? pkg.version, board: board.name, arch: board.arch, entry: "dist/ridge.mjs", files });
}
