/**
 * The attestation key in software: SM2-with-SM3 (GM mode, Z_A over the signer ID) or ECDSA P-256,
 * signing TPMS_ATTEST-shaped quotes. Generated at provisioning into the data directory as a
 * PKCS#8 PEM with mode 0600. Boards with a TPM 2.0 use attest/tpm/ instead.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RidgeError } from "../core/index.js";
import { generateKeyPair, privateKeyFromPem, privateKeyToPem, publicKeyToPem, publicKeyToSpki, sign, SM2_DEFAULT_ID } from "./crypto/index.js";
import { digest } from "./crypto/hash.js";
import type { HashAlg } from "./crypto/hash.js";
import { decodeSignatureDer } from "./crypto/der.js";
import type { QuoteAlg } from "./evidence.js";
import { TPM_ALG, hashAlgId } from "./tpm-structures.js";
import type { TpmSignature } from "./tpm-structures.js";

/** The design's QuoteSigner: signs the exact TPMS_ATTEST bytes. */
export interface QuoteSigner {
  alg: QuoteAlg;
  publicKey: Uint8Array;
  sign(msg: Uint8Array): Uint8Array;
}

export function schemeHash(alg: QuoteAlg): HashAlg {
  return alg === "sm2-sm3" ? "sm3" : "sha256";
}

/** TPM-style qualified name of a software key: nameAlg ‖ H(SPKI). */
export function softwareKeyName(alg: QuoteAlg, publicKey: Uint8Array): Uint8Array {
  const h = schemeHash(alg);
  const d = digest(h, publicKeyToSpki(alg, publicKey));
  const id = hashAlgId(h);
  return Uint8Array.from([id >> 8, id & 0xff, ...d]);
}

/** Wrap a DER signature as TPMT_SIGNATURE { sigAlg, hash, TPM2B r, TPM2B s }. */
export function toTpmSignature(alg: QuoteAlg, der: Uint8Array): TpmSignature {
  const rs = decodeSignatureDer(der);
  if (!rs) throw new RidgeError("E_ATTEST_INTERNAL", "signer produced a malformed DER signature");
  const be = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, "0"), "hex"));
  return { sigAlg: alg === "sm2-sm3" ? TPM_ALG.SM2 : TPM_ALG.ECDSA, hash: hashAlgId(schemeHash(alg)), r: be(rs.r), s: be(rs.s) };
}

export function softwareSigner(alg: QuoteAlg, privateKey: Uint8Array, publicKey: Uint8Array, id: string = SM2_DEFAULT_ID): QuoteSigner {
  return { alg, publicKey, sign: (msg) => sign(alg, privateKey, msg, { id }) };
}

/** Load the attestation key from `dir`, creating it (0600) on first use. */
export function loadOrCreateSoftwareKey(dir: string, alg: QuoteAlg): { privateKey: Uint8Array; publicKey: Uint8Array; created: boolean; path: string } {
  const path = join(dir, alg === "sm2-sm3" ? "ak-sm2.key" : "ak-p256.key");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    const kp = privateKeyFromPem(readFileSync(path, "utf8"));
    if (kp.alg !== alg) throw new RidgeError("E_ATTEST_KEY_FORMAT", `${path} holds a ${kp.alg} key, expected ${alg}`);
    return { privateKey: kp.privateKey, publicKey: kp.publicKey, created: false, path };
  }
  const kp = generateKeyPair(alg);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, privateKeyToPem(alg, kp.privateKey), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  writeFileSync(join(dir, alg === "sm2-sm3" ? "ak-sm2.pub" : "ak-p256.pub"), publicKeyToPem(alg, kp.publicKey), { mode: 0o644 });
  return { privateKey: kp.privateKey, publicKey: kp.publicKey, created: true, path };
}

/** A boot counter in `dir`: incremented once per start; it is the quote's resetCount. */
export function bumpBootCount(dir: string): number {
  const p = join(dir, "boot-count");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let n = 0;
  try {
    n = Number.parseInt(readFileSync(p, "utf8"), 10) || 0;
  } catch {
    /* first boot */
  }
  n += 1;
  writeFileSync(`${p}.tmp`, String(n));
  renameSync(`${p}.tmp`, p);
  return n;
}
