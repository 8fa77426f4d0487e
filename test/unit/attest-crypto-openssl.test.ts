/**
 * P-256 and Ed25519 verification moved to Node's OpenSSL: for generated signatures, mutations,
 * high-S forms, raw and DER encodings and hostile keys it answers exactly what the pure-JS curves
 * answer (the reference here), so speed changed and nothing else.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { isCanonicalP256Der } from "../../attest/crypto/openssl-verify.js";
import { decodeSignatureDer, digest, encodeSignatureDer, generateKeyPair, sign, signatureCandidates, signatureToRaw, verify, verifyDigest, verifyHashed } from "../../attest/index.js";

const N = p256.Point.Fn.ORDER;
const p256Keys = Array.from({ length: 3 }, () => generateKeyPair("ecdsa-p256-sha256"));
const edKeys = Array.from({ length: 3 }, () => generateKeyPair("ed25519"));

function nobleP256(pub: Uint8Array, hash: "sha256" | "sha384" | "sha512", msg: Uint8Array, sig: Uint8Array): boolean {
  return signatureCandidates(sig).some((c) => {
    if (c.r < 1n || c.s < 1n || c.r >= N || c.s >= N) return false;
    try {
      return p256.verify(signatureToRaw(c), digest(hash, msg), pub, { prehash: false, lowS: false, format: "compact" });
    } catch {
      return false;
    }
  });
}

const mutate = (b: Uint8Array, at: number, x: number): Uint8Array => {
  const c: Uint8Array = Uint8Array.from(b);
  if (c.length) c[at % c.length] = c[at % c.length]! ^ (x || 1);
  return c;
};

test("P-256: OpenSSL path = pure-JS reference over generated signatures, high-S, raw/DER forms, mutations and bad keys", () => {
  fc.assert(
    fc.property(
      fc.nat(2),
      fc.uint8Array({ maxLength: 80 }),
      fc.constantFrom("der", "raw", "high-s-der", "high-s-raw"),
      fc.option(fc.tuple(fc.constantFrom("sig", "msg", "key"), fc.nat(200), fc.integer({ min: 1, max: 255 })), { nil: undefined }),
      fc.constantFrom("sha256", "sha384", "sha512"),
      (ki, msg, form, mut, hash) => {
        const kp = p256Keys[ki]!;
        const der = hash === "sha256" ? sign("ecdsa-p256-sha256", kp.privateKey, msg) : new Uint8Array(p256.sign(digest(hash, msg), kp.privateKey, { format: "der", prehash: false }));
        let { r, s } = signatureCandidates(der)[0]!;
        if (form.startsWith("high-s")) s = N - s;
        let sig: Uint8Array = form.endsWith("raw") ? signatureToRaw({ r, s }) : encodeSignatureDer(r, s);
        let m: Uint8Array = msg;
        let pub: Uint8Array = kp.publicKey;
        if (mut?.[0] === "sig") sig = mutate(sig, mut[1], mut[2]);
        if (mut?.[0] === "msg") m = mutate(m.length ? m : new Uint8Array(1), mut[1], mut[2]);
        if (mut?.[0] === "key") pub = mutate(pub, mut[1], mut[2]);
        const want = nobleP256(pub, hash, m, sig);
        assert.is(verifyHashed("ecdsa-p256-sha256", pub, hash, m, sig), want);
        assert.is(verifyDigest("ecdsa-p256-sha256", pub, digest(hash, m), sig), want);
        if (hash === "sha256") assert.is(verify("ecdsa-p256-sha256", pub, m, sig), want);
        if (!mut) assert.ok(want, "an unmutated signature verifies");
      },
    ),
    { numRuns: 300 },
  );
});

test("P-256: r or s of 0, n, or beyond 2^256 never verify (no wrap-around in the DER handed to OpenSSL)", () => {
  const kp = p256Keys[0]!;
  const msg = new Uint8Array([1, 2, 3]);
  const { r, s } = signatureCandidates(sign("ecdsa-p256-sha256", kp.privateKey, msg))[0]!;
  for (const [rr, ss] of [[0n, s], [r, 0n], [r + N, s], [r, s + N], [r + (1n << 256n), s], [N, s]] as const) {
    assert.not.ok(verify("ecdsa-p256-sha256", kp.publicKey, msg, encodeSignatureDer(rr, ss)), `r=${rr} s=${ss}`);
  }
});

test("Ed25519: OpenSSL path = pure-JS reference over generated signatures, mutations, wrong lengths and bad keys", () => {
  fc.assert(
    fc.property(
      fc.nat(2),
      fc.uint8Array({ maxLength: 80 }),
      fc.option(fc.tuple(fc.constantFrom("sig", "msg", "key", "short"), fc.nat(200), fc.integer({ min: 1, max: 255 })), { nil: undefined }),
      (ki, msg, mut) => {
        const kp = edKeys[ki]!;
        let sig: Uint8Array = sign("ed25519", kp.privateKey, msg);
        let m: Uint8Array = msg;
        let pub: Uint8Array = kp.publicKey;
        if (mut?.[0] === "sig") sig = mutate(sig, mut[1], mut[2]);
        if (mut?.[0] === "msg") m = mutate(m.length ? m : new Uint8Array(1), mut[1], mut[2]);
        if (mut?.[0] === "key") pub = mutate(pub, mut[1], mut[2]);
        if (mut?.[0] === "short") sig = sig.subarray(0, mut[1] % 64);
        let want: boolean;
        try {
          want = sig.length === 64 && ed25519.verify(sig, m, pub);
        } catch {
          want = false;
        }
        assert.is(verify("ed25519", pub, m, sig), want);
        if (!mut) assert.ok(want);
      },
    ),
    { numRuns: 300 },
  );
});

test("the DER handed to OpenSSL as it is: exactly the canonical encodings of in-range (r, s)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 74 }), fc.bigInt({ min: 0n, max: (1n << 257n) }), fc.bigInt({ min: 0n, max: (1n << 257n) }), (junk, r, s) => {
      for (const sig of [junk, encodeSignatureDer(r, s), Uint8Array.of(0x30, junk.length, ...junk)]) {
        const d = decodeSignatureDer(sig);
        const canonical = d !== undefined && d.r >= 1n && d.s >= 1n && d.r < N && d.s < N && Buffer.from(encodeSignatureDer(d.r, d.s)).equals(Buffer.from(sig));
        assert.is(isCanonicalP256Der(sig), canonical, Buffer.from(sig).toString("hex"));
      }
    }),
    { numRuns: 500 },
  );
});

test.run();
