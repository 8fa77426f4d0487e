// Issue 16 item 2: link escapes through chains. fast-check builds trees of directories, files,
// symlinks (relative, absolute, `..`-climbing, link-to-link, `..` after a link name as in
// `deep/dir/l -> ../..` + `evil -> deep/dir/l/..`) and hard links, with entries placed under
// earlier links, as real tar bundles whose manifest lists every file and link; each is extracted
// into a fresh slot beside a canary directory. Property, whether the bundle is refused or not:
// no path under the slot resolves (fs.realpath) outside it, nothing appears beside the slot or in
// the canary, a refusal carries an E_OTA_* code and leaves the slot empty.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { errorCode } from "../../core/index.js";
import { tempDir } from "../../peers/process.js";
import { bundleOf, type RawEntry } from "../helpers/ota-tar.js";

const outer = tempDir("ridge-ota-link-");
test.after(() => outer.cleanup());

const CANARY = "@CANARY@";

interface Run {
  code: string | undefined;
  slot: string;
  base: string;
  canary: string;
}

function extract(entries: RawEntry[]): Run {
  const base = mkdtempSync(join(outer.dir, "run-"));
  const slot = join(base, "slot");
  const canary = join(base, "canary");
  mkdirSync(canary);
  const real = entries.map((e) => (e.linkname?.includes(CANARY) ? { ...e, linkname: e.linkname.replace(CANARY, canary) } : e));
  const x = new BundleExtractor(slot);
  try {
    const archive = bundleOf(real);
    for (let i = 0; i < archive.length; i += 1024) x.push(archive.subarray(i, i + 1024));
    x.finish();
    return { code: undefined, slot, base, canary };
  } catch (e) {
    return { code: errorCode(e), slot, base, canary };
  }
}

/** Every path under `dir`, not following links. */
function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    out.push(p);
    if (lstatSync(p).isDirectory()) walk(p, out);
  }
  return out;
}

/** The property: returns a problem, or undefined. */
function problem(r: Run): string | undefined {
  const beside = readdirSync(r.base).sort();
  if (beside.join(",") !== "canary,slot") return `beside the slot: ${beside.join(", ")}`;
  if (readdirSync(r.canary).length) return `in the canary: ${readdirSync(r.canary).join(", ")}`;
  const root = realpathSync.native(r.slot);
  for (const p of walk(r.slot)) {
    let to: string;
    try {
      to = realpathSync.native(p);
    } catch {
      continue; // dangling, a loop, ENOTDIR: the kernel reaches nothing
    }
    if (to !== root && !to.startsWith(root + sep)) return `${p.slice(r.slot.length)} resolves to ${to}, outside the slot`;
  }
  if (r.code !== undefined) {
    if (!r.code.startsWith("E_OTA_")) return `refused with ${r.code}`;
    const left = readdirSync(r.slot);
    if (left.length) return `refused (${r.code}) but the slot holds ${left.join(", ")}`;
  }
  return undefined;
}

const name = fc.constantFrom("a", "b", "l", "deep", "dir");
const relPath = fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join("/"));
const target = fc.oneof(
  relPath, // a path, often another link: link-to-link chains
  fc.constantFrom(".", "..", "../..", "../../..", "../canary", "../../canary/x", "../../../canary"),
  fc.tuple(fc.integer({ min: 1, max: 4 }), relPath).map(([n, p]) => `${"../".repeat(n)}${p}`),
  relPath.map((p) => `${p}/..`), // `..` after a name that may be a link (the chain)
  relPath.map((p) => `${p}/../..`),
  fc.tuple(relPath, fc.integer({ min: 1, max: 3 }), relPath).map(([p, n, q]) => `${p}/${"../".repeat(n)}${q}`),
  fc.constant(CANARY), // absolute
  relPath.map((p) => `${CANARY}/${p}`),
);
const entry: fc.Arbitrary<RawEntry> = fc.oneof(
  relPath.map((p) => ({ path: p, type: "directory" as const })),
  fc.tuple(relPath, fc.uint8Array({ maxLength: 8 })).map(([p, d]) => ({ path: p, data: d })),
  fc.tuple(relPath, target).map(([p, t]) => ({ path: p, type: "symlink" as const, linkname: t })),
  fc.tuple(relPath, target).map(([p, t]) => ({ path: p, type: "symlink" as const, linkname: t })),
  fc.tuple(relPath, relPath).map(([p, t]) => ({ path: p, type: "hardlink" as const, linkname: t })),
);
// Links to directories followed by entries under them: a link, then files and dirs below its name.
const underLink: fc.Arbitrary<RawEntry[]> = fc
  .tuple(relPath, target, fc.array(fc.tuple(relPath, fc.boolean()), { minLength: 1, maxLength: 3 }))
  .map(([l, t, below]) => [{ path: l, type: "symlink" as const, linkname: t }, ...below.map(([p, dir]) => (dir ? { path: `${l}/${p}`, type: "directory" as const } : { path: `${l}/${p}`, data: new Uint8Array([1]) }))]);
