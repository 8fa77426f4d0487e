/** The shared CBOR codec (RFC 8949): preferred serialization, round-trips, error codes, fuzz. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { decodeCbor, encodeCbor, type CborValue } from "../../codecs/index.js";
import { isRidgeError } from "../../core/index.js";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("RFC 8949 Appendix A examples: generate and parse", () => {
  const vectors: [CborValue, string][] = [
    [0, "00"], [23, "17"], [24, "1818"], [1000, "1903e8"], [1000000, "1a000f4240"], [-1, "20"], [-1000, "3903e7"],
    [18446744073709551615n, "1bffffffffffffffff"], [-18446744073709551616n, "3bffffffffffffffff"],
    [1.5, "f93e00"], [65504, "19ffe0"], [100000.5, "fa47c35040"], [1.1, "fb3ff199999999999a"], [5.960464477539063e-8, "f90001"],
    [false, "f4"], [true, "f5"], [null, "f6"], [undefined, "f7"], ["", "60"], ["IETF", "6449455446"], [hex("01020304"), "4401020304"],
    [[1, [2, 3]], "8201820203"], [new Map<CborValue, CborValue>([[1, 2], [3, 4]]), "a201020304"], [{ tag: 1, value: 1363896240 }, "c11a514b67b0"],
  ];
  for (const [v, h] of vectors) {
    assert.is(toHex(encodeCbor(v)), h, h);
    assert.equal(decodeCbor(hex(h)), { ok: true, value: v }, h);
  }
  assert.equal(decodeCbor(hex("f93c00")), { ok: true, value: 1 });
  assert.equal(decodeCbor(hex("9f018202039f0405ffff")), { ok: true, value: [1, [2, 3], [4, 5]] }, "indefinite arrays");
  assert.equal(decodeCbor(hex("7f657374726561646d696e67ff")), { ok: true, value: "streaming" }, "indefinite text");
});

test("integer-keyed maps stay plain Maps (SenML labels), negative keys included", () => {
  const m = new Map<CborValue, CborValue>([[-2, "urn:x:"], [0, "a"], [2, 1.5], ["vlo", "3:0"]]);
  const b = encodeCbor([m]);
  assert.is(toHex(b), "81a4216675726e3a783a00616102f93e0063766c6f63333a30");
  const d = decodeCbor(b);
  assert.ok(d.ok);
  if (d.ok) assert.equal(d.value, [m]);
});

test("errors have stable codes and byte offsets", () => {
  const code = (h: string) => {
    const r = decodeCbor(hex(h));
    return r.ok ? undefined : [r.code, r.offset];
  };
  assert.equal(code(""), ["E_CBOR_TRUNCATED", 0]);
  assert.equal(code("19"), ["E_CBOR_TRUNCATED", 1]);
  assert.equal(code("83010203"), undefined);
  assert.equal(code("830102"), ["E_CBOR_TRUNCATED", 0], "3 elements cannot fit in the 2 bytes left");
  assert.equal(code("811901"), ["E_CBOR_TRUNCATED", 2]);
  assert.equal(code("5a00000010"), ["E_CBOR_TRUNCATED", 0]);
  assert.equal(code("1c"), ["E_CBOR_MALFORMED", 0]);
  assert.equal(code("0000"), ["E_CBOR_MALFORMED", 1]);
  assert.equal(code("ff"), ["E_CBOR_MALFORMED", 0]);
  assert.equal(code("62c328"), ["E_CBOR_MALFORMED", 0]);
  assert.equal(code("a201020103"), ["E_CBOR_MALFORMED", 4]);
  assert.equal(code("f8ff"), ["E_CBOR_UNSUPPORTED", 0]);
  assert.equal(code("81".repeat(40) + "00")?.[0], "E_CBOR_DEPTH");
  try {
    encodeCbor(Symbol("x") as unknown as CborValue);
    assert.unreachable();
  } catch (e) {
    assert.ok(isRidgeError(e, "E_CBOR_ENCODE"));
  }
});

test("property: JSON-shaped values round-trip byte for byte", () => {
  const toCbor = (x: unknown): CborValue =>
    Array.isArray(x) ? x.map(toCbor) : x !== null && typeof x === "object" ? new Map(Object.entries(x).map(([k, v]) => [k, toCbor(v)])) : (x as CborValue);
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const c = toCbor(v);
      const d = decodeCbor(encodeCbor(c));
      return d.ok && JSON.stringify([...encodeCbor(d.value)]) === JSON.stringify([...encodeCbor(c)]);
    }),
    { numRuns: 200 },
  );
});

test("fuzz: the decoder is total over random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
      const r = decodeCbor(b);
      return r.ok || (typeof r.code === "string" && r.offset !== undefined && r.offset >= 0 && r.offset <= b.length);
    }),
    { numRuns: 5000 },
  );
});

test.run();
