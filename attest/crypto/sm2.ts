/**
 * SM2 digital signatures, GB/T 32918.2-2016 (= GM/T 0003.2-2012), on @noble/curves' Weierstrass
 * arithmetic with the recommended curve sm2p256v1 (GB/T 32918.5-2017 / GM/T 0003.5).
 *
 * Two modes:
 *  - GM mode: e = SM3(Z_A ‖ M), Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)  (§6.1, §5.5)
 *  - digest mode: e is a digest computed elsewhere, with no Z_A: this is how a TPM 2.0 signs
 *    (libtpms BnSignEcSm2 "signs e"; e = H_scheme(TPMS_ATTEST)).
 *
 * noble's ecdsa() must not be used here: SM2 has r = (e + x1) mod n, s = (1+d)^-1 (k - r·d),
 * t = r + s, and no low-S rule. Verification never throws.
 */
import { randomBytes } from "node:crypto";
import { weierstrass } from "@noble/curves/abstract/weierstrass.js";
import { decodeSignatureDer, encodeSignatureDer } from "./der.js";
import { sm3 } from "./hash.js";
import { windowArithmetic } from "./sm2-window-tables.js";
import type { CurveParams, WindowTable } from "./sm2-window-tables.js";

export type { CurveParams } from "./sm2-window-tables.js";

/** sm2p256v1 (GB/T 32918.5-2017 §A / `openssl ecparam -name SM2 -param_enc explicit`). */
export const SM2P256V1: CurveParams = {
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
  h: 1n,
};

/** GM/T 0009-2012 §10: the default signer ID. */
export const SM2_DEFAULT_ID = "1234567812345678";

export type SigParts = { r: bigint; s: bigint };

const FIELD_BYTES = 32;

/** Keys kept decoded (and, once verified twice, with a window table of 2,432 points, about 0.35 MB: 11 MB for all). */
const KEY_CACHE_MAX = 32;
/** Window sizes: a key's table has ceil(256/W)+1 windows of 2^(W-1) points; G's is built once per process. */
const KEY_TABLE_W = 7;
const BASE_TABLE_W = 10;
/** Z_A is kept for this many signer IDs (of at most 256 bytes) per key. */
const ZA_PER_KEY_MAX = 4;

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function toBytes(v: bigint, len = FIELD_BYTES): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function invert(a: bigint, m: bigint): bigint {
  // extended Euclid; a is never 0 mod m where called
  let [t, newT, r, newR] = [0n, 1n, m, mod(a, m)];
  while (newR !== 0n) {
    const q = r / newR;
    [t, newT] = [newT, t - q * newT];
    [r, newR] = [newR, r - q * newR];
  }
  return mod(t, m);
}

export function idBytes(id: Uint8Array | string | undefined): Uint8Array {
  if (id === undefined) return new TextEncoder().encode(SM2_DEFAULT_ID);
  return typeof id === "string" ? new TextEncoder().encode(id) : id;
}

/**
 * An SM2 instance over any short-Weierstrass curve (the standard's example curve is used by one of
 * its test vectors; production uses sm2p256v1).
 */
