import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as c from "../../attest/crypto/index.js";
import { isRidgeError } from "../../core/index.js";
import {
  ED25519_RFC8032,
  EXTEND,
  P256_RFC6979,
  SM2_SYNTHETIC_QUOTE,
  SM2_VECTOR_A,
  SM2_VECTOR_B,
  SM3_KAT,
  SM4_KAT,
  SWTPM_ECDSA_QUOTE,
  SWTPM_SM2_QUOTE,
} from "../vectors/attestation/crypto-vectors.js";

const h = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const utf8 = (s: string) => new TextEncoder().encode(s);
const big = (s: string) => BigInt("0x" + s);
const cat = (...xs: Uint8Array[]) => Uint8Array.from(Buffer.concat(xs));

test("SM3 known answers (GB/T 32905 / OpenSSL evpmd_sm3)", () => {
  for (const v of SM3_KAT) assert.is(hex(c.sm3(h(v.input))), v.digest);
});

test("SM4 known answers ECB/CBC/CTR and round trip", () => {
  const { ecb, cbc, ctr } = SM4_KAT;
  assert.is(hex(c.sm4Encrypt("ecb", h(ecb.key), h(ecb.pt))), ecb.ct);
  assert.is(hex(c.sm4Encrypt("cbc", h(cbc.key), h(cbc.pt), { iv: h(cbc.iv) })), cbc.ct);
  assert.is(hex(c.sm4Encrypt("ctr", h(ctr.key), h(ctr.pt), { iv: h(ctr.iv) })), ctr.ct);
  assert.is(hex(c.sm4Decrypt("cbc", h(cbc.key), h(cbc.ct), { iv: h(cbc.iv) })), cbc.pt);
});

test("extend vectors (sha256 and sm3 banks)", () => {
  const ext = (alg: "sha256" | "sm3", old: Uint8Array, d: Uint8Array) => c.digest(alg, cat(old, d));
  const zero = new Uint8Array(32);
  assert.is(hex(ext("sha256", zero, zero)), EXTEND.sha256ZeroZero);
  assert.is(hex(ext("sha256", zero, c.sha256(utf8("abc")))), EXTEND.sha256Abc);
  assert.is(hex(ext("sm3", zero, c.sm3(utf8("abc")))), EXTEND.sm3Abc);
  let p: Uint8Array = zero, q: Uint8Array = zero;
  for (const name of EXTEND.chain) {
    p = ext("sm3", p, c.sm3(utf8(name)));
    q = ext("sha256", q, c.sha256(utf8(name)));
  }
  assert.is(hex(p), EXTEND.sm3Chain);
  assert.is(hex(q), EXTEND.sha256Chain);
});

test("SM2 vector A: public key, Z_A, e, signature with the standard's k, verify", () => {
  const v = SM2_VECTOR_A;
  const pub = c.publicKeyOf("sm2-sm3", h(v.d));
  assert.is(hex(pub), v.pub);
  assert.is(hex(c.sm2Za(pub, v.id)), v.za);
  assert.is(hex(c.sm2.messageE(pub, utf8(v.msg), v.id)), v.e);
  const sig = c.sm2.sign(h(v.d), utf8(v.msg), { id: v.id, k: big(v.k) });
  assert.is(sig.r, big(v.r));
  assert.is(sig.s, big(v.s));
  assert.is(hex(c.signatureToDer(sig)), v.der);
  assert.ok(c.verify("sm2-sm3", pub, utf8(v.msg), h(v.der)));
  assert.ok(c.verify("sm2-sm3", pub, utf8(v.msg), h(v.r + v.s)), "raw r||s accepted");
  assert.ok(c.verify("sm2-sm3", pub, utf8(v.msg), h(v.der), { id: utf8(v.id) }), "ID as bytes");
});

test("SM2 vector B on the standard's example curve", () => {
  const v = SM2_VECTOR_B;
  const curve = c.sm2Curve(v.curve);
  const pub = curve.publicKeyOf(h(v.d));
  assert.is(hex(pub), v.pub);
  assert.is(hex(curve.za(pub, v.id)), v.za);
  const sig = curve.sign(h(v.d), utf8(v.msg), { id: v.id, k: big(v.k) });
  assert.is(sig.r.toString(16), v.r);
  assert.is(sig.s.toString(16), v.s);
  assert.ok(curve.verify(pub, utf8(v.msg), sig, { id: v.id }));
  assert.not.ok(curve.verify(pub, utf8(v.msg), sig, { id: "ALICE123@YAHOO.COX" }));
});

