/**
 * Hashes through Node's OpenSSL: SM3 (GB/T 32905-2016) is not in @noble/hashes, and OpenSSL's
 * implementation is both audited and fast. SHA-256 goes the same way for symmetry.
 */
import { createHash } from "node:crypto";

export type HashAlg = "sha256" | "sm3" | "sha1" | "sha384" | "sha512";

export function digest(alg: HashAlg, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(alg).update(data).digest());
}

/** H(a ‖ b ‖ …) without building the concatenation. Strings are hashed as UTF-8. */
export function digestOf(alg: HashAlg, ...parts: (Uint8Array | string)[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function sm3(data: Uint8Array): Uint8Array {
  return digest("sm3", data);
}

export function sha256(data: Uint8Array): Uint8Array {
  return digest("sha256", data);
}

/** Digest length in bytes. */
export function digestSize(alg: HashAlg): number {
  return { sha1: 20, sha256: 32, sm3: 32, sha384: 48, sha512: 64 }[alg];
}
