/** Uplink batch payloads: JSON lines (RFC 8259 objects, "\n" separated) and CBOR arrays (RFC 8949). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { decodeBatch, encodeBatch } from "../../runtime/cloud/batch-codec.js";
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
      return d.ok && JSON.stringify(d.events) === JSON.stringify(evs);
    }),
  );
});

test("a __proto__ key comes back as an own key, in both formats (not as the object's prototype)", () => {
  const ev = JSON.parse('{"id":"a","ts":0,"device":"d","kind":"telemetry","payload":{"__proto__":{"x":1},"y":2}}') as Event;
  for (const fmt of ["jsonl", "cbor"] as const) {
    const d = decodeBatch(fmt, encodeBatch(fmt, [JSON.stringify(ev)]));
    assert.ok(d.ok);
    if (!d.ok) continue;
    const p = d.events[0]!.payload;
    assert.is(Object.getPrototypeOf(p), Object.prototype, fmt);
    assert.equal(Object.keys(p), ["__proto__", "y"], fmt);
    assert.is(JSON.stringify(d.events[0]), JSON.stringify(ev), fmt);
  }
});

test("hostile input never throws", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom("jsonl" as const, "cbor" as const), (bytes, fmt) => {
      const d = decodeBatch(fmt, bytes);
      return d.ok === true || typeof d.reason === "string";
    }),
    { numRuns: 2000 },
  );
  const bad = decodeBatch("jsonl", Buffer.from('{"id":1}\n'));
  assert.is(bad.ok, false);
  assert.is(decodeBatch("cbor", Buffer.from([0xa0])).ok, false);
});

test.run();
