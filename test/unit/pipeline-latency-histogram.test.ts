import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { LatencyHistogram } from "../../runtime/pipeline/latency-histogram.js";

function exactPercentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

test("percentiles match the exact ones within 0.1 % (property)", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 3_600_000_000 }), { minLength: 1, maxLength: 300 }), fc.constantFrom(0, 50, 90, 99, 99.9, 100), (xs, p) => {
      const h = new LatencyHistogram();
      for (const x of xs) h.recordValue(x);
      const got = h.getValueAtPercentile(p);
      const want = exactPercentile(xs, p);
      return got >= want && got <= Math.max(want * 1.001 + 1, want);
    }),
    { numRuns: 500 },
  );
});

test("every power-of-two boundary lands in a bucket that bounds it within 0.1 % (integer and float paths)", () => {
  for (let k = 10; k <= 42; k++)
    for (const v of [2 ** k - 1, 2 ** k, 2 ** k + 1]) {
      const h = new LatencyHistogram();
      h.recordValue(v);
      h.recordValue(0);
      const got = h.getValueAtPercentile(100);
      assert.ok(got >= v && got <= v * 1.001 + 1, `${v} -> ${got}`);
    }
});

test("exact below 2048, counts, reset, hostile values", () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 100; i++) h.recordValue(i);
  assert.is(h.getValueAtPercentile(50), 50);
  assert.is(h.getValueAtPercentile(99), 99);
  assert.is(h.totalCount, 100);
  h.recordValue(-5);
  h.recordValue(Number.NaN);
  h.recordValue(1e300);
  assert.is(h.totalCount, 103);
  h.reset();
  assert.is(h.totalCount, 0);
  assert.is(h.getValueAtPercentile(99), 0);
});

test.run();
