/** "Did you mean": edit distance with transpositions, and suggestions only for plausible typos. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { closest, didYouMean, editDistance } from "../../core/index.js";

test("edit distance: insert, delete, substitute and swap are one edit each", () => {
  assert.is(editDistance("trail", "trail"), 0);
  assert.is(editDistance("trail", "trial"), 1);
  assert.is(editDistance("modbus", "modbu"), 1);
  assert.is(editDistance("mqtt", "mqtts"), 1);
  assert.is(editDistance("tumbling", "tumblimg"), 1);
  assert.is(editDistance("", "abc"), 3);
});

test("edit distance is a metric on generated strings (symmetric, zero only for equals, within lengths)", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
      const d = editDistance(a, b);
      assert.is(d, editDistance(b, a));
      assert.is(d === 0, a === b);
      assert.ok(d <= Math.max(a.length, b.length) && d >= Math.abs(a.length - b.length));
    }),
  );
});

test("suggestions: close typos only, case-insensitive; none for unrelated names", () => {
  assert.is(closest("modbsu", ["mqtt", "modbus", "lwm2m"]), "modbus");
  assert.is(closest("MQTT", ["mqtt", "sim"]), "mqtt");
  assert.is(closest("canbus", ["mqtt", "modbus", "lwm2m", "sim"]), undefined);
  assert.is(didYouMean("trial", ["trail"]), '; did you mean "trail"?');
  assert.is(didYouMean("x", ["trail"]), "");
});

test.run();
