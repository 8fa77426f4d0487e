import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { decodeTlv, encodeTlv, tlvToValues, valuesToTlv, decodeTlvValue, encodeTlvValue } from "../../drivers/lwm2m/tlv.js";
import { decodeSenmlJson, decodeSenmlCbor, decodeCbor } from "../../codecs/index.js";
import { senmlToValues, valuesToSenml } from "../../drivers/lwm2m/senml-values.js";
import { decodeLwm2mJson, encodeLwm2mJson } from "../../drivers/lwm2m/lwm2m-json.js";
import { decodeContent, encodeContent, ContentFormat } from "../../drivers/lwm2m/content-format.js";
import { typeOfPath, fieldName } from "../../drivers/lwm2m/object-registry.js";
import { parseLinkFormat, formatLinkFormat, declaredObjects } from "../../drivers/lwm2m/link-format.js";
import type { ResourceValue } from "../../drivers/lwm2m/value.js";

const load = <T>(p: string) => JSON.parse(readFileSync(new URL(`../vectors/lwm2m/${p}`, import.meta.url), "utf8")) as T;
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const utf8 = (s: string) => new TextEncoder().encode(s);
const pairs = (vs: ResourceValue[]) => vs.map((v) => [v.path, v.value]);

const TLV = load<{ vectors: { name: string; path: string; hex: string; values: [string, unknown][] }[]; malformed: string[] }>("tlv.json");
for (const v of TLV.vectors) {
  test(`TLV parse: ${v.name}`, () => {
    const d = decodeTlv(hex(v.hex));
    assert.ok(d.ok);
    if (!d.ok) return;
    const vals = tlvToValues(d.value, v.path, typeOfPath);
    assert.ok(vals.ok, JSON.stringify(vals));
    if (vals.ok) assert.equal(pairs(vals.value), v.values);
  });
  test(`TLV generate/round-trip: ${v.name}`, () => {
    const d = decodeTlv(hex(v.hex));
    assert.ok(d.ok);
    if (d.ok) assert.is(toHex(encodeTlv(d.value)), v.hex);
  });
}

test("TLV generate from values (Device object) equals the spec bytes", () => {
  const v = TLV.vectors[0]!;
  const values = v.values.map(([path, value]) => ({ path, value: value as number | string }));
  assert.is(toHex(valuesToTlv(values, "/3/0", typeOfPath)), v.hex);
});

for (const m of TLV.malformed) {
  test(`TLV malformed ${m}`, () => {
    const d = decodeTlv(hex(m));
    assert.is(d.ok, false);
  });
}

test("TLV typed values: bad widths are errors, not exceptions", () => {
  assert.is(decodeTlvValue(hex("010203"), "integer").ok, false);
  assert.is(decodeTlvValue(hex("01"), "float").ok, false);
  assert.is(decodeTlvValue(hex("02"), "boolean").ok, false);
  assert.is(decodeTlvValue(hex("ff"), "string").ok, false);
  assert.equal(decodeTlvValue(hex("ff"), "unsignedInteger"), { ok: true, value: 255 });
  assert.equal(decodeTlvValue(hex("00030001"), "objlnk"), { ok: true, value: { objectId: 3, instanceId: 1 } });
});

// The RFC 8428 JSON/CBOR/malformed vectors of senml.json run against the shared codec in
// codecs-senml.test.ts; here, the LwM2M mapping of SenML to resource values.
const SENML = load<{
  cbor: { hex: string }[];
  lwm2m: { name: string; format: number; path: string; text: string; values: [string, unknown][] }[];
}>("senml.json");
for (const v of SENML.lwm2m) {
  test(`LwM2M SenML: ${v.name}`, () => {
    const r = decodeContent(v.format, utf8(v.text), v.path, typeOfPath);
    assert.ok(r.ok);
    if (r.ok) assert.equal(pairs(r.value), v.values);
    assert.equal(r.ok && r.value.map((x) => fieldName(x.path)), ["temperature", "temperature_sensorUnits"]);
  });
}

