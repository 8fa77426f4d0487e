/**
 * The Modbus TCP frame codec (drivers/modbus/mbap.ts) against the Implementation Guide's example
 * and the Application Protocol's PDU examples wrapped in MBAP headers: parse, generate,
 * round-trip, split chunks; hostile streams from fast-check end in E_MODBUS_MBAP, never a throw.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { MAX_TCP_ADU, MBAP_HEADER, MbapFramer, decodeMbap, encodeMbap, type MbapFrame } from "../../drivers/modbus/mbap.js";
import { hex, toHex } from "../helpers/modbus.js";

const vectors = new URL("../vectors/modbus/", import.meta.url);
const mbap = JSON.parse(readFileSync(new URL("mbap-frames.json", vectors), "utf8")) as {
  frames: { what: string; adu: string; transaction: number; unit: number; pdu: string }[];
  bad: { what: string; adu: string; code: string }[];
};
const pdus = (JSON.parse(readFileSync(new URL("pdu-examples.json", vectors), "utf8")) as { examples: { section: string; request: string; response: string }[] }).examples;

/** Every frame of `bytes` fed in chunks cut at `cuts`. */
function feed(bytes: Uint8Array, cuts: number[]): { frames: MbapFrame[]; errors: string[] } {
  const f = new MbapFramer();
  const frames: MbapFrame[] = [];
  const errors: string[] = [];
  let at = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < bytes.length).sort((a, b) => a - b), bytes.length]) {
    const r = f.push(bytes.subarray(at, c));
    frames.push(...r.frames);
    if (r.error) errors.push(r.error.code);
    at = c;
  }
  return { frames, errors };
}

test("the guide's example frames: parse, generate, round-trip, byte by byte", () => {
  for (const v of mbap.frames) {
    const adu = hex(v.adu);
    const d = decodeMbap(adu);
    assert.ok(d.ok, v.what);
    if (!d.ok) continue;
    assert.is(d.value.transaction, v.transaction, v.what);
    assert.is(d.value.unit, v.unit, v.what);
    assert.is(toHex(d.value.pdu), toHex(hex(v.pdu)), v.what);
    assert.is(toHex(encodeMbap(v.transaction, v.unit, hex(v.pdu))), toHex(adu), v.what);
    const bytewise = feed(adu, [...adu.keys()]);
    assert.equal(bytewise.errors, []);
    assert.is(bytewise.frames.length, 1);
    assert.is(toHex(bytewise.frames[0]!.pdu), toHex(hex(v.pdu)));
  }
});

test("every Application Protocol PDU example in an MBAP header, and all of them back to back in one stream", () => {
  const all: Uint8Array[] = [];
  let tid = 0xfff0; // crosses the 16-bit wrap
  for (const e of pdus) {
    for (const p of [e.request, e.response]) {
      const pdu = hex(p);
      const adu = encodeMbap(tid, 17, pdu);
      assert.is(adu.length, MBAP_HEADER + pdu.length);
      assert.is((adu[4]! << 8) | adu[5]!, pdu.length + 1, `${e.section}: length = unit id + PDU`);
      const d = decodeMbap(adu);
      assert.ok(d.ok && d.value.transaction === tid && toHex(d.value.pdu) === toHex(pdu), e.section);
      all.push(adu);
      tid = (tid + 1) & 0xffff;
    }
  }
  const stream = Uint8Array.from(all.flatMap((a) => [...a]));
  for (const cuts of [[], [1, 2, 3, 5, 7, 8], [6, 7, 13, 14, 40], Array.from({ length: 30 }, (_, i) => i * 7)]) {
    const r = feed(stream, cuts);
    assert.equal(r.errors, []);
    assert.is(r.frames.length, all.length);
    r.frames.forEach((f, i) => assert.is(toHex(encodeMbap(f.transaction, f.unit, f.pdu)), toHex(all[i]!)));
  }
});

test("headers §3.1.3 rules out put the stream out of step: one E_MODBUS_MBAP, then nothing until reset", () => {
  for (const v of mbap.bad) {
    const adu = hex(v.adu);
    const d = decodeMbap(adu);
    assert.ok(!d.ok && d.code === v.code, `${v.what}: ${JSON.stringify(d)}`);
    const f = new MbapFramer();
    const good = encodeMbap(1, 1, hex("03 02 00 05"));
    const r1 = f.push(Uint8Array.from([...good, ...adu]));
    assert.is(r1.frames.length, 1, `${v.what}: the frame before the garbage is delivered`);
    assert.is(r1.error?.code, v.code, v.what);
    assert.ok(f.desynchronised);
    assert.is(f.push(good).frames.length, 0, "no frames once out of step");
    f.reset();
    assert.is(f.push(good).frames.length, 1, "a new connection starts afresh");
  }
  // the message names the byte offset in the stream
  const f = new MbapFramer();
  f.push(encodeMbap(1, 1, hex("03 02 00 05")));
  const r = f.push(hex("00 02 00 07 00 06 01"));
  assert.match(r.error!.reason, /byte 11: protocol id 0x0007/);
});

test("a frame's length field decides where it ends: short and long whole-ADU decodes fail with E_MODBUS_LENGTH", () => {
  const adu = encodeMbap(9, 1, hex("03 02 00 05"));
  const short = decodeMbap(adu.subarray(0, adu.length - 1));
  const long = decodeMbap(Uint8Array.from([...adu, 0]));
  assert.ok(!short.ok && short.code === "E_MODBUS_LENGTH");
  assert.ok(!long.ok && long.code === "E_MODBUS_LENGTH");
  assert.ok(!decodeMbap(new Uint8Array(3)).ok);
  // the largest frame: 253-byte PDU
  const big = encodeMbap(0xffff, 0xff, new Uint8Array(253).fill(3));
  assert.is(big.length, MAX_TCP_ADU);
  assert.ok(decodeMbap(big).ok);
});

const frameArb = fc.record({ transaction: fc.integer({ min: 0, max: 0xffff }), unit: fc.integer({ min: 0, max: 255 }), pdu: fc.uint8Array({ minLength: 1, maxLength: 253 }) });

test("property: any frames, cut anywhere, come out whole and in order", () => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat({ max: 2200 }), { maxLength: 40 }), (frames, cuts) => {
      const stream = Uint8Array.from(frames.flatMap((f) => [...encodeMbap(f.transaction, f.unit, f.pdu)]));
      const r = feed(stream, cuts);
      assert.equal(r.errors, []);
      assert.is(r.frames.length, frames.length);
      r.frames.forEach((f, i) => {
        assert.is(f.transaction, frames[i]!.transaction);
        assert.is(f.unit, frames[i]!.unit);
        assert.is(toHex(f.pdu), toHex(frames[i]!.pdu));
      });
    }),
    { numRuns: 300 },
  );
});

test("fuzz: hostile byte streams never throw; frames have legal lengths; a bad header ends the stream", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
      const f = new MbapFramer();
      let errors = 0;
      for (const c of chunks) {
        const r = f.push(c);
        for (const fr of r.frames) assert.ok(fr.pdu.length >= 1 && fr.pdu.length <= 253);
        if (r.error) {
          errors++;
          assert.is(r.error.code, "E_MODBUS_MBAP");
        }
        assert.ok(f.buffered < MAX_TCP_ADU, "never holds more than one partial frame");
      }
      assert.ok(errors <= 1);
      for (const c of chunks) {
        const d = decodeMbap(c);
        if (!d.ok) assert.ok(d.code === "E_MODBUS_MBAP" || d.code === "E_MODBUS_LENGTH");
      }
    }),
    { numRuns: 500 },
  );
});

test.run();
