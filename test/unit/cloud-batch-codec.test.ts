/** Uplink batch payloads: JSON lines (RFC 8259 objects, "\n" separated) and CBOR arrays (RFC 8949). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { decodeBatch, encodeBatch, fitBatch, maxPayloadFor, publishPacketSize } from "../../runtime/cloud/batch-codec.js";
import type { Event } from "../../core/event.js";

const e1: Event = { id: "pump-3/1", ts: 1, device: "pump-3", kind: "alarm", payload: { hi: true } };

test("jsonl: byte-exact vector", () => {
  const out = encodeBatch("jsonl", [JSON.stringify(e1)]);
  assert.is(out.toString("utf8"), '{"id":"pump-3/1","ts":1,"device":"pump-3","kind":"alarm","payload":{"hi":true}}\n');
  assert.is(encodeBatch("jsonl", []).length, 0);
});

test("cbor: byte-exact vector (RFC 8949 §3: array(1) of map(5))", () => {
  const out = encodeBatch("cbor", [JSON.stringify({ id: "a", ts: 1, device: "d", kind: "k", payload: {} })]);
  // 0x81 array(1), 0xa5 map(5), 0x62 "id" 0x61 "a", 0x62 "ts" 0x01, 0x66 "device" 0x61 "d", 0x64 "kind" 0x61 "k", 0x67 "payload" 0xa0
  assert.is(Buffer.from(out).toString("hex"), "81a5626964616162747301666465766963656164646b696e64616b677061796c6f6164a0");
});

const event = fc.record({
  id: fc.string({ minLength: 1 }),
  ts: fc.integer({ min: 0, max: 2 ** 48 }),
  device: fc.string(),
  kind: fc.constantFrom("telemetry", "state", "alarm", "x"),
  payload: fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null))),
});

test("round trip, both formats", () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 20 }), fc.constantFrom("jsonl" as const, "cbor" as const), (evs, fmt) => {
      const d = decodeBatch(fmt, encodeBatch(fmt, evs.map((e) => JSON.stringify(e))));
      return d.ok && JSON.stringify(d.value) === JSON.stringify(evs);
    }),
  );
});

test("a __proto__ key comes back as an own key, in both formats (not as the object's prototype)", () => {
  const ev = JSON.parse('{"id":"a","ts":0,"device":"d","kind":"telemetry","payload":{"__proto__":{"x":1},"y":2}}') as Event;
  for (const fmt of ["jsonl", "cbor"] as const) {
    const d = decodeBatch(fmt, encodeBatch(fmt, [JSON.stringify(ev)]));
    assert.ok(d.ok);
    if (!d.ok) continue;
    const p = d.value[0]!.payload;
    assert.is(Object.getPrototypeOf(p), Object.prototype, fmt);
    assert.equal(Object.keys(p), ["__proto__", "y"], fmt);
    assert.is(JSON.stringify(d.value[0]), JSON.stringify(ev), fmt);
  }
});

test("hostile input never throws", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom("jsonl" as const, "cbor" as const), (bytes, fmt) => {
      const d = decodeBatch(fmt, bytes);
      return d.ok === true || (d.code === "E_CLOUD_BATCH" && typeof d.reason === "string");
    }),
    { numRuns: 2000 },
  );
  const bad = decodeBatch("jsonl", Buffer.from('{"id":1}\n'));
  assert.is(bad.ok, false);
  assert.is(decodeBatch("cbor", Buffer.from([0xa0])).ok, false);
});

// MQTT 5 §3.3 / 3.1.1 §3.3, QoS 1, no properties: fixed header 1 byte + Remaining Length (§1.5.5:
// 1 byte up to 127, 2 up to 16,383, 3 up to 2,097,151), topic length 2 + topic, packet id 2,
// (MQTT 5 only) property length 1, payload.
test("PUBLISH packet size: vectors at the Remaining Length boundaries", () => {
  // topic "a/b" (3 bytes), payload 10: remaining 2+3+2+1+10 = 18 → 1 + 1 + 18
  assert.is(publishPacketSize(3, 10, true), 20);
  assert.is(publishPacketSize(3, 10, false), 19);
  // remaining exactly 127 (one length byte) and 128 (two)
  assert.is(publishPacketSize(3, 127 - 8, true), 1 + 1 + 127);
  assert.is(publishPacketSize(3, 128 - 8, true), 1 + 2 + 128);
  assert.is(publishPacketSize(3, 16_383 - 8, true), 1 + 2 + 16_383);
  assert.is(publishPacketSize(3, 16_384 - 8, true), 1 + 3 + 16_384);
  assert.is(publishPacketSize(3, 2_097_152 - 8, true), 1 + 4 + 2_097_152);
});

test("maxPayloadFor: the largest payload whose PUBLISH fits, for any limit and topic", () => {
  assert.is(maxPayloadFor(8192, "ridge/gw-1/up/telemetry".length, true), 8192 - 1 - 2 - 2 - 23 - 2 - 1);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3_000_000 }), fc.integer({ min: 1, max: 300 }), fc.boolean(), (limit, topic, v5) => {
      const p = maxPayloadFor(limit, topic, v5);
      if (p === 0) return publishPacketSize(topic, 1, v5) > limit;
      return publishPacketSize(topic, p, v5) <= limit && publishPacketSize(topic, p + 1, v5) > limit;
    }),
  );
});

const line = (i: number, extra = "") => JSON.stringify({ id: `d/${i}`, ts: i, device: "d", kind: "telemetry", payload: { i, extra } });

test("fitBatch: the longest prefix whose encoded bytes fit (UTF-8 bytes, not string length)", () => {
  const lines = [line(1, "é".repeat(100)), line(2, "é".repeat(100)), line(3)];
  const one = Buffer.byteLength(lines[0]!) + 1;
  assert.ok(one > lines[0]!.length + 1, "multi-byte text");
  const f = fitBatch("jsonl", lines, 2 * one - 1);
  assert.is(f.count, 1);
  assert.ok(f.fits);
  assert.is(f.payload.length, one);
  assert.is(fitBatch("jsonl", lines, 2 * one).count, 2);
  const too = fitBatch("jsonl", lines, one - 1);
  assert.equal({ count: too.count, fits: too.fits }, { count: 1, fits: false });
});

test("fitBatch: property — fits within the budget, decodes to the prefix, and one more would not fit", () => {
  fc.assert(
    fc.property(fc.constantFrom("jsonl" as const, "cbor" as const), fc.array(fc.string({ maxLength: 200, unit: "grapheme" }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 4000 }), (format, texts, budget) => {
      const lines = texts.map((t, i) => line(i, t));
      const f = fitBatch(format, lines, budget);
      const d = decodeBatch(format, f.payload);
      if (!d.ok || d.value.length !== f.count) return false;
      if (d.value.some((e, i) => e.id !== `d/${i}`)) return false;
      if (!f.fits) return f.count === 1 && f.payload.length > budget;
      if (f.payload.length > budget) return false;
      return f.count === lines.length || encodeBatch(format, lines.slice(0, f.count + 1)).length > budget;
    }),
    { numRuns: 300 },
  );
});

test.run();
