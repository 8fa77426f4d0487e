// Canonical JSON as TUF signs it (OLPC dialect): vectors, and agreement with @tufjs/canonical-json
// (the independent encoder tuf-js verifies with) over random JSON values.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createRequire } from "node:module";
import { canonicalJson } from "../../core/canonical-json.js";
import { compareVersions } from "../../ota/version-order.js";
import { isRidgeError } from "../../core/index.js";

const require = createRequire(import.meta.url);
const { canonicalize } = require("@tufjs/canonical-json") as { canonicalize(v: unknown): string };

test("vectors: sorted keys, no whitespace, only backslash and quote escaped", () => {
  assert.is(canonicalJson({ b: 1, a: [true, null, "x"] }), '{"a":[true,null,"x"],"b":1}');
  assert.is(canonicalJson('a"b\\c\nd'), '"a\\"b\\\\c\nd"');
  assert.is(canonicalJson({ z: { y: {}, x: [] } }), '{"z":{"x":[],"y":{}}}');
  assert.is(canonicalJson(-7), "-7");
});

test("floats and non-JSON values are refused with E_CANONICAL_JSON", () => {
  for (const v of [1.5, NaN, Infinity, () => 1, 10n]) {
    try {
      canonicalJson({ v });
      assert.unreachable();
    } catch (e) {
      assert.ok(isRidgeError(e, "E_CANONICAL_JSON"));
    }
  }
});

test("property: same bytes as @tufjs/canonical-json for any integer JSON", () => {
  const json = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: "small" }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(fc.string(), tie("v"), { maxKeys: 4 })),
  })).v;
  fc.assert(fc.property(json, (v) => canonicalJson(v) === canonicalize(v)), { numRuns: 500 });
});

test("version order: numeric parts, pre-releases before releases", () => {
  assert.is(compareVersions("1.10.0", "1.9.9"), 1);
  assert.is(compareVersions("2.0.0-rc.1", "2.0.0"), -1);
  assert.is(compareVersions("2.0.0-rc.2", "2.0.0-rc.10"), -1);
  assert.is(compareVersions("1.0", "1.0.0"), 0);
  assert.is(compareVersions("x", "1"), undefined);
});

test.run();
