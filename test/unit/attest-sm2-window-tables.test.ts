/**
 * The window-table path of SM2 verification (attest/crypto/sm2-window-tables.ts) against
 * @noble/curves' own arithmetic as the reference: s·G + t·P over random and edge scalars (carries,
 * all-ones windows, 0, 1, n−1), the doubling and opposite-point cases inside an addition, the
 * x ≥ n branch of the inversion-free x check, both curves (sm2p256v1, a = −3, and the standard's
 * example curve, general a); and sm2.verify with a key verified often (tables built) gives the
 * same answers as the noble-only path for good, mutated and hostile signatures.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { windowArithmetic } from "../../attest/crypto/sm2-window-tables.js";
import type { WindowTable } from "../../attest/crypto/sm2-window-tables.js";
import { SM2P256V1, encodeSignatureDer, generateKeyPair, sign, signatureCandidates, sm2, sm2Curve, verify } from "../../attest/crypto/index.js";
import type { CurveParams, SigParts } from "../../attest/crypto/index.js";
import { SM2_VECTOR_B } from "../vectors/attestation/crypto-vectors.js";

const h = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const utf8 = (s: string) => new TextEncoder().encode(s);

function setup(params: CurveParams) {
  const curve = sm2Curve(params);
  const { Point } = curve;
  const A = windowArithmetic(params, (v) => Point.Fp.inv(v));
  const affine = (J: { X: bigint; Y: bigint; Z: bigint }) => (J.Z === 0n ? undefined : A.normalize([J])[0]);
  const ref = (terms: [InstanceType<typeof Point>, bigint][]) => {
    let R = Point.ZERO;
    for (const [P, k] of terms) R = R.add(P.multiplyUnsafe(k));
    return R.is0() ? undefined : R.toAffine();
  };
  const table = (P: InstanceType<typeof Point>, W: number): WindowTable => {
    const { x, y } = P.toAffine();
    return A.buildTable(x, y, W);
  };
  return { curve, Point, A, affine, ref, table };
}

for (const [name, params] of [["sm2p256v1", SM2P256V1], ["example curve (GB/T 32918.2 A.2)", SM2_VECTOR_B.curve]] as const) {
  test(`${name}: s·G + t·P from window tables = noble, random and edge scalars, W 2..10`, () => {
    const { Point, A, affine, ref, table } = setup(params);
    const n = params.n;
    const P = Point.BASE.multiply(0x1234567890abcdefn);
    const tG = table(Point.BASE, 10);
    const tables = [2, 3, 6, 7].map((W) => [W, table(P, W)] as const);
    const edge = [0n, 1n, 2n, 3n, n - 1n, n - 2n, (n - 1n) / 2n, 2n ** 255n, 2n ** 128n - 1n, 2n ** 252n - 1n, 0x7f7f7f7fn, (1n << 64n) | 1n, n - (1n << 200n)];
    for (const [W, tP] of tables) {
      for (const s of edge) for (const t of [1n, n - 1n, s === 0n ? 1n : s]) {
        assert.equal(affine(A.mulAdd([[tG, s], [tP, t]])), ref([[Point.BASE, s], [P, t]]), `W=${W} s=${s.toString(16)} t=${t.toString(16)}`);
      }
    }
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: n - 1n }), fc.bigInt({ min: 0n, max: n - 1n }), fc.constantFrom(0, 1, 2, 3), (s, t, i) => {
        const [, tP] = tables[i]!;
        assert.equal(affine(A.mulAdd([[tG, s], [tP, t]])), ref([[Point.BASE, s], [P, t]]));
      }),
      { numRuns: 60 },
    );
    assert.throws(() => A.mulAdd([[tables[0]![1], 1n << 300n]]), /wider than the table/);
  });

  test(`${name}: an addition that meets the same point (doubling) or its opposite (infinity)`, () => {
    const { Point, A, affine, ref, table } = setup(params);
    const tG = table(Point.BASE, 8);
    const tNegG = table(Point.BASE.negate(), 8);
    for (const k of [1n, 5n, 127n, 128n, 129n, 1000n]) {
      assert.equal(affine(A.mulAdd([[tG, k], [tG, k]])), ref([[Point.BASE, 2n * k]]), `${k}G + ${k}G`);
      assert.is(affine(A.mulAdd([[tG, k], [tNegG, k]])), undefined, `${k}G − ${k}G is the point at infinity`);
      assert.not.ok(A.xPlusEIs(A.mulAdd([[tG, k], [tNegG, k]]), 0n, 1n), "infinity never matches r");
      assert.equal(affine(A.mulAdd([[tG, k], [tNegG, k], [tG, 3n]])), ref([[Point.BASE, 3n]]), "and the sum goes on after it");
    }
  });

  test(`${name}: x check without inversion, including x ≥ n (the c + n branch), any Z`, () => {
    const { Point, A } = setup(params);
    const { p, n, a, b } = params;
    const Fp = Point.Fp;
    // a curve point with n ≤ x < p: walk x up from n until x³ + ax + b is a square
    let x = n;
    let y: bigint | undefined;
    for (; x < p && y === undefined; x++) {
      const rhs = Fp.add(Fp.add(Fp.mul(Fp.sqr(x), x), Fp.mul(a, x)), b);
      try {
        y = Fp.sqrt(rhs);
      } catch {
        y = undefined;
      }
      if (y !== undefined) break;
    }
    assert.ok(y !== undefined && x >= n && x < p);
    Point.fromAffine({ x, y: y! }).assertValidity();
    for (const Z of [1n, 2n, p - 1n, 0xdeadbeefn]) {
      const Z2 = Fp.sqr(Z);
      const J = { X: Fp.mul(x, Z2), Y: Fp.mul(y!, Fp.mul(Z2, Z)), Z };
      for (const e of [0n, 1n, n - 1n, 2n ** 256n - 1n]) {
        const r = (e + x) % n;
        assert.ok(A.xPlusEIs(J, e, r), `x ≥ n, Z=${Z}, e=${e}`);
        assert.not.ok(A.xPlusEIs(J, e, (r + 1n) % n));
      }
      // an ordinary x < n: only c itself matches
      const G = Point.BASE.toAffine();
      const JG = { X: Fp.mul(G.x, Z2), Y: Fp.mul(G.y, Fp.mul(Z2, Z)), Z };
      assert.ok(A.xPlusEIs(JG, 7n, (7n + G.x) % n));
      assert.not.ok(A.xPlusEIs(JG, 7n, (7n + G.x + 1n) % n));
    }
  });
}

/** Verification on noble's arithmetic only (what sm2.ts does for a key seen once). */
function nobleVerify(pub: Uint8Array, msg: Uint8Array, sig: SigParts, id = "1234567812345678"): boolean {
  const { r, s } = sig;
  const n = SM2P256V1.n;
  if (r < 1n || r >= n || s < 1n || s >= n) return false;
  let P;
  try {
    P = sm2.Point.fromBytes(pub);
  } catch {
    return false;
  }
  const t = (r + s) % n;
  if (t === 0n) return false;
  const X = sm2.Point.BASE.multiplyUnsafe(s).add(P.multiplyUnsafe(t));
  if (X.is0()) return false;
  const e = BigInt("0x" + Buffer.from(sm2.messageE(pub, msg, id)).toString("hex"));
  return (e + X.toAffine().x) % n === r;
}

