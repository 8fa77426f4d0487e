import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { RidgeError } from "../../core/index.js";
import { crc16, crcMatches } from "../../drivers/modbus/crc16.js";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, pduLength, type Request, type Response } from "../../drivers/modbus/pdu.js";
import { RtuFramer, decodeRtu, encodeRtu } from "../../drivers/modbus/rtu-framer.js";
import { hex, toHex } from "../helpers/modbus.js";

interface PduExample {
  section: string;
  request: string;
  req: Record<string, unknown>;
  response: string;
  bits?: string;
  registers?: number[];
  written?: { address: number; quantity: number };
  exception?: number;
  code?: string;
}
const vectors = new URL("../vectors/modbus/", import.meta.url);
const pdus = (JSON.parse(readFileSync(new URL("pdu-examples.json", vectors), "utf8")) as { examples: PduExample[] }).examples;
const rtus = JSON.parse(readFileSync(new URL("rtu-frames.json", vectors), "utf8")) as { crcCheck: { ascii: string; crc: string }; frames: { what: string; adu: string; direction: "request" | "response" }[] };

const bitsOf = (s: string) => [...s].map((c) => c === "1");
function requestOf(e: PduExample): Request {
  const r = { ...e.req } as Record<string, unknown>;
  if (typeof r.values === "string") r.values = bitsOf(r.values);
  return r as unknown as Request;
}
function responseOf(e: PduExample, req: Request): Response {
  if (e.exception !== undefined) return { kind: "exception", fn: req.fn, exception: e.exception };
  if (e.bits) return { kind: "bits", fn: req.fn as 1 | 2, bits: bitsOf(e.bits) };
  if (e.registers) return { kind: "registers", fn: req.fn as 3 | 4 | 0x17, registers: e.registers };
  if (e.written) return { kind: "written", fn: req.fn as 0x0f | 0x10, ...e.written };
  if (req.fn === 5) return { kind: "coil", fn: 5, address: req.address, value: req.value };
  if (req.fn === 6) return { kind: "register", fn: 6, address: req.address, value: req.value };
  throw new Error(`no expected response for ${e.section}`);
}

test("CRC-16/MODBUS check value from the CRC catalogue", () => {
  assert.is(crc16(new TextEncoder().encode(rtus.crcCheck.ascii)), Number.parseInt(rtus.crcCheck.crc, 16));
});

test("spec PDU examples: parse, generate, round-trip (requests and responses)", () => {
  for (const e of pdus) {
    const req = requestOf(e);
    // generate
    assert.is(toHex(encodeRequest(req)), e.request, `${e.section}: encode request`);
    // parse
    const d = decodeRequest(hex(e.request));
    assert.ok(d.ok, `${e.section}: decode request`);
    if (d.ok) assert.equal(d.value, req, e.section);
    const res = responseOf(e, req);
    assert.is(toHex(encodeResponse(res)), e.response, `${e.section}: encode response`);
    const r = decodeResponse(hex(e.response), req);
    assert.ok(r.ok, `${e.section}: decode response`);
    if (r.ok) assert.equal(r.value, res, e.section);
    // round-trip through the RTU frame
    const adu = encodeRtu(0x11, encodeResponse(res));
    const back = decodeRtu(adu);
    assert.ok(back.ok && toHex(back.value.pdu) === e.response);
    // split chunks: request and response frames cut at every position
    for (const [dir, frame] of [["request", encodeRtu(0x11, hex(e.request))], ["response", adu]] as const) {
      for (let cut = 1; cut < frame.length; cut++) {
        const fr = new RtuFramer({ direction: dir, silenceMs: 1000 });
        const got = [...fr.push(frame.subarray(0, cut), 0), ...fr.push(frame.subarray(cut), 0)];
        assert.is(got.length, 1, `${e.section} ${dir} cut at ${cut}`);
        assert.is(toHex(got[0]!.pdu), dir === "request" ? e.request : e.response);
      }
    }
  }
});

