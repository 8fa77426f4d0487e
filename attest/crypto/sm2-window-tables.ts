/**
 * s·G + t·P for SM2 verification (GB/T 32918.2-2016 §7.1 B6) from precomputed affine window tables,
 * for the keys a verifier checks again and again (registered gateways) and for G.
 *
 * Why not @noble/curves' own `Point.precompute(W)`: its cached multiply is the constant-time kernel
 * (one complete projective addition per window, zero digits included, ~6 µs each in BigInt), and the
 * tables are private. Verification handles public data only, so here:
 *  - a table holds, for every window w, the multiples 1..2^(W-1) of 2^(w·W)·P in affine coordinates
 *    (batch-normalized, one inversion per window), so a multiplication is one mixed
 *    Jacobian+affine addition (madd, 8M+3S) per non-zero signed digit and no doublings;
 *  - both products go into one accumulator, and x is compared without an inversion: x1 ≡ r − e
 *    (mod n) is X = c·Z² for c = (r − e) mod n or c + n (p < 2n), the trick of libsecp256k1's verify.
 * Results are exactly noble's (checked against it over random and edge scalars in
 * test/unit/attest-sm2-window-tables.test.ts); the curve's a is general (the standard's example
 * curve is not a = −3).
 */
/** A short Weierstrass curve y² = x³ + ax + b over F_p with base point G of order n, cofactor h. */
export interface CurveParams {
  p: bigint;
  n: bigint;
  h: bigint;
  a: bigint;
  b: bigint;
  Gx: bigint;
  Gy: bigint;
}

export interface WindowTable {
  readonly W: number;
  readonly windows: number;
  /** 2^(W-1) entries per window: x then y of (i+1)·2^(w·W)·P at [w·half + i] */
  readonly xs: readonly bigint[];
  readonly ys: readonly bigint[];
}

/** Jacobian (X, Y, Z): x = X/Z², y = Y/Z³; Z = 0 is the point at infinity. */
type Jacobian = { X: bigint; Y: bigint; Z: bigint };

