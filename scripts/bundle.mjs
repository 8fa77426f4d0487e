// `npm run bundle`: one self-contained dist/ridge.mjs (native addons and WASM runtimes stay external).
// `--if-stale` rebuilds only when a source file is newer than the bundle (used by `npm start`).
import { build, transform } from "esbuild";
import { chmodSync, readFileSync, statSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtinModules, createRequire } from "node:module";

const root = new URL("..", import.meta.url).pathname;
const __ridgeRequire = createRequire(import.meta.url);
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

// Node's built-in modules, loaded when the module that imports them first runs, not at bundle load.
// esbuild hoists every external ESM `import … from "node:x"` to the top of the one output file, so
// `ridge run` loaded tls, https, cluster, dgram, zlib, worker_threads, child_process … for modules it
// never evaluates (other commands, unconfigured drivers), and Node's ESM facade of `tls` read
// `tls.rootCertificates` (140 PEM strings). Turned into a CommonJS shim, a builtin is required inside
// the lazily initialised wrapper of its importer instead: about 4 MB less idle RSS.
const builtins = new Set(builtinModules);
export const lazyBuiltins = {
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
      const bare = args.path.replace(/^node:/, "");
      if (!args.path.startsWith("node:") && !builtins.has(bare)) return undefined;
      // require() calls are already lazy, and a dynamic import() stays one.
      if (args.kind !== "import-statement") return { path: args.path, external: true };
      return { path: `node:${bare}`, namespace: "lazy-builtin" };
    });
    b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: "js" }));
  },
};

// prom-client's index.js requires every part at once: the Pushgateway (http, https, zlib and so tls),
// the cluster aggregator, Summary. The gateway uses the registry, three metric types and the default
// metrics; this stand-in for index.js exports the same names, each required on first use.
const promClientExports = {
  register: "require('./lib/registry').globalRegistry",
  Registry: "require('./lib/registry')",
  prometheusContentType: "require('./lib/registry').PROMETHEUS_CONTENT_TYPE",
  openMetricsContentType: "require('./lib/registry').OPENMETRICS_CONTENT_TYPE",
  validateMetricName: "require('./lib/validation').validateMetricName",
  Counter: "require('./lib/counter')",
  Gauge: "require('./lib/gauge')",
  Histogram: "require('./lib/histogram')",
  Summary: "require('./lib/summary')",
  Pushgateway: "require('./lib/pushgateway')",
  linearBuckets: "require('./lib/bucketGenerators').linearBuckets",
  exponentialBuckets: "require('./lib/bucketGenerators').exponentialBuckets",
  collectDefaultMetrics: "require('./lib/defaultMetrics')",
  aggregators: "require('./lib/metricAggregators').aggregators",
  AggregatorRegistry: "require('./lib/cluster')",
};
const promClientDir = join(root, "node_modules/prom-client");
{
  // A prom-client upgrade that adds or drops an export must update the stand-in.
  const actual = Object.keys(__ridgeRequire(promClientDir)).filter((k) => k !== "contentType").sort().join();
  const ours = Object.keys(promClientExports).sort().join();
  if (actual !== ours) throw new Error(`scripts/bundle.mjs: prom-client exports changed (${actual}); update promClientExports`);
}
export const lazyPromClient = {
  name: "lazy-prom-client",
  setup(b) {
    b.onResolve({ filter: /^prom-client$/ }, () => ({ path: "prom-client", namespace: "lazy-prom-client" }));
    b.onLoad({ filter: /.*/, namespace: "lazy-prom-client" }, () => ({
      resolveDir: promClientDir,
      loader: "js",
      contents: [
        "'use strict';",
        ...Object.entries(promClientExports).map(([k, v]) => `Object.defineProperty(exports, ${JSON.stringify(k)}, { enumerable: true, get: () => ${v} });`),
        "Object.defineProperty(exports, 'contentType', { enumerable: true, get: () => exports.register.contentType, set: (v) => exports.register.setContentType(v) });",
      ].join("\n"),
    }));
  },
};

// zod 3's ZodType constructor binds 24 of its methods to every schema instance (so that a detached
// `const { parse } = schema` works). The config schemas are about a thousand instances: 24,000 bound
// functions and their property slots, about 1 MiB of heap that lives as long as the process. No code
// here detaches a schema method; the bundle's zod keeps the methods on the prototype only.
export const zodUnbound = {
  name: "zod-unbound",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v3[\\/]types\.js$/ }, (args) => {
      const src = readFileSync(args.path, "utf8");
      let n = 0;
      const contents = src.replace(/^[ \t]*this\.(\w+) = this\.\1\.bind\(this\);\n/gm, () => (n++, ""));
      if (n < 20) throw new Error(`scripts/bundle.mjs: zod's ZodType constructor changed (${n} bound methods found); review zodUnbound`);
      return { contents, loader: "js" };
    });
  },
};

// The packages left out of the bundle are those a runtime slot carries beside it (or does without):
// one list, flash/slot-contents.json, which the slot builder (flash/runtime-slot.ts) reads too.
export const external = Object.keys(JSON.parse(readFileSync(join(root, "flash/slot-contents.json"), "utf8")).external);

// The `#!` line carries the launch environment (core/launch-env.ts), so running the file starts
// the gateway the way the product does.
const launchEnv = await transform(readFileSync(join(root, "core/launch-env.ts"), "utf8"), { loader: "ts", format: "esm" });
const { launchShebang } = await import(`data:text/javascript;base64,${Buffer.from(launchEnv.code).toString("base64")}`);

// The web console's static files (runtime/console/static/) travel inside the bundle, so the slot that
// ships dist/ridge.mjs (flash/runtime-slot.ts, OTA bundles) carries them: runtime/console/assets.ts
// reads this define and, from source, the folder itself.
const consoleDir = join(root, "runtime/console/static");
const consoleAssets = Object.fromEntries(readdirSync(consoleDir).sort().map((f) => [f, readFileSync(join(consoleDir, f), "utf8")]));

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
  plugins: [lazyBuiltins, lazyPromClient, zodUnbound],
  define: { __RIDGE_VERSION__: JSON.stringify(pkg.version), __RIDGE_CONSOLE_ASSETS__: JSON.stringify(consoleAssets) },
  // CommonJS dependencies inside an ESM bundle need a require().
  banner: { js: `${launchShebang()}\nimport { createRequire as __ridgeCreateRequire } from 'node:module'; const require = __ridgeCreateRequire(import.meta.url);` },
  logLevel: "warning",
});
// esbuild leaves non-ASCII characters inside some dependencies' regex literals; one such character
// makes V8 hold the whole 1.5 MB source as a two-byte string (3 MB of heap). Escape them all:
// \uXXXX is valid in strings, regex literals and identifiers alike, and comments are minified away.
const text = readFileSync(out, "utf8");
const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
if (ascii !== text) writeFileSync(out, ascii);
chmodSync(out, 0o755);
console.log(`bundled ${out}`);
