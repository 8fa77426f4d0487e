import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { decodeCoapMessage, encodeCoapMessage, type CoapMessage, type CoapType, unknownCriticalOptions, uriPath, uriQuery, codeString, codeFromString, encodeUint, decodeUint } from "../../codecs/index.js";
import { decodeBlockOption, encodeBlockOption, blockSlice } from "../../codecs/index.js";

interface Vec {
  messages: { name: string; hex: string; message: { type: number; code: number; messageId: number; token: string; options: [number, string][]; payload: string } }[];
  malformed: { hex: string; code: string }[];
  block: { hex: string; num: number; more: boolean; size: number }[];
  blockMalformed: string[];
}
const V = JSON.parse(readFileSync(new URL("../vectors/coap/rfc7252.json", import.meta.url), "utf8")) as Vec;
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const msgOf = (m: Vec["messages"][number]["message"]): CoapMessage => ({
  type: m.type as CoapType,
  code: m.code,
  messageId: m.messageId,
  token: hex(m.token),
  options: m.options.map(([number, v]) => ({ number, value: hex(v) })),
  payload: hex(m.payload),
});
const norm = (m: CoapMessage) => ({ ...m, token: toHex(m.token), payload: toHex(m.payload), options: m.options.map((o) => [o.number, toHex(o.value)]) });

for (const v of V.messages) {
  test(`vector parse: ${v.name}`, () => {
    const r = decodeCoapMessage(hex(v.hex));
    assert.ok(r.ok, JSON.stringify(r));
    if (r.ok) assert.equal(norm(r.value), norm(msgOf(v.message)));
  });
  test(`vector generate + round-trip: ${v.name}`, () => {
    const b = encodeCoapMessage(msgOf(v.message));
    assert.is(toHex(b), v.hex);
    const r = decodeCoapMessage(b);
    assert.ok(r.ok && toHex(encodeCoapMessage(r.value)) === v.hex);
  });
}

test("vector helpers: path, query, code strings", () => {
  const r = decodeCoapMessage(hex(V.messages[4]!.hex));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(uriPath(r.value), "/rd");
  assert.equal(uriQuery(r.value), ["ep=node1", "lt=300"]);
  assert.is(codeString(0x45), "2.05");
  assert.is(codeFromString("4.04"), 0x84);
  assert.equal([...encodeUint(0)], []);
  assert.equal([...encodeUint(1024)], [4, 0]);
  assert.is(decodeUint(hex("0102030405")), undefined);
});

for (const m of V.malformed) {
  test(`malformed ${m.hex || "(empty)"} → ${m.code}`, () => {
    const r = decodeCoapMessage(hex(m.hex));
    assert.is(r.ok, false);
    if (!r.ok) assert.is(r.code, m.code);
  });
}

test("unknown critical option is reported (4.02 Bad Option), elective is not", () => {
  const m: CoapMessage = { type: 0, code: 1, messageId: 9, token: new Uint8Array(0), options: [{ number: 2049, value: hex("01") }, { number: 2050, value: hex("01") }], payload: new Uint8Array(0) };
  const r = decodeCoapMessage(encodeCoapMessage(m));
  assert.ok(r.ok);
  if (r.ok) assert.equal(unknownCriticalOptions(r.value), [2049]);
});

for (const b of V.block) {
  test(`block option ${b.num}/${b.more ? 1 : 0}/${b.size}: parse, generate`, () => {
    const d = decodeBlockOption(hex(b.hex));
    assert.ok(d.ok);
    if (d.ok) assert.equal(d.value, { num: b.num, more: b.more, size: b.size });
    assert.is(toHex(encodeBlockOption(b)), b.hex);
  });
}
for (const b of V.blockMalformed) test(`block option malformed ${b}`, () => assert.is(decodeBlockOption(hex(b)).ok, false));

test("blockSlice cuts a body into blocks", () => {
  const body = new Uint8Array(100).map((_, i) => i);
  assert.is(blockSlice(body, 0, 64)!.more, true);
  assert.is(blockSlice(body, 1, 64)!.chunk.length, 36);
  assert.is(blockSlice(body, 1, 64)!.more, false);
  assert.is(blockSlice(body, 2, 64), undefined);
});

const arbMessage = fc.record({
  type: fc.constantFrom<CoapType>(0, 1, 2, 3),
  code: fc.integer({ min: 1, max: 255 }),
  messageId: fc.integer({ min: 0, max: 0xffff }),
  token: fc.uint8Array({ maxLength: 8 }),
  options: fc.array(fc.record({ number: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 6 }),
  payload: fc.uint8Array({ maxLength: 200 }),
});

test("property: decode(encode(m)) == m (options in wire order)", () => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      const sorted = { ...m, options: m.options.map((o, i) => ({ o, i })).sort((a, b) => a.o.number - b.o.number || a.i - b.i).map((x) => x.o) };
      const r = decodeCoapMessage(encodeCoapMessage(m));
      return r.ok && JSON.stringify(norm(r.value)) === JSON.stringify(norm(sorted));
    }),
    { numRuns: 500 },
  );
});

test("property: block option round-trip", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xfffff }), fc.boolean(), fc.constantFrom(16, 32, 64, 128, 256, 512, 1024), (num, more, size) => {
      const d = decodeBlockOption(encodeBlockOption({ num, more, size }));
      return d.ok && d.value.num === num && d.value.more === more && d.value.size === size;
    }),
  );
});

test("fuzz: random and mutated datagrams never throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const r = decodeCoapMessage(b);
      return typeof r.ok === "boolean";
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(arbMessage, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 255 }), fc.nat(40), (m, pos, byte, cut) => {
      const b = encodeCoapMessage(m);
      const mutated = b.slice(0, Math.max(0, b.length - cut));
      if (mutated.length) mutated[pos % mutated.length] = byte;
      const r = decodeCoapMessage(mutated);
      for (const x of [0, 1, 2, 3]) decodeBlockOption(mutated.subarray(x, x + 3));
      return typeof r.ok === "boolean";
    }),
    { numRuns: 3000 },
  );
});

test.run();
