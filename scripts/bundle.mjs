// `npm run bundle`: one self-contained dist/ridge.mjs (native addons and WASM runtimes stay external).
// `--if-stale` rebuilds only when a source file is newer than the bundle (used by `npm start`).
import { build } from "esbuild";
import { readFileSync, statSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "dist/ridge.mjs");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

if (process.argv.includes("--if-stale") && existsSync(out)) {
  const src = Math.max(...["core", "runtime", "drivers", "ota", "attest", "boards"].map((d) => newest(join(root, d))), statSync(join(root, "package.json")).mtimeMs);
  if (statSync(out).mtimeMs >= src) process.exit(0);
}

export const external = ["better-sqlite3", "serialport", "@serialport/*", "onnxruntime-web", "onnxruntime-node", "bufferutil", "utf-8-validate"];

await build({
  entryPoints: [join(root, "runtime/cli/entry.ts")],
  outfile: out,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  minify: process.env.RIDGE_BUNDLE_MINIFY !== "0",
  keepNames: true,
  sourcemap: "linked",
  legalComments: "none",
  external,
  define: { __RIDGE_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies inside an ESM bundle need a require().
  banner: { js: "import { createRequire as __ridgeCreateRequire } from 'node:module'; const require = __ridgeCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
// esbuild leaves non-ASCII characters inside some dependencies' regex literals; one such character
// makes V8 hold the whole 1.5 MB source as a two-byte string (3 MB of heap). Escape them all:
// \uXXXX is valid in strings, regex literals and identifiers alike, and comments are minified away.
const text = readFileSync(out, "utf8");
const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
if (ascii !== text) writeFileSync(out, ascii);
console.log(`bundled ${out}`);
