// Issue 16 item 6 (bundle half): two entries claiming one path as different kinds. fast-check
// picks two claims on a name (a directory, a file, a symlink, a hard link, or an entry under it that
// makes it a directory) in every order, at any depth, among unrelated entries, as real bundles.
// Property: the pair is refused exactly when the claims differ (directories may repeat), always
// with an E_OTA_BUNDLE_* code (never a raw EEXIST/ENOTDIR) whose message names the path, and a
// refused bundle leaves the slot empty.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { errorCode } from "../../core/index.js";
import { tempDir } from "../../peers/process.js";
import { bundleOf, type RawEntry } from "../helpers/ota-tar.js";

const outer = tempDir("ridge-ota-collision-");
test.after(() => outer.cleanup());

type Claim = "dir" | "file" | "symlink" | "hardlink" | "file-under" | "dir-under";
const CLAIMS: Claim[] = ["dir", "file", "symlink", "hardlink", "file-under", "dir-under"];

function entryFor(claim: Claim, x: string): RawEntry {
  switch (claim) {
    case "dir":
      return { path: x, type: "directory" };
    case "file":
      return { path: x, data: new Uint8Array([7]) };
    case "symlink":
      return { path: x, type: "symlink", linkname: "f" }; // the same text as the hard link, so one manifest entry lists both
    case "hardlink":
      return { path: x, type: "hardlink", linkname: "f" };
    case "file-under":
      return { path: `${x}/y`, data: new Uint8Array([8]) };
    case "dir-under":
      return { path: `${x}/y`, type: "directory" };
  }
}

/** What each claim says `x` and `x/y` are: refused iff some path gets two claims that are not both directories. */
function shouldRefuse(a: Claim, b: Claim): boolean {
  const kinds = (c: Claim): [string, string | undefined] => (c === "file-under" ? ["dir", "file"] : c === "dir-under" ? ["dir", "dir"] : [c, undefined]);
  const [ax, ay] = kinds(a);
  const [bx, by] = kinds(b);
  if (!(ax === "dir" && bx === "dir")) return true;
  return ay !== undefined && by !== undefined && !(ay === "dir" && by === "dir");
}

function extract(entries: RawEntry[]): { code: string | undefined; message: string; slot: string } {
  const slot = join(mkdtempSync(join(outer.dir, "run-")), "slot");
  const x = new BundleExtractor(slot);
  try {
    x.push(bundleOf(entries));
    x.finish();
    return { code: undefined, message: "", slot };
  } catch (e) {
    return { code: errorCode(e), message: e instanceof Error ? e.message : String(e), slot };
  }
}

// unrelated entries before and between the two claims (disjoint sets: they never collide themselves)
const noise = (paths: string[], dirs: string[]): fc.Arbitrary<RawEntry[]> =>
  fc.subarray([...paths.map((p): RawEntry => ({ path: p, data: new Uint8Array([1]) })), ...dirs.map((p): RawEntry => ({ path: p, type: "directory" }))]);
const before = noise(["n1", "n2/z"], ["m"]);
const between = noise(["q/r/s"], ["m/k"]);

test("every order of two claims on one path: refused with an E_OTA_BUNDLE_* code naming it, the slot emptied; directories may repeat (property)", () => {
  for (const a of CLAIMS)
    for (const b of CLAIMS)
      fc.assert(
        fc.property(fc.constantFrom("x", "p/x"), before, between, (x, pre, mid) => {
          const entries = [{ path: "f", data: new Uint8Array([9]) }, ...pre, entryFor(a, x), ...mid, entryFor(b, x)];
          const r = extract(entries);
          if (!shouldRefuse(a, b)) {
            assert.is(r.code, undefined, `${a} then ${b} at ${x}: ${r.message}`);
            return;
          }
          assert.ok(r.code === "E_OTA_BUNDLE_COLLISION" || r.code === "E_OTA_BUNDLE_DUPLICATE" || r.code === "E_OTA_BUNDLE_LINK_ESCAPE", `${a} then ${b} at ${x}: ${r.code} ${r.message}`);
          assert.ok(r.message.includes(`"${x}`), `the message names ${x}: ${r.message}`);
          assert.equal(readdirSync(r.slot), [], `${a} then ${b}: the refused bundle left files in the slot`);
        }),
        { numRuns: 4 },
      );
});

test("the issue's case: a directory then a symlink of the same name is E_OTA_BUNDLE_COLLISION, not EEXIST", () => {
  const r = extract([{ path: "f", data: new Uint8Array([1]) }, { path: "d/y", data: new Uint8Array([2]) }, { path: "d", type: "symlink", linkname: "f" }]);
  assert.is(r.code, "E_OTA_BUNDLE_COLLISION");
  assert.match(r.message, /"d"/);
  assert.equal(readdirSync(r.slot), []);
});

test.run();
