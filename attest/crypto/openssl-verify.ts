/**
 * P-256 and Ed25519 verification through Node's OpenSSL (node:crypto): 20–40× faster than the
 * pure-JS curves for the verifier's hot path. Same answers as before for every input:
 *   - a signature is handed over as canonical DER built from its (r, s) after the range check, so
 *     raw r‖s, BER-ish DER and high-S signatures (OpenSSL does not enforce low-S; TPMs do not
 *     normalise) verify exactly as they did;
 *   - public keys become KeyObjects once (a small cache: the registered gateways' keys repeat);
 *     a key OpenSSL will not import returns undefined and the caller keeps the pure-JS path.
 * SM2 with a signer ID (Z_A) is not an OpenSSL EVP operation Node exposes: it stays in ./sm2.ts.
 */
import { createPublicKey, verify as opensslVerify, type KeyObject } from "node:crypto";
import { encodeSignatureDer } from "./der.js";
import type { HashAlg } from "./hash.js";
import { publicKeyToSpki, type SigAlg } from "./key-encoding.js";

const CACHE_MAX = 512;
const keys = new Map<string, KeyObject | null>();

/** The last key made for a given array (the verifier passes the same registered key each time), with a copy to notice an edit in place. */
const byArray = new WeakMap<Uint8Array, { alg: SigAlg; bytes: Buffer; key: KeyObject | undefined }>();

/** The OpenSSL key for `pub`, or undefined when OpenSSL refuses it (bad length, not on the curve). */
export function opensslKey(alg: Exclude<SigAlg, "sm2-sm3">, pub: Uint8Array): KeyObject | undefined {
  const seen = byArray.get(pub);
  if (seen && seen.alg === alg && seen.bytes.equals(pub)) return seen.key;
  const key = keyFor(alg, pub);
  byArray.set(pub, { alg, bytes: Buffer.from(pub), key });
  return key;
}

function keyFor(alg: Exclude<SigAlg, "sm2-sm3">, pub: Uint8Array): KeyObject | undefined {
  const id = `${alg}:${Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString("base64")}`;
  let k = keys.get(id);
  if (k === undefined) {
    try {
      k = createPublicKey({ key: Buffer.from(publicKeyToSpki(alg, pub)), format: "der", type: "spki" });
    } catch {
      k = null;
    }
    if (keys.size >= CACHE_MAX) keys.delete(keys.keys().next().value!);
    keys.set(id, k);
  }
  return k ?? undefined;
}

/** ECDSA over H(message) with (r, s) already range-checked by the caller. Never throws. */
export function opensslEcdsaVerify(key: KeyObject, hash: Extract<HashAlg, "sha256" | "sha384" | "sha512">, message: Uint8Array, r: bigint, s: bigint): boolean {
  try {
    return opensslVerify(hash, message, key, encodeSignatureDer(r, s));
  } catch {
    return false;
  }
}

/** Ed25519 (RFC 8032, OpenSSL's checks: S < L). Never throws. */
export function opensslEd25519Verify(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return opensslVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** P-256's group order n, big-endian. */
const P256_N_BYTES = Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex");

/** A DER INTEGER at `at` that is minimal, positive and in [1, n-1]; its end offset, or -1. */
function scalarEnd(sig: Uint8Array, at: number): number {
  if (sig[at] !== 0x02) return -1;
  const len = sig[at + 1]!;
  const start = at + 2;
  const end = start + len;
  if (len === 0 || len > 33 || end > sig.length) return -1;
  if (sig[start]! & 0x80) return -1; // negative
  let v = start;
  if (sig[start] === 0) {
    if (len === 1 || !(sig[start + 1]! & 0x80)) return -1; // zero, or a needless leading zero
    v = start + 1;
  }
  const n = end - v;
  if (n > 32) return -1;
  if (n === 32 && Buffer.compare(Buffer.from(sig.buffer, sig.byteOffset + v, 32), P256_N_BYTES) >= 0) return -1;
  return end;
}

/**
 * Whether `sig` is already the canonical DER of an (r, s) in range for P-256: then it goes to
 * OpenSSL as it is, without decoding to integers and encoding again.
 */
export function isCanonicalP256Der(sig: Uint8Array): boolean {
  if (sig.length < 8 || sig.length > 72 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return false;
  const rEnd = scalarEnd(sig, 2);
  return rEnd > 0 && scalarEnd(sig, rEnd) === sig.length;
}

/** ECDSA over H(message) with a signature `isCanonicalP256Der` accepted. Never throws. */
export function opensslEcdsaVerifyDer(key: KeyObject, hash: Extract<HashAlg, "sha256" | "sha384" | "sha512">, message: Uint8Array, der: Uint8Array): boolean {
  try {
    return opensslVerify(hash, message, key, der);
  } catch {
    return false;
  }
}
