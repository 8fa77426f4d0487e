/**
 * attest/crypto: the signatures and hashes Ridgeline uses (attestation quotes, OTA metadata).
 *
 *  - "sm2-sm3":           SM2 per GB/T 32918.2 with Z_A over the signer ID (default
 *                         "1234567812345678"), on sm2p256v1 — see ./sm2.ts
 *  - "ecdsa-p256-sha256": ECDSA P-256 with SHA-256 (FIPS 186-5); signs low-S DER, verifies high-S too
 *  - "ed25519":           RFC 8032
 *
 * P-256 and Ed25519 verification runs in Node's OpenSSL (./openssl-verify.ts); SM2 in ./sm2.ts.
 * Keys are raw bytes: Ed25519 32-byte seed / 32-byte public key; P-256 and SM2 a 32-byte scalar /
 * 65-byte uncompressed point. `verify*` never throws: any malformed key, signature or encoding is
 * simply `false`.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { digest } from "./hash.js";
import type { HashAlg } from "./hash.js";
import { parsePrivatePem, parsePublicPem, privatePem, publicPem } from "./key-encoding.js";
import type { SigAlg } from "./key-encoding.js";
import { isCanonicalP256Der, opensslEcdsaVerify, opensslEcdsaVerifyDer, opensslEd25519Verify, opensslKey } from "./openssl-verify.js";
import { SM2_DEFAULT_ID, signatureCandidates, signatureToDer, signatureToRaw, sm2 } from "./sm2.js";

export type { SigAlg } from "./key-encoding.js";
export type { HashAlg } from "./hash.js";
export { sm3, sha256, digest, digestSize } from "./hash.js";
export { sm4Encrypt, sm4Decrypt } from "./sm4.js";
export type { Sm4Mode } from "./sm4.js";
export { SM2_DEFAULT_ID, SM2P256V1, sm2, sm2Curve, signatureCandidates, signatureToDer, signatureToRaw } from "./sm2.js";
export type { CurveParams, SigParts } from "./sm2.js";
export { publicKeyToSpki, spkiToPublicKey, privateKeyToPkcs8, pkcs8ToPrivateKey } from "./key-encoding.js";
export { encodeSignatureDer, decodeSignatureDer } from "./der.js";
/** The X.690 DER reader and writer (total readers), for structures built outside attest (PKCS#10 in flash/). */
export * as der from "./der.js";

const P256_N = p256.Point.Fn.ORDER;

export const SIG_ALGS: readonly SigAlg[] = ["ed25519", "ecdsa-p256-sha256", "sm2-sm3"];