test("spec exception example maps to its stable code", async () => {
  const { exceptionCode } = await import("../../drivers/modbus/pdu.js");
  const e = pdus.find((x) => x.exception !== undefined)!;
  const r = decodeResponse(hex(e.response));
  assert.ok(r.ok && r.value.kind === "exception");
  if (r.ok && r.value.kind === "exception") assert.is(exceptionCode(r.value.exception), e.code);
  assert.is(exceptionCode(0x0b), "E_MODBUS_GATEWAY_TARGET");
  assert.is(exceptionCode(0x01), "E_MODBUS_ILLEGAL_FUNCTION");
  assert.is(exceptionCode(0x42), "E_MODBUS_EXCEPTION");
});

test("published RTU frames: CRC holds, our encoder reproduces them, the framer finds them in any split", () => {
  for (const f of rtus.frames) {
    const adu = hex(f.adu);
    assert.ok(crcMatches(adu), `${f.what}: CRC`);
    const d = decodeRtu(adu);
    assert.ok(d.ok, f.what);
    if (!d.ok) continue;
    assert.is(toHex(encodeRtu(d.value.unit, d.value.pdu)), f.adu, `${f.what}: generate`);
    // split chunks: every cut position, and byte by byte
    for (let cut = 1; cut < adu.length; cut++) {
      const fr = new RtuFramer({ direction: f.direction, silenceMs: 1000 });
      const got = [...fr.push(adu.subarray(0, cut), 0), ...fr.push(adu.subarray(cut), 1)];
      assert.is(got.length, 1, `${f.what} cut at ${cut}`);
      assert.is(toHex(encodeRtu(got[0]!.unit, got[0]!.pdu)), f.adu);
    }
    const fr = new RtuFramer({ direction: f.direction, silenceMs: 1000 });
    const got = [...adu].flatMap((b, i) => fr.push(Uint8Array.of(b), i));
    assert.is(got.length, 1, `${f.what} byte by byte`);
  }
});

test("decoders reject malformed PDUs with typed codes", () => {
  const cases: [string, "req" | "res", string][] = [
    ["", "req", "E_MODBUS_LENGTH"],
    ["03 00 6B 00", "req", "E_MODBUS_LENGTH"],
    ["03 00 00 00 00", "req", "E_MODBUS_QUANTITY"],
    ["03 00 00 00 7E", "req", "E_MODBUS_QUANTITY"],
    ["05 00 01 12 34", "req", "E_MODBUS_VALUE"],
    ["10 00 01 00 02 03 00 0A 01", "req", "E_MODBUS_BYTE_COUNT"],
    ["2B 0E 01 00", "req", "E_MODBUS_ILLEGAL_FUNCTION"],
    ["03 06 02 2B 00", "res", "E_MODBUS_LENGTH"],
    ["03 05 02 2B 00 00 00", "res", "E_MODBUS_BYTE_COUNT"],
    ["01", "res", "E_MODBUS_LENGTH"],
    ["81 02 00", "res", "E_MODBUS_LENGTH"],
    ["2B 00", "res", "E_MODBUS_ILLEGAL_FUNCTION"],
  ];
  for (const [h, dir, code] of cases) {
    const r = dir === "req" ? decodeRequest(hex(h)) : decodeResponse(hex(h));
    assert.ok(!r.ok, `${h} should fail`);
    if (!r.ok) assert.is(r.code, code, h);
  }
  // answers checked against the request they answer
  const req: Request = { fn: 3, address: 0, quantity: 2 };
  const r1 = decodeResponse(hex("04 04 00 01 00 02"), req);
  assert.ok(!r1.ok && r1.code === "E_MODBUS_MISMATCH");
  const r2 = decodeResponse(hex("03 02 00 01"), req);
  assert.ok(!r2.ok && r2.code === "E_MODBUS_BYTE_COUNT");
  const r3 = decodeResponse(hex("06 00 01 00 04"), { fn: 6, address: 1, value: 3 });
  assert.ok(!r3.ok && r3.code === "E_MODBUS_MISMATCH");
  assert.not.ok(decodeRtu(hex("11 03 00 6B 00 03 76 88")).ok);
});