test("SenML vlo (Objlnk) and read lists: LwM2M values from a pack", () => {
  const d = decodeSenmlJson(utf8('[{"bn":"/3/0/","n":"0","vs":"ACME"},{"n":"1"},{"bn":"/9000/0/","n":"1","vlo":"3:0"}]'));
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(senmlToValues(d.value, typeOfPath), { ok: true, value: [{ path: "/3/0/0", value: "ACME" }, { path: "/9000/0/1", value: { objectId: 3, instanceId: 0 } }] });
  assert.equal(valuesToSenml([{ path: "/9000/0/1", value: { objectId: 3, instanceId: 0 } }]), [{ n: "/9000/0/1", extra: { vlo: "3:0" } }]);
  const both = decodeSenmlJson(utf8('[{"n":"/9000/0/1","v":1,"vlo":"3:0"}]'));
  assert.ok(both.ok);
  if (both.ok) assert.is(senmlToValues(both.value, typeOfPath).ok, false, "vlo and v in one record");
  assert.equal(decodeContent(ContentFormat.senmlJson, utf8("[]"), "/3303", typeOfPath), { ok: true, value: [] }, "an object without instances");
});

test("SenML base value, base time and relative time (RFC 8428 §4.6)", () => {
  const d = decodeSenmlJson(utf8('[{"bn":"/3303/0/","bt":-10,"bv":20,"n":"5700","v":1.5},{"n":"5700","t":5}]'));
  assert.ok(d.ok);
  if (!d.ok) return;
  const r = senmlToValues(d.value, typeOfPath, 1_700_000_000);
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.value, [{ path: "/3303/0/5700", value: 21.5, time: 1_699_999_990 }, { path: "/3303/0/5700", value: 20, time: 1_699_999_995 }]);
});

const LJ = load<{ vectors: { path: string; text: string; values: [string, unknown][] }[] }>("lwm2m-json.json");
test("LwM2M JSON: spec Device example parses, generates, round-trips", () => {
  const v = LJ.vectors[0]!;
  const d = decodeLwm2mJson(utf8(v.text));
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(pairs(d.value), v.values);
  const again = decodeLwm2mJson(encodeLwm2mJson(d.value, v.path));
  assert.ok(again.ok);
  if (again.ok) assert.equal(again.value, d.value);
  assert.is(new TextDecoder().decode(encodeLwm2mJson(d.value, "/3/0")), v.text);
});

test("text/plain and opaque by resource type; unknown content format is an error", () => {
  assert.equal(decodeContent(ContentFormat.text, utf8("21.5"), "/3303/0/5700", typeOfPath), { ok: true, value: [{ path: "/3303/0/5700", value: 21.5 }] });
  assert.equal(decodeContent(ContentFormat.text, utf8("1"), "/3311/0/5850", typeOfPath), { ok: true, value: [{ path: "/3311/0/5850", value: true }] });
  assert.is(decodeContent(ContentFormat.text, utf8("abc"), "/3/0/9", typeOfPath).ok, false);
  assert.equal(decodeContent(ContentFormat.opaque, hex("0102"), "/5/0/0", typeOfPath), { ok: true, value: [{ path: "/5/0/0", value: hex("0102") }] });
  const bad = decodeContent(9999, utf8("x"), "/3/0/0", typeOfPath);
  assert.is(bad.ok, false);
});

test("object registry: names and field mapping", () => {
  assert.is(fieldName("/3303/0/5700"), "temperature");
  assert.is(fieldName("/3303/2/5700"), "temperature_2");
  assert.is(fieldName("/3304/0/5700"), "humidity");
  assert.is(fieldName("/3316/0/5700"), "voltage");
  assert.is(fieldName("/3323/0/5700"), "pressure");
  assert.is(fieldName("/3328/0/5700"), "power");
  assert.is(fieldName("/3/0/9"), "batteryLevel");
  assert.is(fieldName("/3/0/7/1"), "powerSourceVoltage_0_1");
  assert.is(fieldName("/5/0/3"), "state");
  assert.is(fieldName("/9999/0/1"), "r_9999_0_1");
  assert.is(typeOfPath("/3/0/13"), "time");
});