test("sm2.verify with keys verified again and again (tables built) = noble-only verification, good, mutated and hostile", () => {
  const keys = Array.from({ length: 3 }, () => generateKeyPair("sm2-sm3"));
  const msg = utf8("quote body");
  const sigs = keys.map((k) => sign("sm2-sm3", k.privateKey, msg));
  for (let round = 0; round < 3; round++) {
    keys.forEach((k, i) => assert.ok(verify("sm2-sm3", k.publicKey, msg, sigs[i]!), `round ${round} key ${i}`));
  }
  const n = SM2P256V1.n;
  fc.assert(
    fc.property(fc.nat(2), fc.nat(2), fc.nat(80), fc.nat(255), fc.uint8Array({ maxLength: 40 }), fc.constantFrom("sig", "msg", "key", "r+s=n", "big"), (ki, si, at, x, m, what) => {
      const k = keys[ki]!;
      let pub = k.publicKey;
      let message = msg;
      let sig = sigs[si]!;
      if (what === "sig") {
        sig = Uint8Array.from(sig);
        sig[at % sig.length]! ^= x || 1;
      } else if (what === "msg") message = m;
      else if (what === "key") {
        pub = Uint8Array.from(pub);
        pub[1 + (at % 64)]! ^= x || 1;
      } else if (what === "r+s=n") {
        const { r } = signatureCandidates(sig)[0]!;
        sig = encodeSignatureDer(r, n - r);
      } else sig = encodeSignatureDer(n + BigInt(at), BigInt(x + 1));
      const want = signatureCandidates(sig).some((c) => nobleVerify(pub, message, c));
      assert.is(verify("sm2-sm3", pub, message, sig), want, what);
      assert.is(verify("sm2-sm3", pub, message, sig), want, `${what}, again`);
    }),
    { numRuns: 150 },
  );
});

test("the standard's example curve verifies vector B again and again on the table path, and refuses a wrong ID", () => {
  const v = SM2_VECTOR_B;
  const curve = sm2Curve(v.curve);
  const pub = h(v.pub);
  const sig = { r: BigInt("0x" + v.r), s: BigInt("0x" + v.s) };
  for (let i = 0; i < 4; i++) {
    assert.ok(curve.verify(pub, utf8(v.msg), sig, { id: v.id }), `time ${i + 1}`);
    assert.not.ok(curve.verify(pub, utf8(v.msg), sig, { id: "ALICE123@YAHOO.COX" }));
    assert.not.ok(curve.verify(pub, utf8(v.msg), { r: sig.r, s: (sig.s + 1n) % v.curve.n }, { id: v.id }));
  }
});

test.run();