test("SM2 negatives: wrong ID, empty ID, wrong key, flipped bits, r/s out of range, t = 0, bad key", () => {
  const v = SM2_VECTOR_A;
  const pub = h(v.pub);
  const m = utf8(v.msg);
  const sig = h(v.der);
  assert.not.ok(c.verify("sm2-sm3", pub, m, sig, { id: "1234567812345678x" }));
  assert.not.ok(c.verify("sm2-sm3", pub, m, sig, { id: "" }), "OpenSSL 3.0's empty default ID");
  const other = c.generateKeyPair("sm2-sm3");
  assert.not.ok(c.verify("sm2-sm3", other.publicKey, m, sig));
  assert.not.ok(c.verify("sm2-sm3", pub, utf8("message digesT"), sig));
  for (let i = 0; i < sig.length; i++) {
    const bad = Uint8Array.from(sig);
    bad[i]! ^= 0x01;
    assert.not.ok(c.verify("sm2-sm3", pub, m, bad), `flipped byte ${i}`);
  }
  const n = c.SM2P256V1.n;
  const r = big(v.r), s = big(v.s);
  const enc = (a: bigint, b: bigint) => c.encodeSignatureDer(a, b);
  for (const [a, b] of [[0n, s], [r, 0n], [r + n, s], [r, s + n], [n, s], [r, n], [r, n - r]] as const) {
    assert.not.ok(c.verify("sm2-sm3", pub, m, enc(a, b)), `r=${a.toString(16)} s=${b.toString(16)}`);
    assert.not.ok(c.sm2.verifyE(pub, h(v.e), { r: a, s: b }));
  }
  const offCurve = Uint8Array.from(pub);
  offCurve[64]! ^= 1;
  assert.not.ok(c.verify("sm2-sm3", offCurve, m, sig), "point not on the curve");
  assert.not.ok(c.verify("sm2-sm3", pub.subarray(0, 33), m, sig), "truncated key");
  assert.not.ok(c.verify("sm2-sm3", new Uint8Array(65), m, sig), "zero key");
  assert.not.ok(c.verify("sm2-sm3", pub, m, new Uint8Array(0)));
  assert.not.ok(c.verify("sm2-sm3", pub, m, h("3006020101020101ff")), "trailing garbage after DER");
  assert.throws(() => c.sign("sm2-sm3", h("ff".repeat(32)), m), /range/);
  const nMinus1 = h((n - 1n).toString(16));
  assert.throws(() => c.sm2.publicKeyOf(nMinus1), /range/, "d = n-1 is not a valid SM2 key");
});

test("SM2 digest mode (TPM): synthetic quote vector and mode confusion", () => {
  const v = SM2_SYNTHETIC_QUOTE;
  const pub = h(SM2_VECTOR_A.pub);
  const attest = h(v.attest);
  assert.is(hex(c.sm3(attest)), v.sm3Attest);
  const tpm = { r: big(v.tpmMode.r), s: big(v.tpmMode.s) };
  const gm = { r: big(v.gmMode.r), s: big(v.gmMode.s) };
  assert.ok(c.verifyDigest("sm2-sm3", pub, c.sm3(attest), c.signatureToDer(tpm)));
  assert.ok(c.verify("sm2-sm3", pub, attest, c.signatureToDer(gm)));
  assert.is(hex(c.sm2.messageE(pub, attest, SM2_VECTOR_A.id)), v.gmMode.e);
  // the standard's k reproduces both
  const sTpm = c.sm2.signE(h(SM2_VECTOR_A.d), c.sm3(attest), big(SM2_VECTOR_A.k));
  assert.equal(sTpm, tpm);
  // confusion is detected
  assert.not.ok(c.verify("sm2-sm3", pub, attest, c.signatureToDer(tpm)));
  assert.not.ok(c.verifyDigest("sm2-sm3", pub, c.sm3(attest), c.signatureToDer(gm)));
});

test("SM2 digest mode: real swtpm SM2 quote verifies only with e = SHA256(attest)", () => {
  const v = SWTPM_SM2_QUOTE;
  const { alg, publicKey } = c.publicKeyFromPem(v.akPem);
  assert.is(alg, "sm2-sm3");
  assert.is(hex(publicKey), "04" + v.x + v.y);
  const attest = h(v.attest);
  assert.is(hex(c.sha256(attest)), v.sha256Attest);
  const sigBytes = h(v.signature);
  const rs = cat(sigBytes.subarray(6, 38), sigBytes.subarray(40, 72)); // TPMT_SIGNATURE: alg, hash, TPM2B r, TPM2B s
  assert.ok(c.verifyDigest("sm2-sm3", publicKey, c.sha256(attest), rs));
  assert.not.ok(c.verify("sm2-sm3", publicKey, attest, rs), "GM mode must fail");
});

