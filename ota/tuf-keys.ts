/**
 * Keys and signatures in TUF's own JSON shapes (tuf-spec §4.2 "KEY", §4.3 signatures):
 *   ed25519:  { keytype: "ed25519", scheme: "ed25519",            keyval: { public: HEX(32) } }
 *   P-256:    { keytype: "ecdsa",   scheme: "ecdsa-sha2-nistp256", keyval: { public: PEM SPKI } }
 *   SM2:      { keytype: "sm2",     scheme: "sm2-sm3",             keyval: { public: PEM SPKI } }  (Ridgeline's extension)
 * A key id is the hex SHA-256 of the key's canonical JSON, so that independent implementations agree.
 * Signatures are over the canonical JSON of `signed`: raw 64 bytes for Ed25519, DER for ECDSA and
 * SM2 (SM2 with the default signer ID 1234567812345678, GM/T 0009-2012 §10), hex in the metadata.
 * The cryptography itself is attest/crypto's; this module only maps TUF's names onto it.
 */
import { createHash, createPublicKey, verify as opensslVerify, type KeyObject } from "node:crypto";
import * as crypto from "../attest/index.js";
import { RidgeError, canonicalBytes } from "../core/index.js";

export type SigAlg = "ed25519" | "ecdsa-p256-sha256" | "sm2-sm3";

export interface TufKey {
  keytype: string;
  scheme: string;
  keyval: { public: string };
}

export interface SigningKey {
  alg: SigAlg;
  keyid: string;
  key: TufKey;
  privateKey: Uint8Array;
}

/** The key file `ridge ota keygen` writes: TUF's key shape plus the private half (hex). Keep it offline. */
export interface KeyFile extends TufKey {
  keyval: { public: string; private: string };
}

const TYPES: Record<SigAlg, { keytype: string; scheme: string }> = {
  ed25519: { keytype: "ed25519", scheme: "ed25519" },
  "ecdsa-p256-sha256": { keytype: "ecdsa", scheme: "ecdsa-sha2-nistp256" },
  "sm2-sm3": { keytype: "sm2", scheme: "sm2-sm3" },
};

/** CLI names for algorithms. */
export const ALG_NAMES: Record<string, SigAlg> = { ed25519: "ed25519", p256: "ecdsa-p256-sha256", sm2: "sm2-sm3" };

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const HEX = /^(?:[0-9a-f]{2})+$/i;

export function keyId(key: TufKey): string {
  return createHash("sha256").update(canonicalBytes({ keytype: key.keytype, scheme: key.scheme, keyval: { public: key.keyval.public } })).digest("hex");
}

function encodePublic(alg: SigAlg, pub: Uint8Array): string {
  return alg === "ed25519" ? hex(pub) : crypto.publicKeyToPem(alg, pub);
}

/** The algorithm and raw public key of a TUF key from a repository, or undefined for anything we do not verify. */
export function decodeKey(key: unknown): { alg: SigAlg; publicKey: Uint8Array } | undefined {
  if (!key || typeof key !== "object") return undefined;
  const k = key as Partial<TufKey>;
  const pub = k.keyval && typeof k.keyval === "object" ? (k.keyval as { public?: unknown }).public : undefined;
  if (typeof k.keytype !== "string" || typeof k.scheme !== "string" || typeof pub !== "string") return undefined;
  let alg: SigAlg | undefined;
  if (k.keytype === "ed25519" && k.scheme === "ed25519") alg = "ed25519";
  else if ((k.keytype === "ecdsa" || k.keytype === "ecdsa-sha2-nistp256") && k.scheme === "ecdsa-sha2-nistp256") alg = "ecdsa-p256-sha256";
  else if (k.keytype === "sm2" && k.scheme === "sm2-sm3") alg = "sm2-sm3";
  if (!alg) return undefined;
  try {
    if (pub.startsWith("-----BEGIN")) {
      const dec = crypto.publicKeyFromPem(pub);
      return dec.alg === alg ? { alg, publicKey: dec.publicKey } : undefined;
    }
    if (!HEX.test(pub)) return undefined;
    return { alg, publicKey: new Uint8Array(Buffer.from(pub, "hex")) };
  } catch {
    return undefined;
  }
}

export function generateSigningKey(alg: SigAlg): SigningKey {
  const kp = crypto.generateKeyPair(alg);
  return signingKeyFrom(alg, kp.privateKey);
}