export function sm2Curve(params: CurveParams) {
  const Point = weierstrass({ ...params });
  const { n } = params;
  const size = FIELD_BYTES;

  // A verifier checks the same registered keys again and again: keep decoded points in a bounded
  // LRU keyed by the key bytes, and give a key seen twice an affine window table (./sm2-window-tables.ts;
  // with G's own, larger table, s·G + t·P is about 60 mixed additions and no inversion). Its Z_A per
  // signer ID is kept beside it. A key seen once (a one-off `ridge attest verify`) builds nothing.
  type CachedKey = { P: ReturnType<typeof Point.fromBytes>; uses: number; table?: WindowTable; za: Map<string, Uint8Array> };
  const keyCache = new Map<string, CachedKey>();
  const arith = windowArithmetic(params, (v) => Point.Fp.inv(v));
  let baseTable: WindowTable | undefined;

  /** The cached key; `use`: this is a verification (the second one builds the key's table). */
  function cachedKey(pub: Uint8Array, use: boolean): CachedKey | undefined {
    const hex = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString("hex");
    const hit = keyCache.get(hex);
    if (hit) {
      if (use && ++hit.uses === 2) {
        const { x, y } = hit.P.toAffine();
        hit.table = arith.buildTable(x, y, KEY_TABLE_W);
      }
      keyCache.delete(hex); // LRU: move to the end
      keyCache.set(hex, hit);
      return hit;
    }
    try {
      const P = Point.fromBytes(pub); // checks the point is on the curve
      if (P.is0()) return undefined;
      const entry: CachedKey = { P, uses: use ? 1 : 0, za: new Map() };
      keyCache.set(hex, entry);
      if (keyCache.size > KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
      return entry;
    } catch {
      return undefined;
    }
  }


  function privateScalar(priv: Uint8Array): bigint {
    if (priv.length !== size) throw new RangeError(`SM2 private key must be ${size} bytes`);
    const d = toBig(priv);
    // §6.1: d ∈ [1, n-2] (d = n-1 would make 1+d non-invertible)
    if (d < 1n || d > n - 2n) throw new RangeError("SM2 private key out of range [1, n-2]");
    return d;
  }

  /** Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A), GB/T 32918.2 §5.5. */
  function za(publicKey: Uint8Array, id?: Uint8Array | string): Uint8Array {
    return zaOf(cachedKey(publicKey, false), publicKey, id);
  }

  function zaOf(key: CachedKey | undefined, publicKey: Uint8Array, id?: Uint8Array | string): Uint8Array {
    const idb = idBytes(id);
    const entl = idb.length * 8;
    if (entl > 0xffff) throw new RangeError("SM2 ID longer than 8191 bytes");
    const idHex = key && idb.length <= 256 ? Buffer.from(idb.buffer, idb.byteOffset, idb.byteLength).toString("hex") : undefined;
    const hit = idHex !== undefined ? key!.za.get(idHex) : undefined;
    if (hit) return Uint8Array.from(hit);
    const z = computeZa(idb, entl, (key?.P ?? Point.fromBytes(publicKey)).toAffine());
    if (idHex !== undefined) {
      if (key!.za.size >= ZA_PER_KEY_MAX) key!.za.delete(key!.za.keys().next().value!);
      key!.za.set(idHex, Uint8Array.from(z));
    }
    return z;
  }

  function computeZa(idb: Uint8Array, entl: number, P: { x: bigint; y: bigint }): Uint8Array {
    const parts = [
      Uint8Array.of(entl >> 8, entl & 0xff),
      idb,
      toBytes(params.a),
      toBytes(params.b),
      toBytes(params.Gx),
      toBytes(params.Gy),
      toBytes(P.x),
      toBytes(P.y),
    ];
    const buf = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
    let o = 0;
    for (const p of parts) {
      buf.set(p, o);
      o += p.length;
    }
    return sm3(buf);
  }

  // Signing needs Z_A, which needs the public key: remember it for the few keys a process signs with.
  const pubOfPriv = new Map<string, Uint8Array>();
  function publicKeyOf(priv: Uint8Array): Uint8Array {
    const k = Buffer.from(priv.buffer, priv.byteOffset, priv.byteLength).toString("hex");
    const hit = pubOfPriv.get(k);
    if (hit) return Uint8Array.from(hit);
    const pub = Point.BASE.multiply(privateScalar(priv)).toBytes(false);
    if (pubOfPriv.size >= 8) pubOfPriv.delete(pubOfPriv.keys().next().value!);
    pubOfPriv.set(k, pub);
    return Uint8Array.from(pub);
  }

  function randomScalar(): bigint {
    // 48 random bytes reduced mod (n-1), +1: bias below 2^-128 (FIPS 186-5 A.2.1 style)
    return mod(toBig(new Uint8Array(randomBytes(48))), n - 1n) + 1n;
  }

  /** Sign a precomputed e (bytes, big-endian). `k` is for the standard's vectors only. */
  function signE(priv: Uint8Array, eBytes: Uint8Array, k?: bigint): SigParts {
    const d = privateScalar(priv);
    const e = toBig(eBytes);
    const inv1d = invert(1n + d, n);
    for (;;) {
      const kk = k ?? randomScalar();
      const x1 = Point.BASE.multiply(kk).toAffine().x;
      const r = mod(e + x1, n);
      if (r === 0n || r + kk === n) {
        if (k !== undefined) throw new RangeError("SM2: this k gives r = 0 or r + k = n");
        continue;
      }
      const s = mod(inv1d * (kk - r * d), n);
      if (s === 0n) {
        if (k !== undefined) throw new RangeError("SM2: this k gives s = 0");
        continue;
      }
      return { r, s };
    }
  }

  /** Verify (r, s) over a precomputed e. Never throws. */
  function verifyE(pub: Uint8Array, eBytes: Uint8Array, sig: SigParts): boolean {
    const { r, s } = sig;
    if (r < 1n || r >= n || s < 1n || s >= n) return false; // §7.1 B1, B2
    const key = cachedKey(pub, true);
    return key ? verifyWith(key, eBytes, sig) : false;
  }

  function verifyWith(key: CachedKey, eBytes: Uint8Array, { r, s }: SigParts): boolean {
    const P = key.P;
    const t = mod(r + s, n); // B5
    if (t === 0n) return false;
    if (key.table) {
      // B6 + B7 from the window tables: (e + x1') mod n = r, compared without an inversion
      baseTable ??= arith.buildTable(params.Gx, params.Gy, BASE_TABLE_W);
      return arith.xPlusEIs(arith.mulAdd([[baseTable, s], [key.table, t]]), toBig(eBytes), r);
    }
    let X;
    try {
      X = Point.BASE.multiplyUnsafe(s).add(P.multiplyUnsafe(t)); // B6: (x1', y1') = s·G + t·P (G has precomputed tables)
    } catch {
      return false;
    }
    if (X.is0()) return false;
    return mod(toBig(eBytes) + X.toAffine().x, n) === r; // B7
  }

  /** GM mode e = SM3(Z_A ‖ M). */
  function messageE(pub: Uint8Array, message: Uint8Array, id?: Uint8Array | string): Uint8Array {
    return messageEOf(cachedKey(pub, false), pub, message, id);
  }

  function messageEOf(key: CachedKey | undefined, pub: Uint8Array, message: Uint8Array, id?: Uint8Array | string): Uint8Array {
    const z = zaOf(key, pub, id);
    const buf = new Uint8Array(z.length + message.length);
    buf.set(z, 0);
    buf.set(message, z.length);
    return sm3(buf);
  }

  return {
    Point,
    params,
    za,
    publicKeyOf,
    messageE,
    signE,
    verifyE,
    /** GM mode sign; public key derived once from d (Z_A must use the signer's own key). */
    sign(priv: Uint8Array, message: Uint8Array, opts: { id?: Uint8Array | string; k?: bigint } = {}): SigParts {
      return signE(priv, messageE(publicKeyOf(priv), message, opts.id), opts.k);
    },
    verify(pub: Uint8Array, message: Uint8Array, sig: SigParts, opts: { id?: Uint8Array | string } = {}): boolean {
      const { r, s } = sig;
      if (r < 1n || r >= n || s < 1n || s >= n) return false; // §7.1 B1, B2 before any hashing
      const key = cachedKey(pub, true);
      if (!key) return false;
      let e: Uint8Array;
      try {
        e = messageEOf(key, pub, message, opts.id);
      } catch {
        return false;
      }
      return verifyWith(key, e, sig);
    },
    isValidPublicKey(pub: Uint8Array): boolean {
      return cachedKey(pub, false) !== undefined;
    },
    randomPrivateKey(): Uint8Array {
      // [1, n-2]
      return toBytes(mod(toBig(new Uint8Array(randomBytes(48))), n - 2n) + 1n);
    },
  };
}

export const sm2 = sm2Curve(SM2P256V1);

/**
 * The (r, s) pairs a signature given as DER or raw r‖s (64 bytes) may stand for: a 64-byte value
 * starting with 0x30 can be either. Never throws; empty when it is neither.
 */
export function signatureCandidates(sig: Uint8Array): SigParts[] {
  const out: SigParts[] = [];
  const der = decodeSignatureDer(sig);
  if (der) out.push(der);
  if (sig.length === 2 * FIELD_BYTES) out.push({ r: toBig(sig.subarray(0, FIELD_BYTES)), s: toBig(sig.subarray(FIELD_BYTES)) });
  return out;
}

export function signatureToDer(sig: SigParts): Uint8Array {
  return encodeSignatureDer(sig.r, sig.s);
}

export function signatureToRaw(sig: SigParts): Uint8Array {
  const out = new Uint8Array(2 * FIELD_BYTES);
  out.set(toBytes(sig.r), 0);
  out.set(toBytes(sig.s), FIELD_BYTES);
  return out;
}