test("encoders refuse out-of-spec requests with E_MODBUS_REQUEST", () => {
  const bad: Request[] = [
    { fn: 3, address: 0, quantity: 126 },
    { fn: 1, address: 0, quantity: 2001 },
    { fn: 3, address: 65535, quantity: 2 },
    { fn: 6, address: 0, value: 70000 },
    { fn: 0x10, address: 0, values: [] },
    { fn: 0x10, address: 0, values: new Array<number>(124).fill(0) },
  ];
  for (const r of bad) {
    try {
      encodeRequest(r);
      assert.unreachable(JSON.stringify(r));
    } catch (e) {
      assert.ok(e instanceof RidgeError && e.code === "E_MODBUS_REQUEST", String(e));
    }
  }
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const arbRequest: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ fn: fc.constantFrom(1 as const, 2 as const), address: fc.integer({ min: 0, max: 60000 }), quantity: fc.integer({ min: 1, max: 2000 }) }),
  fc.record({ fn: fc.constantFrom(3 as const, 4 as const), address: fc.integer({ min: 0, max: 60000 }), quantity: fc.integer({ min: 1, max: 125 }) }),
  fc.record({ fn: fc.constant(5 as const), address: u16, value: fc.boolean() }),
  fc.record({ fn: fc.constant(6 as const), address: u16, value: u16 }),
  fc.record({ fn: fc.constant(0x0f as const), address: fc.integer({ min: 0, max: 60000 }), values: fc.array(fc.boolean(), { minLength: 1, maxLength: 1968 }) }),
  fc.record({ fn: fc.constant(0x10 as const), address: fc.integer({ min: 0, max: 60000 }), values: fc.array(u16, { minLength: 1, maxLength: 123 }) }),
  fc.record({
    fn: fc.constant(0x17 as const),
    readAddress: fc.integer({ min: 0, max: 60000 }),
    readQuantity: fc.integer({ min: 1, max: 125 }),
    writeAddress: fc.integer({ min: 0, max: 60000 }),
    values: fc.array(u16, { minLength: 1, maxLength: 121 }),
  }),
);

test("property: every request round-trips through PDU and RTU frame, split anywhere", () => {
  fc.assert(
    fc.property(arbRequest, fc.integer({ min: 1, max: 247 }), fc.nat(), (req, unit, cutSeed) => {
      const pdu = encodeRequest(req);
      const d = decodeRequest(pdu);
      assert.ok(d.ok);
      if (d.ok) assert.equal(d.value, { ...req });
      const adu = encodeRtu(unit, pdu);
      const cut = 1 + (cutSeed % (adu.length - 1));
      const fr = new RtuFramer({ direction: "request", silenceMs: 1000 });
      const got = [...fr.push(adu.subarray(0, cut), 0), ...fr.push(adu.subarray(cut), 0)];
      assert.is(got.length, 1);
      assert.is(got[0]!.unit, unit);
      assert.equal([...got[0]!.pdu], [...pdu]);
      assert.is(pduLength(pdu, 0, pdu.length, "request"), pdu.length);
    }),
    { numRuns: 400 },
  );
});

test("property: every response round-trips and answers its request", () => {
  fc.assert(
    fc.property(arbRequest, fc.integer({ min: 0, max: 0xffff }), (req, seed) => {
      let res: Response;
      switch (req.fn) {
        case 1:
        case 2:
          res = { kind: "bits", fn: req.fn, bits: Array.from({ length: req.quantity }, (_, i) => ((seed >> i % 16) & 1) === 1) };
          break;
        case 3:
        case 4:
          res = { kind: "registers", fn: req.fn, registers: Array.from({ length: req.quantity }, (_, i) => (seed * (i + 1)) & 0xffff) };
          break;
        case 0x17:
          res = { kind: "registers", fn: 0x17, registers: Array.from({ length: req.readQuantity }, (_, i) => (seed + i) & 0xffff) };
          break;
        case 5:
          res = { kind: "coil", fn: 5, address: req.address, value: req.value };
          break;
        case 6:
          res = { kind: "register", fn: 6, address: req.address, value: req.value };
          break;
        default:
          res = { kind: "written", fn: req.fn, address: req.address, quantity: req.values.length };
      }
      const pdu = encodeResponse(res);
      assert.is(pduLength(pdu, 0, pdu.length, "response"), pdu.length);
      const d = decodeResponse(pdu, req);
      assert.ok(d.ok, d.ok ? "" : d.reason);
      if (d.ok) assert.equal(d.value, { ...res });
    }),
    { numRuns: 400 },
  );
});

