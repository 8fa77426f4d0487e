// core/strict-json.ts: reads every valid JSON document as JSON.parse does (generated documents,
// pretty-printed and compact, with escapes and non-ASCII), and refuses what JSON.parse lets
// through or misreads: duplicate keys, nesting past the limit, non-integer spellings when integers
// are asked for, each with its code and the byte offset where it starts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { isDeepStrictEqual } from "node:util";
import { parseStrictJson, type StrictJsonCodes } from "../../core/strict-json.js";

const codes: StrictJsonCodes<"E_OTA_PARSE" | "E_OTA_JSON_DUPLICATE_KEY" | "E_OTA_JSON_DEPTH" | "E_OTA_JSON_NUMBER"> = {
  syntax: "E_OTA_PARSE",
  duplicateKey: "E_OTA_JSON_DUPLICATE_KEY",
  depth: "E_OTA_JSON_DEPTH",
  number: "E_OTA_JSON_NUMBER",
};
const read = (s: string | Uint8Array, o: { maxDepth?: number; numbers?: "any" | "integers" } = {}) => parseStrictJson(s, { codes, maxDepth: 64, ...o });

const json = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.string({ unit: "grapheme" }),
    fc.string({ unit: "binary" }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("v"), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("__proto__", "constructor", "a\u0000b", "é")), tie("v"), { maxKeys: 5 }),
  ),
})).v;

test("property: any document JSON.stringify writes reads back as JSON.parse reads it", () => {
  fc.assert(
    fc.property(json, fc.constantFrom(undefined, 1, "\t"), (v, indent) => {
      const text = JSON.stringify(v, null, indent);
      const r = read(text);
      assert.ok(r.ok, r.ok ? "" : r.reason);
      if (r.ok) assert.ok(isDeepStrictEqual(r.value, JSON.parse(text)), text);
    }),
    { numRuns: 400 },
  );
});

test("property: escapes, exponents and whitespace that JSON.stringify never writes read as JSON.parse reads them", () => {
  const token = fc.oneof(
    fc.constantFrom('"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"', '"\\uD800"', "1E+2", "-0.5e-3", "0", "-0", "1e0", "123456789012345678901234567890", "[ ]", "{ }", "true", "false", "null"),
    fc.string().map((s) => JSON.stringify(s)),
  );
  fc.assert(
    fc.property(fc.array(token, { maxLength: 6 }), fc.constantFrom(" ", "\n", "\r\n\t", ""), (items, ws) => {
      const text = `${ws}[${ws}${items.join(`${ws},${ws}`)}${ws}]${ws}`;
      const r = read(text);
      assert.ok(r.ok, r.ok ? "" : r.reason);
      if (r.ok) assert.ok(isDeepStrictEqual(r.value, JSON.parse(text)), text);
    }),
    { numRuns: 200 },
  );
});

test("property: what JSON.parse refuses is refused as syntax, never a throw", () => {
  const broken = fc.oneof(
    json.map((v) => JSON.stringify(v)).chain((s) => fc.nat(Math.max(0, s.length - 1)).map((i) => s.slice(0, i))),
    fc.string(),
    fc.constantFrom("[1,]", "{,}", '{"a" 1}', "01", "1.", ".5", "+1", "NaN", "[1] x", "'a'", '"\u0001"', '"\\x"', '"\\u12"', "\uFEFF1", "[", '{"a":'),
  );
  fc.assert(
    fc.property(broken, (text) => {
      let parsed = true;
      try {
        JSON.parse(text);
      } catch {
        parsed = false;
      }
      if (text.startsWith("\uFEFF")) parsed = false; // a BOM is not JSON text (RFC 8259 §8.1)
      const r = read(text);
      assert.is(r.ok, parsed, text);
      if (!r.ok) assert.is(r.code, "E_OTA_PARSE");
    }),
    { numRuns: 400 },
  );
  const bad = read(new Uint8Array([0x22, 0xff, 0x22]));
  assert.ok(!bad.ok && bad.code === "E_OTA_PARSE");
});