const tree = fc.array(fc.oneof(entry.map((e) => [e]), underLink), { minLength: 1, maxLength: 8 }).map((groups) => groups.flat());

test("generated trees of dirs, files and chained links: nothing under the slot resolves outside it, nothing written outside (property)", () => {
  let refused = 0;
  let accepted = 0;
  fc.assert(
    fc.property(tree, (entries) => {
      const r = extract(entries);
      if (r.code === undefined) accepted++;
      else refused++;
      const p = problem(r);
      if (p) throw new Error(p);
    }),
    {
      numRuns: 400,
      examples: [
        [[{ path: "deep/dir/l", type: "symlink", linkname: "../.." }, { path: "evil", type: "symlink", linkname: "deep/dir/l/.." }]],
        [[{ path: "deep/dir/l", type: "symlink", linkname: "../.." }, { path: "evil", type: "symlink", linkname: "deep/dir/l/../../canary" }, { path: "evil/x", data: new Uint8Array([1]) }]],
        [[{ path: "l", type: "symlink", linkname: CANARY }, { path: "l/x", data: new Uint8Array([1]) }]],
      ],
    },
  );
  // the generator reaches both outcomes
  assert.ok(refused > 50 && accepted > 0, `${refused} refused, ${accepted} accepted`);
});

test("the issue's chain (`deep/dir/l -> ../..`, `evil -> deep/dir/l/..`) is refused and leaves the slot empty", () => {
  const r = extract([{ path: "deep/dir/l", type: "symlink", linkname: "../.." }, { path: "evil", type: "symlink", linkname: "deep/dir/l/.." }]);
  assert.ok(r.code === "E_OTA_MANIFEST_PATH" || r.code === "E_OTA_BUNDLE_LINK_ESCAPE", r.code);
  assert.equal(readdirSync(r.slot), []);
});

test("a link loop is refused with E_OTA_BUNDLE_LINK_LOOP; a file under a link with E_OTA_BUNDLE_LINK_ESCAPE", () => {
  assert.is(extract([{ path: "a", type: "symlink", linkname: "b" }, { path: "b", type: "symlink", linkname: "a" }]).code, "E_OTA_BUNDLE_LINK_LOOP");
  assert.is(extract([{ path: "d/x", data: new Uint8Array([1]) }, { path: "l", type: "symlink", linkname: "d" }, { path: "l/y", data: new Uint8Array([2]) }]).code, "E_OTA_BUNDLE_LINK_ESCAPE");
});

test("links inside the slot still work: a link to a directory, a link to that link, a climb back to the root", () => {
  const r = extract([
    { path: "d/x", data: new Uint8Array([1]) },
    { path: "l", type: "symlink", linkname: "d" },
    { path: "m", type: "symlink", linkname: "l/x" },
    { path: "deep/dir/up", type: "symlink", linkname: "../.." },
    { path: "deep/dir/h", type: "hardlink", linkname: "d/x" },
  ]);
  assert.is(r.code, undefined);
  const root = realpathSync.native(r.slot);
  assert.is(realpathSync.native(join(r.slot, "m")), join(root, "d", "x"));
  assert.is(realpathSync.native(join(r.slot, "deep/dir/up")), root);
});

test.run();