test("P-256: RFC 6979 vector with high S accepted, low-S twin accepted, our signatures verify", () => {
  const v = P256_RFC6979;
  assert.is(hex(c.publicKeyOf("ecdsa-p256-sha256", h(v.d))), v.pub);
  const m = utf8(v.msg);
  assert.ok(c.verify("ecdsa-p256-sha256", h(v.pub), m, h(v.r + v.s)), "high S raw");
  assert.ok(c.verify("ecdsa-p256-sha256", h(v.pub), m, c.encodeSignatureDer(big(v.r), big(v.s))), "high S DER");
  assert.ok(c.verify("ecdsa-p256-sha256", h(v.pub), m, h(v.r + v.lowS)), "low S twin");
  assert.not.ok(c.verify("ecdsa-p256-sha256", h(v.pub), utf8("samplf"), h(v.r + v.s)));
  const sig = c.sign("ecdsa-p256-sha256", h(v.d), m);
  assert.is(sig[0], 0x30, "DER");
  assert.ok(c.verify("ecdsa-p256-sha256", h(v.pub), m, sig));
  assert.ok(c.verifyDigest("ecdsa-p256-sha256", h(v.pub), c.sha256(m), c.signDigest("ecdsa-p256-sha256", h(v.d), c.sha256(m))));
});

test("P-256: real swtpm quote signature verifies over the TPMS_ATTEST bytes", () => {
  const v = SWTPM_ECDSA_QUOTE;
  const { alg, publicKey } = c.publicKeyFromPem(v.akPem);
  assert.is(alg, "ecdsa-p256-sha256");
  const sig = h(v.signature);
  const rs = cat(sig.subarray(6, 38), sig.subarray(40, 72));
  assert.ok(c.verify("ecdsa-p256-sha256", publicKey, h(v.attest), rs));
  const tampered = h(v.attest);
  tampered[10]! ^= 1;
  assert.not.ok(c.verify("ecdsa-p256-sha256", publicKey, tampered, rs));
});

test("Ed25519 RFC 8032 vectors", () => {
  for (const v of ED25519_RFC8032) {
    assert.is(hex(c.publicKeyOf("ed25519", h(v.secret))), v.pub);
    assert.is(hex(c.sign("ed25519", h(v.secret), h(v.msg))), v.sig);
    assert.ok(c.verify("ed25519", h(v.pub), h(v.msg), h(v.sig)));
    assert.not.ok(c.verify("ed25519", h(v.pub), utf8("x"), h(v.sig)));
    assert.not.ok(c.verify("ed25519", h(v.pub), h(v.msg), h(v.sig).subarray(1)));
  }
});

test("PEM: vector A key pair exports byte-identical to the standard's PEM and imports back", () => {
  const v = SM2_VECTOR_A;
  assert.is(c.privateKeyToPem("sm2-sm3", h(v.d)), v.privatePem);
  assert.is(c.publicKeyToPem("sm2-sm3", h(v.pub)), v.publicPem);
  const kp = c.privateKeyFromPem(v.privatePem);
  assert.is(kp.alg, "sm2-sm3");
  assert.is(hex(kp.privateKey), v.d);
  assert.is(hex(kp.publicKey), v.pub);
  for (const alg of c.SIG_ALGS) {
    const k = c.generateKeyPair(alg);
    const back = c.privateKeyFromPem(c.privateKeyToPem(alg, k.privateKey));
    assert.is(back.alg, alg);
    assert.is(hex(back.privateKey), hex(k.privateKey));
    const pub = c.publicKeyFromPem(c.publicKeyToPem(alg, k.publicKey));
    assert.is(pub.alg, alg);
    assert.is(hex(pub.publicKey), hex(k.publicKey));
  }
});

test("PEM: garbage and unsupported keys throw E_ATTEST_KEY_FORMAT", () => {
  const bad = [
    "",
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
    // P-384 SPKI header with a short body
    "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE\n-----END PUBLIC KEY-----\n",
  ];
  for (const pem of bad) {
    try {
      c.publicKeyFromPem(pem);
      assert.unreachable(`accepted ${JSON.stringify(pem)}`);
    } catch (e) {
      assert.ok(isRidgeError(e, "E_ATTEST_KEY_FORMAT"), String(e));
    }
  }
});

test("property: sign/verify round trip for every algorithm, and a changed message fails", () => {
  const keys = c.SIG_ALGS.map((alg) => c.generateKeyPair(alg));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 2 }), fc.string({ maxLength: 20 }), (msg, which, id) => {
      const k = keys[which]!;
      const sig = c.sign(k.alg, k.privateKey, msg, { id });
      if (!c.verify(k.alg, k.publicKey, msg, sig, { id })) return false;
      const other = Uint8Array.from([...msg, 1]);
      return !c.verify(k.alg, k.publicKey, other, sig, { id });
    }),
    { numRuns: 60 },
  );
});

test("fuzz: verify never throws on random signatures and keys", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.constantFrom(...c.SIG_ALGS), (sig, key, alg) => {
      const r1 = c.verify(alg, key, utf8("m"), sig);
      const r2 = c.verifyDigest(alg, key, new Uint8Array(32), sig);
      return r1 === false && r2 === false;
    }),
    { numRuns: 300 },
  );
});

test.run();