export interface KeyPair {
  alg: SigAlg;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface SignOpts {
  /** SM2 signer ID (UTF-8 string or bytes); default "1234567812345678". Ignored by other algorithms. */
  id?: Uint8Array | string;
}

export function isSigAlg(x: unknown): x is SigAlg {
  return typeof x === "string" && (SIG_ALGS as readonly string[]).includes(x);
}

export function generateKeyPair(alg: SigAlg): KeyPair {
  let privateKey: Uint8Array;
  if (alg === "ed25519") privateKey = new Uint8Array(ed25519.utils.randomSecretKey());
  else if (alg === "ecdsa-p256-sha256") privateKey = new Uint8Array(p256.utils.randomSecretKey());
  else privateKey = sm2.randomPrivateKey();
  return { alg, privateKey, publicKey: publicKeyOf(alg, privateKey) };
}

export function publicKeyOf(alg: SigAlg, privateKey: Uint8Array): Uint8Array {
  if (alg === "ed25519") return new Uint8Array(ed25519.getPublicKey(privateKey));
  if (alg === "ecdsa-p256-sha256") return new Uint8Array(p256.getPublicKey(privateKey, false));
  return sm2.publicKeyOf(privateKey);
}

/** ECDSA/SM2: DER; Ed25519: 64 raw bytes. */
export function sign(alg: SigAlg, privateKey: Uint8Array, message: Uint8Array, opts: SignOpts = {}): Uint8Array {
  if (alg === "ed25519") return new Uint8Array(ed25519.sign(message, privateKey));
  if (alg === "ecdsa-p256-sha256") return new Uint8Array(p256.sign(message, privateKey, { format: "der" }));
  return signatureToDer(sm2.sign(privateKey, message, { id: opts.id ?? SM2_DEFAULT_ID }));
}

/** Accepts DER or raw r‖s for ECDSA/SM2; accepts high-S for P-256 (TPM and OpenSSL do not normalize). */
export function verify(alg: SigAlg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, opts: SignOpts = {}): boolean {
  try {
    if (alg === "ed25519") {
      if (signature.length !== 64 || publicKey.length !== 32) return false;
      const key = opensslKey(alg, publicKey);
      return key ? opensslEd25519Verify(key, message, signature) : ed25519.verify(signature, message, publicKey);
    }
    if (alg === "ecdsa-p256-sha256") return verifyHashed(alg, publicKey, "sha256", message, signature);
    if (alg === "sm2-sm3") {
      return signatureCandidates(signature).some((sig) => sm2.verify(publicKey, message, sig, { id: opts.id ?? SM2_DEFAULT_ID }));
    }
    return false;
  } catch {
    return false;
  }
}

/**
 * Sign a digest computed elsewhere, as a TPM does: ECDSA over `digest` (no further hashing); SM2
 * with e = digest and **no Z_A** (TPM 2.0 Part 1 / libtpms BnSignEcSm2). DER output.
 */
export function signDigest(alg: Exclude<SigAlg, "ed25519">, privateKey: Uint8Array, digestBytes: Uint8Array): Uint8Array {
  if (alg === "ecdsa-p256-sha256") return new Uint8Array(p256.sign(digestBytes, privateKey, { format: "der", prehash: false }));
  return signatureToDer(sm2.signE(privateKey, digestBytes));
}

/** Verify over a digest (see signDigest). Never throws. */
export function verifyDigest(alg: SigAlg, publicKey: Uint8Array, digestBytes: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (alg === "ecdsa-p256-sha256") {
      return signatureCandidates(signature).some((sig) => {
        // range-check before the fixed-width encoding (a DER r ≥ 2^256 must not wrap around)
        if (sig.r < 1n || sig.s < 1n || sig.r >= P256_N || sig.s >= P256_N) return false;
        try {
          return p256.verify(signatureToRaw(sig), digestBytes, publicKey, { prehash: false, lowS: false, format: "compact" });
        } catch {
          return false;
        }
      });
    }
    if (alg === "sm2-sm3") return signatureCandidates(signature).some((sig) => sm2.verifyE(publicKey, digestBytes, sig));
    return false;
  } catch {
    return false;
  }
}

/**
 * Verify a signature over H(message) as a TPM signs it (ECDSA: over the digest; SM2: e = digest, no
 * Z_A): the same answers as `verifyDigest(alg, key, digest(hash, message), sig)`, through OpenSSL
 * for P-256 with SHA-2. Never throws.
 */
export function verifyHashed(alg: SigAlg, publicKey: Uint8Array, hash: HashAlg, message: Uint8Array, signature: Uint8Array): boolean {
  if (alg === "ecdsa-p256-sha256" && (hash === "sha256" || hash === "sha384" || hash === "sha512")) {
    const key = opensslKey(alg, publicKey);
    if (key) {
      if (isCanonicalP256Der(signature) && opensslEcdsaVerifyDer(key, hash, message, signature)) return true;
      return signatureCandidates(signature).some((sig) => sig.r >= 1n && sig.s >= 1n && sig.r < P256_N && sig.s < P256_N && opensslEcdsaVerify(key, hash, message, sig.r, sig.s));
    }
  }
  try {
    return verifyDigest(alg, publicKey, digest(hash, message), signature);
  } catch {
    return false;
  }
}

/** The digest a TPM-style signer signs for `alg` with hash `hash`. */
export function hashFor(hash: HashAlg, data: Uint8Array): Uint8Array {
  return digest(hash, data);
}

export function publicKeyToPem(alg: SigAlg, pub: Uint8Array): string {
  return publicPem(alg, pub);
}

export function privateKeyToPem(alg: SigAlg, priv: Uint8Array): string {
  return privatePem(alg, priv, publicKeyOf(alg, priv));
}

export function publicKeyFromPem(pem: string): { alg: SigAlg; publicKey: Uint8Array } {
  return parsePublicPem(pem);
}

export function privateKeyFromPem(pem: string): KeyPair {
  const { alg, privateKey } = parsePrivatePem(pem);
  return { alg, privateKey, publicKey: publicKeyOf(alg, privateKey) };
}

/** SM2 Z_A for a public key and ID (exposed for vectors and for interop debugging). */
export function sm2Za(publicKey: Uint8Array, id?: Uint8Array | string): Uint8Array {
  return sm2.za(publicKey, id ?? SM2_DEFAULT_ID);
}