export function windowArithmetic(params: CurveParams, invert: (v: bigint) => bigint) {
  const { p, n, a } = params;
  const bits = n.toString(2).length;

  const fp = (v: bigint) => {
    const r = v % p;
    return r < 0n ? r + p : r;
  };

  /** dbl-2007-bl (any a): 1M + 8S. */
  function double(P: Jacobian): Jacobian {
    const { X, Y, Z } = P;
    if (Z === 0n || Y === 0n) return { X: 0n, Y: 1n, Z: 0n };
    const XX = (X * X) % p;
    const YY = (Y * Y) % p;
    const YYYY = (YY * YY) % p;
    const ZZ = (Z * Z) % p;
    const xy = X + YY;
    const S = fp(2n * (xy * xy - XX - YYYY));
    const M = fp(3n * XX + a * ((ZZ * ZZ) % p));
    const T = fp(M * M - 2n * S);
    const yz = Y + Z;
    return { X: T, Y: fp(M * (S - T) - 8n * YYYY), Z: fp(yz * yz - YY - ZZ) };
  }

  /** madd-2004-hmv style mixed addition P + (x2, y2), 8M + 3S, with the equal / opposite cases. */
  function addAffine(P: Jacobian, x2: bigint, y2: bigint): Jacobian {
    const { X, Y, Z } = P;
    if (Z === 0n) return { X: x2, Y: y2, Z: 1n };
    const ZZ = (Z * Z) % p;
    const U2 = (x2 * ZZ) % p;
    const S2 = (y2 * ((Z * ZZ) % p)) % p;
    let H = U2 - X;
    if (H < 0n) H += p;
    let R = S2 - Y;
    if (R < 0n) R += p;
    if (H === 0n) return R === 0n ? double(P) : { X: 0n, Y: 1n, Z: 0n };
    const HH = (H * H) % p;
    const HHH = (H * HH) % p;
    const V = (X * HH) % p;
    let X3 = (R * R - HHH - 2n * V) % p;
    if (X3 < 0n) X3 += p;
    let Y3 = (R * (V - X3) - Y * HHH) % p;
    if (Y3 < 0n) Y3 += p;
    return { X: X3, Y: Y3, Z: (Z * H) % p };
  }

  /** Affine coordinates of many Jacobian points with one inversion (Montgomery's trick). */
  function normalize(points: Jacobian[]): { x: bigint; y: bigint }[] {
    const prefix: bigint[] = new Array(points.length);
    let acc = 1n;
    for (let i = 0; i < points.length; i++) {
      prefix[i] = acc;
      acc = (acc * points[i]!.Z) % p;
    }
    let inv = invert(acc);
    const out: { x: bigint; y: bigint }[] = new Array(points.length);
    for (let i = points.length - 1; i >= 0; i--) {
      const P = points[i]!;
      const zi = (inv * prefix[i]!) % p;
      inv = (inv * P.Z) % p;
      const zi2 = (zi * zi) % p;
      out[i] = { x: (P.X * zi2) % p, y: (P.Y * ((zi2 * zi) % p)) % p };
    }
    return out;
  }

  /** The table for the affine point (x, y) of prime order n (no entry is the point at infinity). */
  function buildTable(x: bigint, y: bigint, W: number): WindowTable {
    if (!Number.isInteger(W) || W < 2 || W > 16) throw new RangeError(`window size ${W} is not in 2..16`);
    const windows = Math.ceil(bits / W) + 1; // +1: the carry of the signed recoding
    const half = 2 ** (W - 1);
    const xs: bigint[] = [];
    const ys: bigint[] = [];
    let bx = x;
    let by = y;
    for (let w = 0; w < windows; w++) {
      const row: Jacobian[] = [{ X: bx, Y: by, Z: 1n }];
      for (let i = 1; i < half; i++) row.push(addAffine(row[i - 1]!, bx, by));
      const next = double(row[half - 1]!); // 2·2^(W-1)·base = the next window's base
      const [aff, nb] = [normalize(row), normalize([next])[0]!];
      for (const q of aff) {
        xs.push(q.x);
        ys.push(q.y);
      }
      bx = nb.x;
      by = nb.y;
    }
    return { W, windows, xs, ys };
  }

  /** Σ kᵢ·Pᵢ for scalars 0 ≤ kᵢ < 2^bits, each Pᵢ given by its table. Variable time: public inputs only. */
  function mulAdd(terms: readonly (readonly [WindowTable, bigint])[]): Jacobian {
    let acc: Jacobian = { X: 0n, Y: 1n, Z: 0n };
    for (const [t, k0] of terms) {
      const half = 2 ** (t.W - 1);
      const full = 2 * half;
      const mask = BigInt(full - 1);
      const shift = BigInt(t.W);
      let k = k0;
      let carry = 0;
      for (let w = 0; w < t.windows; w++) {
        let d = Number(k & mask) + carry;
        k >>= shift;
        if (d > half) {
          d -= full;
          carry = 1;
        } else carry = 0;
        if (d === 0) continue;
        const idx = w * half + Math.abs(d) - 1;
        const yy = t.ys[idx]!;
        acc = addAffine(acc, t.xs[idx]!, d > 0 ? yy : p - yy);
      }
      if (k !== 0n || carry !== 0) throw new RangeError("scalar wider than the table");
    }
    return acc;
  }

  /** (e + x) mod n === r for x the affine x of J, without inverting Z. */
  function xPlusEIs(J: Jacobian, e: bigint, r: bigint): boolean {
    if (J.Z === 0n) return false;
    const zz = (J.Z * J.Z) % p;
    let c = (r - e) % n;
    if (c < 0n) c += n;
    for (; c < p; c += n) if ((c * zz) % p === J.X) return true; // c, c + n (p < 2n by Hasse when h = 1)
    return false;
  }

  return { buildTable, mulAdd, xPlusEIs, double, addAffine, normalize };
}