test("fuzz: decoders and framer are total over random bytes (typed results, no throw)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asResponse) => {
      const d = asResponse ? decodeResponse(bytes) : decodeRequest(bytes);
      if (!d.ok) assert.match(d.code, /^E_MODBUS_[A-Z_]+$/);
      const r = decodeRtu(bytes);
      if (!r.ok) assert.match(r.code, /^E_MODBUS_[A-Z_]+$/);
      const fr = new RtuFramer({ direction: asResponse ? "response" : "request", silenceMs: 2 });
      for (let i = 0; i < bytes.length; i += 7) fr.push(bytes.subarray(i, i + 7), i);
      assert.ok(fr.buffered <= 512);
    }),
    { numRuns: 3000 },
  );
  // mutate valid frames: flip one byte anywhere → the framer drops it (CRC) or, rarely, a valid frame survives
  fc.assert(
    fc.property(arbRequest, fc.nat(), fc.integer({ min: 1, max: 255 }), (req, at, x) => {
      const adu = encodeRtu(1, encodeRequest(req)).slice();
      adu[at % adu.length]! ^= x;
      const fr = new RtuFramer({ direction: "request", silenceMs: 1000 });
      const got = fr.push(adu, 0);
      for (const g of got) assert.ok(crcMatches(encodeRtu(g.unit, g.pdu)));
    }),
    { numRuns: 500 },
  );
});

test("property: noise before a response, then the response split anywhere: the response is found", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(0x11), fc.constant(0x03), fc.integer({ min: 0, max: 255 })), { maxLength: 24 }),
      fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 125 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (noise, registers, cuts) => {
        const adu = encodeRtu(0x11, encodeResponse({ kind: "registers", fn: 3, registers }));
        const wire = Uint8Array.from([...noise, ...adu]);
        const points = [...new Set(cuts.map((c) => c % wire.length))].sort((a, b) => a - b);
        const fr = new RtuFramer({ direction: "response", silenceMs: 1000 });
        fr.expect(0x11);
        const got: { unit: number; pdu: Uint8Array }[] = [];
        let from = 0;
        for (const p of [...points, wire.length]) {
          got.push(...fr.push(wire.subarray(from, p), 0));
          from = p;
        }
        const last = got.at(-1);
        assert.ok(last, `no frame after ${noise.length} noise bytes`);
        const d = decodeResponse(last.pdu);
        assert.ok(d.ok && d.value.kind === "registers");
        if (d.ok && d.value.kind === "registers") assert.equal(d.value.registers, registers);
      },
    ),
    { numRuns: 1000, seed: 20261124 },
  );
});

test("framer: noise before a frame, two frames in one chunk, a silence inside a frame", () => {
  const a = hex("11 03 06 AE 41 56 52 43 40 49 AD");
  const fr = new RtuFramer({ direction: "response", silenceMs: 2 });
  fr.expect(0x11);
  const got = fr.push(Uint8Array.from([0x00, 0xff, 0x11, 0x03, 0x99, ...a]), 0);
  assert.is(got.length, 1);
  assert.is(toHex(got[0]!.pdu), "03 06 AE 41 56 52 43 40");
  assert.ok(fr.stats.noiseBytes >= 3);
  assert.ok(fr.dirty);

  const any = new RtuFramer({ direction: "response", silenceMs: 2 });
  assert.is(any.push(Uint8Array.from([...a, ...a]), 0).length, 2);

  // §2.5.1.1: a gap longer than t3.5 inside a frame breaks it; the next full frame is still found
  const gap = new RtuFramer({ direction: "response", silenceMs: 2 });
  assert.is(gap.push(a.subarray(0, 5), 0).length, 0);
  assert.is(gap.push(a.subarray(5), 10).length, 0);
  assert.is(gap.stats.broken, 1);
  assert.is(gap.push(a, 20).length, 1);

  // a corrupted frame is counted as one CRC error
  const bad = a.slice();
  bad[4]! ^= 0x01;
  const c = new RtuFramer({ direction: "response", silenceMs: 2 });
  c.expect(0x11);
  assert.is(c.push(bad, 0).length, 0);
  assert.is(c.stats.crcErrors, 1);
});

test.run();