test("link format: LwM2M registration payload", () => {
  const r = parseLinkFormat('</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</3303/0>;ver=1.1,</3303/1>');
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value[0], { target: "/", attrs: { rt: "oma.lwm2m", ct: "11543" } });
  assert.equal(declaredObjects(r.value), ["/1/0", "/3/0", "/3303/0", "/3303/1"]);
  assert.ok(parseLinkFormat(formatLinkFormat(r.value)).ok);
  assert.is(parseLinkFormat("</1/0").ok, false);
  assert.is(parseLinkFormat("garbage").ok, false);
  // a client's attribute named __proto__ is an attribute, not the attrs object's prototype
  const h = parseLinkFormat('</3/0>;__proto__="x";constructor');
  assert.ok(h.ok);
  if (h.ok) {
    assert.equal(Object.keys(h.value[0]!.attrs), ["__proto__", "constructor"]);
    assert.is(Object.getPrototypeOf(h.value[0]!.attrs), Object.prototype);
    assert.is(h.value[0]!.attrs["__proto__"], "x");
  }
});

const arbValue = (path: string) =>
  fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ path, value })),
    fc.string({ maxLength: 20 }).map((value) => ({ path, value })),
    fc.boolean().map((value) => ({ path, value })),
  );

test("property: TLV values round-trip through the object instance encoding", () => {
  // untyped resources: integers/strings/booleans come back as bytes, so type them with a table
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }).chain((ids) => fc.tuple(...ids.map((id) => arbValue(`/9000/0/${id}`)))), (values) => {
      const types = new Map(values.map((v) => [v.path, typeof v.value === "number" ? ("integer" as const) : typeof v.value === "string" ? ("string" as const) : ("boolean" as const)]));
      const typeOf = (p: string) => types.get(p);
      const bytes = valuesToTlv(values, "/9000/0", typeOf);
      const d = decodeTlv(bytes);
      if (!d.ok) return false;
      const back = tlvToValues(d.value, "/9000/0", typeOf);
      return back.ok && JSON.stringify(back.value) === JSON.stringify(values);
    }),
    { numRuns: 300 },
  );
});

// The SenML CBOR/JSON and CBOR round-trip properties moved to codecs-senml.test.ts and
// codecs-cbor.test.ts with the codec they test.

test("property: every format round-trips LwM2M values it can carry", () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), (x) => {
      const values = [{ path: "/3303/0/5700", value: x }];
      for (const f of [ContentFormat.text, ContentFormat.tlv, ContentFormat.senmlJson, ContentFormat.senmlCbor, ContentFormat.lwm2mJson]) {
        const path = f === ContentFormat.text ? "/3303/0/5700" : "/3303/0";
        const r = decodeContent(f, encodeContent(f, values, path, typeOfPath), path, typeOfPath);
        if (!r.ok || r.value.length !== 1) return false;
        const got = r.value[0]!.value as number;
        // TLV keeps float32 when exact, else float64: always exact
        if (!(Object.is(got, x) || got === x)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

test("fuzz: every LwM2M decoder is total over random bytes", () => {
  const formats = [0, 42, 110, 112, 11542, 11543, 1542, 1543, 60, 7];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.constantFrom(...formats), fc.constantFrom("/3", "/3/0", "/3/0/6", "/3303/0/5700", "/3/0/6/1"), (b, f, p) => {
      decodeContent(f, b, p, typeOfPath);
      decodeTlv(b);
      decodeCbor(b);
      decodeSenmlCbor(b);
      decodeSenmlJson(b);
      decodeLwm2mJson(b);
      parseLinkFormat(new TextDecoder().decode(b));
      return true;
    }),
    { numRuns: 3000 },
  );
  // mutated valid TLV and SenML CBOR
  const seeds = [hex(TLV.vectors[0]!.hex), hex(SENML.cbor[0]!.hex)];
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(20), (seed, pos, byte, cut) => {
      const m = seed.slice(0, seed.length - cut);
      if (m.length) m[pos % m.length] = byte;
      const t = decodeTlv(m);
      if (t.ok) tlvToValues(t.value, "/3/0", typeOfPath);
      decodeSenmlCbor(m);
      return true;
    }),
    { numRuns: 3000 },
  );
});

test("encode helpers reject programmer misuse with codes", () => {
  try {
    encodeTlvValue(1.5, "integer");
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "E_LWM2M_TLV_INTEGER");
  }
  void senmlToValues;
  void valuesToSenml;
});

test.run();