test("property: a key repeated in any one object, at any depth, is refused at the second key's byte offset", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 20 }), fc.string({ maxLength: 6 }), fc.boolean(), (depth, key, escaped) => {
      // the repeated spelling may differ (an escape) but it is the same key
      const second = escaped && key.length > 0 ? `"\\u${key.charCodeAt(0).toString(16).padStart(4, "0")}${JSON.stringify(key.slice(1)).slice(1)}` : JSON.stringify(key);
      const inner = `{${JSON.stringify(key)}:1,${JSON.stringify(`z${key}`)}:[],${second}:2}`;
      const text = "[".repeat(depth) + inner + "]".repeat(depth);
      const r = read(text);
      assert.ok(!r.ok && r.code === "E_OTA_JSON_DUPLICATE_KEY", text);
      if (!r.ok) assert.is(r.offset, Buffer.byteLength(text.slice(0, depth + inner.lastIndexOf(second + ":"))));
      // the same keys in sibling objects are fine
      assert.ok(read(`[${inner.replace(second, () => JSON.stringify(`${key}x`))},${inner.replace(second, () => JSON.stringify(`${key}y`))}]`).ok);
    }),
    { numRuns: 200 },
  );
});

test("property: nesting deeper than maxDepth is refused (E_OTA_JSON_DEPTH); up to it, accepted", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.array(fc.constantFrom("[", "{"), { minLength: 40, maxLength: 40 }), (limit, depth, opens) => {
      const open = opens.slice(0, depth);
      const text = open.map((c) => (c === "[" ? "[" : '{"k":')).join("") + "0" + [...open].reverse().map((c) => (c === "[" ? "]" : "}")).join("");
      const r = read(text, { maxDepth: limit });
      if (depth <= limit) assert.ok(r.ok, text);
      else assert.ok(!r.ok && r.code === "E_OTA_JSON_DEPTH", text);
    }),
    { numRuns: 300 },
  );
  // a hostile depth returns, it does not overflow the stack
  const deep = read("[".repeat(1_000_000), { maxDepth: 32 });
  assert.ok(!deep.ok && deep.code === "E_OTA_JSON_DEPTH" && deep.offset === 32);
});

test("property: with numbers: integers, only plain safe integers pass; every other spelling is refused where it starts", () => {
  const nonInteger = fc.oneof(
    fc.integer({ min: -1000, max: 1000 }).map((n) => `${n}.0`),
    fc.integer({ min: 0, max: 1000 }).map((n) => `${n}e0`),
    fc.integer({ min: 1, max: 9 }).map((n) => `${n}E+1`),
    fc.constantFrom("-0", "1.5", "9007199254740992", "-9007199254740992", "1e400", "0.0"),
  );
  fc.assert(
    fc.property(fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), nonInteger, fc.string({ maxLength: 5 }), (good, bad, pad) => {
      const ok = read(`{"a":${good}}`, { numbers: "integers" });
      assert.ok(ok.ok && (ok.value as { a: number }).a === good);
      const prefix = `{"p":${JSON.stringify(pad)},"version":`;
      const r = read(`${prefix}${bad}}`, { numbers: "integers" });
      assert.ok(!r.ok && r.code === "E_OTA_JSON_NUMBER", bad);
      if (!r.ok) assert.is(r.offset, Buffer.byteLength(prefix));
      // without the option the same text reads as JSON.parse reads it
      const any = read(`${prefix}${bad}}`);
      assert.ok(any.ok && Object.is((any.value as { version: number }).version, JSON.parse(`${prefix}${bad}}`).version));
    }),
    { numRuns: 300 },
  );
});

test("__proto__ is an own key, as in JSON.parse, never the prototype", () => {
  const r = read('{"__proto__":{"polluted":1}}');
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(Object.getPrototypeOf(r.value), Object.prototype);
  assert.equal(Object.keys(r.value as object), ["__proto__"]);
  assert.is(({} as { polluted?: number }).polluted, undefined);
});

test.run();
