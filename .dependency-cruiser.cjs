/**
 * The dependency rules of ../shared/design.md ("Folders") and style.md (practices 1 and 13), checked
 * by dependency-cruiser inside `npm test` (`npm run lint:deps`). Every rule is an error: a
 * violation fails the test command. Paths are relative to the repository root.
 *
 *   npm run lint:deps        # what npm test runs first; zero violations, no baseline of known ones
 */

/** Top-level folders of the product (what a gateway runs), as opposed to test/, bench/, scripts/, bin/. */
const PRODUCT = "^(core|codecs|runtime|drivers|ota|attest|boards|flash)/";

/**
 * Codec modules: bytes ⇄ values, no I/O (style.md practice 1). The shared codec layer `codecs/` and
 * the pure codec files that live beside their driver's session and transport. A file added to a
 * driver as a codec is listed here.
 */
const CODECS = [
  "^codecs/",
  "^drivers/modbus/(crc16|pdu|rtu-framer|register-map)\\.ts$",
  "^drivers/coap/payload-decoder\\.ts$",
  "^drivers/lwm2m/(tlv|link-format|lwm2m-json|senml-values|value|content-format|object-registry)\\.ts$",
  "^drivers/mqtt/(payload-decoder|frame-meter|topic-pattern)\\.ts$",
];

/** Modules that do I/O or keep time: Node's sockets, files, processes and timers, and the npm transports. */
const IO = [
  "^(node:)?(net|dgram|dns|fs|fs/promises|child_process|cluster|worker_threads|http|https|http2|tls|readline|timers|timers/promises)$",
  "(^|/)node_modules/(serialport|@serialport/[^/]+|mqtt|aedes|coap|node-dtls-client|better-sqlite3)/",
];

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Arrows point one way (design.md): no module reaches itself through its imports.",
      from: {},
      to: { circular: true },
    },
    {
      name: "codec-no-io",
      severity: "error",
      comment: "A codec is pure (style.md practice 1): nothing it imports, directly or through other modules, does I/O or keeps time.",
      from: { path: CODECS },
      to: { path: IO, reachable: true },
    },
    {
      name: "core-imports-no-folder",
      severity: "error",
      comment: "core/ depends on nothing of the project (design.md's folder table).",
      from: { path: "^core/" },
      to: { dependencyTypes: ["local"], pathNot: "^core/" },
    },
    {
      name: "codecs-import-only-core",
      severity: "error",
      comment: "The shared codec layer sits below drivers/: it imports core/ and npm packages only.",
      from: { path: "^codecs/" },
      to: { dependencyTypes: ["local"], pathNot: "^(core|codecs)/" },
    },
    {
      name: "driver-imports-only-core-codecs",
      severity: "error",
      comment:
        "A driver (drivers/NAME/) imports core/, codecs/, its own folder and npm packages: not another driver, " +
        "not ota/, runtime/, attest/, boards/ or flash/ (what it needs from them is injected by the composition root).",
      from: { path: "^drivers/([^/]+)/" },
      to: { dependencyTypes: ["local"], pathNot: ["^core/", "^codecs/", "^drivers/$1/"] },
    },
    {
      name: "runtime-only-from-cli",
      severity: "error",
      comment:
        "runtime/ is the composition root: nothing imports it but the CLI launcher (bin/ridge.mjs → runtime/cli/entry.ts). " +
        "test/ and bench/ are exempt: tests and benches exercise its internals.",
      from: { pathNot: ["^runtime/", "^test/", "^bench/", "^bin/ridge\\.mjs$"] },
      to: { path: "^runtime/" },
    },
    {
      name: "cli-launcher-only-to-entry",
      severity: "error",
      comment: "bin/ridge.mjs starts the CLI through its one entry module and imports nothing else of runtime/.",
      from: { path: "^bin/" },
      to: { path: "^runtime/", pathNot: "^runtime/cli/entry\\.ts$" },
    },
    {
      name: "cross-folder-through-index",
      severity: "error",
      comment:
        "Each top-level folder's index.ts is its public API (style.md practice 13): an import from one top-level " +
        "folder into another goes through that folder's index.ts. test/ and bench/ are exempt: they exercise internals.",
      from: { path: "^(core|codecs|runtime|drivers|ota|attest|boards|flash|peers|scripts)/" },
      to: { path: "^(core|codecs|drivers|ota|attest|boards|flash|peers)/", pathNot: ["^$1/", "^[^/]+/index\\.ts$"] },
    },
    {
      name: "ota-imports-only-core-attest",
      severity: "error",
      comment: "ota/ depends on core/ and attest/ (signatures) only (design.md's folder table).",
      from: { path: "^ota/" },
      to: { dependencyTypes: ["local"], pathNot: ["^ota/", "^core/", "^attest/"] },
    },
    {
      name: "flash-imports-only-core-boards-ota-attest",
      severity: "error",
      comment: "flash/ lays device roots from a board, the OTA slot format and attestation keys (design.md's folder table): nothing of runtime/ or drivers/.",
      from: { path: "^flash/" },
      to: { dependencyTypes: ["local"], pathNot: ["^flash/", "^core/", "^boards/", "^ota/", "^attest/"] },
    },
    {
      name: "attest-boards-not-upward",
      severity: "error",
      comment: "attest/ and boards/ sit below the runtime, the drivers, OTA and flashing: they import none of them.",
      from: { path: "^(attest|boards)/" },
      to: { path: "^(runtime|drivers|ota|flash)/" },
    },
    {
      name: "product-not-to-tests",
      severity: "error",
      comment: "What a gateway runs imports nothing of test/, bench/ or peers/ (the test peers).",
      from: { path: PRODUCT },
      to: { path: "^(test|bench|peers)/" },
    },
    {
      name: "bench-not-to-test",
      severity: "error",
      comment: "bench/ does not import test/: what both use (real peers on loopback) lives in peers/.",
      from: { path: "^bench/" },
      to: { path: "^test/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "Every import resolves: to a file that exists or a package that is installed.",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "no-non-package-json",
      severity: "error",
      comment: "Every npm package imported is declared in package.json (installed only as someone else's dependency does not count).",
      from: {},
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "product-not-to-dev-dep",
      severity: "error",
      comment: "What a gateway runs imports only `dependencies`: a devDependency is not installed on the device.",
      from: { path: PRODUCT },
      to: { dependencyTypes: ["npm-dev"], preCompilationOnly: false },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // build output, the cross-target caches and `npm start`'s data directory are not source
    exclude: { path: "^(dist|\\.cache|\\.ridgeline)/" },
    tsConfig: { fileName: "tsconfig.json" },
    // type-only imports count: a boundary crossed only by a type is still crossed
    tsPreCompilationDeps: "specify",
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    skipAnalysisNotInRules: true,
    progress: { type: "none" },
    // unchanged files are not parsed again (node_modules/.cache/dependency-cruiser)
    cache: { folder: "node_modules/.cache/dependency-cruiser", strategy: "content" },
  },
};