export function signingKeyFrom(alg: SigAlg, privateKey: Uint8Array): SigningKey {
  const pub = crypto.publicKeyOf(alg, privateKey);
  const key: TufKey = { ...TYPES[alg], keyval: { public: encodePublic(alg, pub) } };
  return { alg, keyid: keyId(key), key, privateKey };
}

export function toKeyFile(k: SigningKey): KeyFile {
  return { ...k.key, keyval: { public: k.key.keyval.public, private: hex(k.privateKey) } };
}

export function fromKeyFile(text: string, where: string): SigningKey {
  let f: Partial<KeyFile>;
  try {
    f = JSON.parse(text) as Partial<KeyFile>;
  } catch {
    throw new RidgeError("E_OTA_KEY_FILE", `${where}: not a JSON key file written by "ridge ota keygen"`);
  }
  const dec = decodeKey(f);
  const priv = f.keyval?.private;
  if (!dec || typeof priv !== "string" || !HEX.test(priv))
    throw new RidgeError("E_OTA_KEY_FILE", `${where}: not a private key file (keytype/scheme/keyval.private)`);
  const k = signingKeyFrom(dec.alg, new Uint8Array(Buffer.from(priv, "hex")));
  if (k.key.keyval.public !== f.keyval?.public && hex(dec.publicKey) !== hex(crypto.publicKeyOf(dec.alg, k.privateKey)))
    throw new RidgeError("E_OTA_KEY_FILE", `${where}: the public key does not belong to the private key`);
  return k;
}

/** A public-only key from a key file or a bare TUF key JSON (for `init-repo --root-keys`). */
export function publicKeyFromFile(text: string, where: string): TufKey {
  let f: Partial<TufKey>;
  try {
    f = JSON.parse(text) as Partial<TufKey>;
  } catch {
    throw new RidgeError("E_OTA_KEY_FILE", `${where}: not a JSON key file`);
  }
  if (!decodeKey(f)) throw new RidgeError("E_OTA_KEY_FILE", `${where}: not a key Ridgeline can verify (ed25519, ecdsa-sha2-nistp256, sm2-sm3)`);
  return { keytype: f.keytype!, scheme: f.scheme!, keyval: { public: f.keyval!.public } };
}

export interface TufSignature {
  keyid: string;
  sig: string;
}

export function signSigned(k: SigningKey, signed: unknown): TufSignature {
  return { keyid: k.keyid, sig: hex(crypto.sign(k.alg, k.privateKey, canonicalBytes(signed))) };
}

const opensslKeys = new Map<string, KeyObject>();

/**
 * Ed25519 and P-256 verification on the device goes through OpenSSL (node:crypto): constant
 * memory and several times faster than a pure-JS curve, which matters on a 512 MB board checking
 * metadata beside a running gateway. SM2 (and all signing) is attest/crypto's. Tests sign with
 * attest/crypto and verify here, so the two implementations check each other.
 */
function verifyOpenssl(alg: "ed25519" | "ecdsa-p256-sha256", pub: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const id = `${alg}:${hex(pub)}`;
  let k = opensslKeys.get(id);
  if (!k) {
    k = createPublicKey({ key: Buffer.from(crypto.publicKeyToSpki(alg, pub)), format: "der", type: "spki" });
    if (opensslKeys.size > 64) opensslKeys.clear();
    opensslKeys.set(id, k);
  }
  if (alg === "ed25519") return sig.length === 64 && opensslVerify(null, message, k, sig);
  // TUF (securesystemslib) ECDSA signatures are DER.
  return opensslVerify("sha256", message, { key: k, dsaEncoding: "der" }, sig);
}

/** Verify one signature over canonical bytes; false for anything malformed, never throws. */
export function verifyWith(key: unknown, message: Uint8Array, sigHex: unknown): boolean {
  const dec = decodeKey(key);
  if (!dec || typeof sigHex !== "string" || !HEX.test(sigHex) || sigHex.length > 1024) return false;
  try {
    const sig = new Uint8Array(Buffer.from(sigHex, "hex"));
    if (dec.alg === "sm2-sm3") return crypto.verify(dec.alg, dec.publicKey, message, sig);
    return verifyOpenssl(dec.alg, dec.publicKey, message, sig);
  } catch {
    return false;
  }
}
