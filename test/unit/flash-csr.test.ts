// attest/crypto's DER writer (X.690) as the PKCS#10 request uses it, and the request (RFC 2986):
// byte vectors, structure, determinism.
// (test/integration/flash-identity-openssl.test.ts verifies the request with `openssl req -verify`.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { buildCsr, encodeRequestInfo, makeGatewayIdentity, CSR_OIDS } from "../../flash/index.js";
import { der } from "../../attest/index.js";

const { encodeLength: derLength, encodeOid: oid, encodeUtf8String: utf8String } = der;
const integer = (n: number) => der.encodeUnsignedInteger(BigInt(n));
const sequence = (...items: Uint8Array[]) => der.tlv(der.TAG.SEQUENCE, ...items);

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("DER lengths: short form below 128, minimal long form above (X.690 §8.1.3.4-5)", () => {
  assert.is(hex(derLength(0)), "00");
  assert.is(hex(derLength(127)), "7f");
  assert.is(hex(derLength(128)), "8180");
  assert.is(hex(derLength(255)), "81ff");
  assert.is(hex(derLength(256)), "820100");
  assert.is(hex(derLength(65536)), "83010000");
});

test("DER OIDs as RFC 5480/5758 and X.520 print them", () => {
  assert.is(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302"); // ecdsa-with-SHA256 (RFC 5758 §3.2)
  assert.is(hex(oid("1.2.840.10045.2.1")), "06072a8648ce3d0201"); // id-ecPublicKey (RFC 5480)
  assert.is(hex(oid("2.5.4.3")), "0603550403"); // id-at-commonName
  assert.is(hex(oid("1.2.840.113549.1.9.14")), "06092a864886f70d01090e"); // extensionRequest (RFC 2985)
  assert.is(hex(oid("1.3.6.1.5.5.7.3.2")), "06082b06010505070302"); // id-kp-clientAuth
});

test("DER integers are minimal two's complement", () => {
  assert.is(hex(integer(0)), "020100");
  assert.is(hex(integer(127)), "02017f");
  assert.is(hex(integer(128)), "02020080");
  assert.is(hex(integer(256)), "02020100");
  assert.is(hex(sequence(integer(0), utf8String("a"))), "30060201000c0161");
});

test("DER BIT STRING with no unused bits; SET and [0] tags; lengths are never negative", () => {
  assert.is(hex(der.encodeBitString(Uint8Array.of(0xab))), "030200ab");
  assert.is(hex(der.tlv(der.TAG.SET, utf8String("a"))), "31030c0161");
  assert.is(hex(der.tlv(der.TAG.CONTEXT_0)), "a000");
  assert.throws(() => derLength(-1), RangeError);
  // what the writer makes the reader takes back
  const t = der.readWhole(sequence(integer(128), oid("2.5.4.3")), der.TAG.SEQUENCE);
  assert.ok(t);
  const kids = der.readChildren(t.value);
  assert.is(der.decodeUnsignedInteger(kids![0]!.value), 128n);
  assert.is(der.decodeOid(kids![1]!.value), "2.5.4.3");
});

test("property: long-form lengths round-trip", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (n) => {
      const b = derLength(n);
      if (n < 128) return b.length === 1 && b[0] === n;
      const k = b[0]! & 0x7f;
      let v = 0;
      for (let i = 1; i <= k; i++) v = v * 256 + b[i]!;
      return v === n && b[1] !== 0 && k === b.length - 1;
    }),
  );
});

test("CertificationRequestInfo: v1, subject O/OU/CN, SPKI, extensionRequest with clientAuth", () => {
  const spki = Uint8Array.from(Buffer.from("3059301306072a8648ce3d020106082a8648ce3d03010703420004" + "11".repeat(64), "hex"));
  const info = encodeRequestInfo({ commonName: "gw-1", organization: "Ridgeline", organizationalUnit: "rpi5" }, spki);
  const h = hex(info);
  assert.ok(h.startsWith("30"), "SEQUENCE");
  assert.ok(h.includes("020100"), "version v1(0)");
  assert.ok(h.includes(hex(oid(CSR_OIDS.commonName)) + "0c0467772d31"), "CN=gw-1 as UTF8String");
  assert.ok(h.includes(hex(spki)), "the SPKI as given");
  assert.ok(h.includes("a0"), "attributes [0]");
  assert.ok(h.includes(hex(oid(CSR_OIDS.clientAuth))));
  assert.ok(h.includes("300e0603551d0f0101ff040403020780"), "keyUsage critical digitalSignature");
});

test("the request is signed over the info with the identity key (node:crypto verifies)", () => {
  const id = makeGatewayIdentity({ commonName: "gw-sig" });
  const der = Uint8Array.from(Buffer.from(id.csrPem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
  const info = encodeRequestInfo({ commonName: "gw-sig" }, Uint8Array.from(createPublicKey(id.publicKeyPem).export({ format: "der", type: "spki" })));
  const infoStart = der.indexOf(0x30, 1);
  assert.is(hex(der.subarray(infoStart, infoStart + info.length)), hex(info));
  // signatureAlgorithm then BIT STRING (0 unused bits) holding the DER ECDSA-Sig-Value
  const rest = der.subarray(infoStart + info.length);
  assert.is(hex(rest.subarray(0, 12)), "300a06082a8648ce3d040302");
  const sig = rest.subarray(12 + 2 + 1);
  assert.ok(nodeVerify("sha256", info, createPublicKey(id.publicKeyPem), Buffer.from(sig)));
});

test("same key and subject give the same request (RFC 6979); another key another one", () => {
  const a = makeGatewayIdentity({ commonName: "gw-x", organization: "Ridgeline" });
  const again = makeGatewayIdentity({ commonName: "gw-x", organization: "Ridgeline" }, a.privateKeyPem);
  assert.ok(again.reused);
  assert.is(again.csrPem, a.csrPem);
  assert.is(again.privateKeyPem, a.privateKeyPem);
  const b = makeGatewayIdentity({ commonName: "gw-x", organization: "Ridgeline" });
  assert.is.not(b.csrPem, a.csrPem);
  const sig = (info: Uint8Array) => Uint8Array.of(0x30, 0, ...info.subarray(0, 0));
  assert.ok(buildCsr({ subject: { commonName: "c" }, spki: Uint8Array.of(0x30, 0), sign: sig }).length > 10);
});

test.run();
