/**
 * Raw keys ⇄ the PEM files OpenSSL reads and writes:
 *  - SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; EC: RFC 5480; Ed25519: RFC 8410)
 *  - PKCS#8 PrivateKeyInfo (RFC 5208) wrapping SEC1 ECPrivateKey (RFC 5915) or an Ed25519 seed,
 *    and SEC1 "EC PRIVATE KEY" on import; also SEC1 under "SM2 PRIVATE KEY", the label
 *    `openssl ec` (OpenSSL 3) writes for an SM2 key (PEM_STRING_SM2PRIVATEKEY in openssl/pem.h).
 * SM2 keys use id-ecPublicKey with the named curve sm2p256v1 (1.2.156.10197.1.301), as
 * `openssl genpkey -algorithm SM2` writes them.
 */
import { RidgeError } from "../../core/index.js";
import { TAG, decodeOid, encodeOid, encodeUnsignedInteger, fromPem, readChildren, readWhole, tlv, toPem } from "./der.js";
import type { Tlv } from "./der.js";

export type SigAlg = "ed25519" | "ecdsa-p256-sha256" | "sm2-sm3";

export const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  sm2p256v1: "1.2.156.10197.1.301",
  ed25519: "1.3.101.112",
} as const;

function badKey(message: string): RidgeError {
  return new RidgeError("E_ATTEST_KEY_FORMAT", message);
}

function algorithmIdentifier(alg: SigAlg): Uint8Array {
  if (alg === "ed25519") return tlv(TAG.SEQUENCE, encodeOid(OID.ed25519));
  const curve = alg === "sm2-sm3" ? OID.sm2p256v1 : OID.prime256v1;
  return tlv(TAG.SEQUENCE, encodeOid(OID.ecPublicKey), encodeOid(curve));
}

function checkPublicLength(alg: SigAlg, pub: Uint8Array): void {
  const want = alg === "ed25519" ? 32 : 65;
  if (pub.length !== want || (alg !== "ed25519" && pub[0] !== 0x04)) {
    throw badKey(`${alg} public key must be ${want} bytes${alg === "ed25519" ? "" : " (uncompressed 04‖x‖y)"}`);
  }
}

export function publicKeyToSpki(alg: SigAlg, pub: Uint8Array): Uint8Array {
  checkPublicLength(alg, pub);
  return tlv(TAG.SEQUENCE, algorithmIdentifier(alg), tlv(TAG.BIT_STRING, Uint8Array.of(0), pub));
}

export function privateKeyToPkcs8(alg: SigAlg, priv: Uint8Array, pub: Uint8Array): Uint8Array {
  if (priv.length !== 32) throw badKey(`${alg} private key must be 32 bytes`);
  const version0 = encodeUnsignedInteger(0n);
  if (alg === "ed25519") {
    return tlv(TAG.SEQUENCE, version0, algorithmIdentifier(alg), tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, priv)));
  }
  // RFC 5915 ECPrivateKey { version 1, privateKey, [1] publicKey }; the curve is in the PKCS#8 algorithm
  const ecPrivateKey = tlv(
    TAG.SEQUENCE,
    encodeUnsignedInteger(1n),
    tlv(TAG.OCTET_STRING, priv),
    tlv(0xa1, tlv(TAG.BIT_STRING, Uint8Array.of(0), pub)),
  );
  return tlv(TAG.SEQUENCE, version0, algorithmIdentifier(alg), tlv(TAG.OCTET_STRING, ecPrivateKey));
}

function algFromIdentifier(t: Tlv | undefined): SigAlg {
  if (!t || t.tag !== TAG.SEQUENCE) throw badKey("AlgorithmIdentifier missing");
  const kids = readChildren(t.value);
  const oid = kids?.[0]?.tag === TAG.OID ? decodeOid(kids[0].value) : undefined;
  if (oid === OID.ed25519) return "ed25519";
  if (oid === OID.sm2p256v1) return "sm2-sm3"; // some tools put the SM2 OID as the algorithm itself
  if (oid === OID.ecPublicKey) {
    const curve = kids?.[1]?.tag === TAG.OID ? decodeOid(kids[1].value) : undefined;
    if (curve === OID.prime256v1) return "ecdsa-p256-sha256";
    if (curve === OID.sm2p256v1) return "sm2-sm3";
    throw badKey(`unsupported EC curve ${curve ?? "(explicit or missing parameters)"}; expected P-256 or SM2`);
  }
  throw badKey(`unsupported key algorithm ${oid ?? "(unreadable)"}`);
}

function bitStringBytes(t: Tlv | undefined): Uint8Array {
  if (!t || t.tag !== TAG.BIT_STRING || t.value.length < 1 || t.value[0] !== 0) throw badKey("bad BIT STRING");
  return t.value.subarray(1);
}

export function spkiToPublicKey(der: Uint8Array): { alg: SigAlg; publicKey: Uint8Array } {
  const seq = readWhole(der, TAG.SEQUENCE);
  const kids = seq && readChildren(seq.value);
  if (!kids || kids.length !== 2) throw badKey("not a SubjectPublicKeyInfo");
  const alg = algFromIdentifier(kids[0]);
  const publicKey = Uint8Array.from(bitStringBytes(kids[1]));
  checkPublicLength(alg, publicKey);
  return { alg, publicKey };
}

/** SEC1 ECPrivateKey → { d, curve from [0] if present }. */
function readEcPrivateKey(der: Uint8Array): { d: Uint8Array; curve?: string } {
  const seq = readWhole(der, TAG.SEQUENCE);
  const kids = seq && readChildren(seq.value);
  if (!kids || kids.length < 2 || kids[0]!.tag !== TAG.INTEGER || kids[1]!.tag !== TAG.OCTET_STRING) {
    throw badKey("not an ECPrivateKey");
  }
  const d = kids[1]!.value;
  if (d.length !== 32) throw badKey("EC private key must be 32 bytes");
  const params = kids.find((k) => k.tag === 0xa0);
  const oidTlv = params && readWhole(params.value, TAG.OID);
  const curve = oidTlv ? decodeOid(oidTlv.value) : undefined;
  return curve ? { d: Uint8Array.from(d), curve } : { d: Uint8Array.from(d) };
}

export function pkcs8ToPrivateKey(der: Uint8Array): { alg: SigAlg; privateKey: Uint8Array } {
  const seq = readWhole(der, TAG.SEQUENCE);
  const kids = seq && readChildren(seq.value);
  if (!kids || kids.length < 3 || kids[0]!.tag !== TAG.INTEGER || kids[2]!.tag !== TAG.OCTET_STRING) {
    throw badKey("not a PKCS#8 PrivateKeyInfo");
  }
  const alg = algFromIdentifier(kids[1]);
  if (alg === "ed25519") {
    const inner = readWhole(kids[2]!.value, TAG.OCTET_STRING);
    if (!inner || inner.value.length !== 32) throw badKey("Ed25519 private key must be a 32-byte seed");
    return { alg, privateKey: Uint8Array.from(inner.value) };
  }
  return { alg, privateKey: readEcPrivateKey(kids[2]!.value).d };
}

export function sec1ToPrivateKey(der: Uint8Array): { alg: SigAlg; privateKey: Uint8Array } {
  const { d, curve } = readEcPrivateKey(der);
  if (curve === OID.prime256v1) return { alg: "ecdsa-p256-sha256", privateKey: d };
  if (curve === OID.sm2p256v1) return { alg: "sm2-sm3", privateKey: d };
  throw badKey(`EC PRIVATE KEY with unsupported or missing curve ${curve ?? ""}`.trim());
}

/** `openssl ec` on an SM2 key: the same SEC1 ECPrivateKey, named curve sm2p256v1, only labelled after the key type. */
export function sm2Sec1ToPrivateKey(der: Uint8Array): { alg: SigAlg; privateKey: Uint8Array } {
  const { d, curve } = readEcPrivateKey(der);
  if (curve !== OID.sm2p256v1) {
    throw badKey(`SM2 PRIVATE KEY must name the curve sm2p256v1 (${OID.sm2p256v1}), found ${curve ?? "explicit or missing parameters; write it with openssl ec -param_enc named_curve"}`);
  }
  return { alg: "sm2-sm3", privateKey: d };
}

export function publicPem(alg: SigAlg, pub: Uint8Array): string {
  return toPem("PUBLIC KEY", publicKeyToSpki(alg, pub));
}

export function privatePem(alg: SigAlg, priv: Uint8Array, pub: Uint8Array): string {
  return toPem("PRIVATE KEY", privateKeyToPkcs8(alg, priv, pub));
}

export function parsePublicPem(pem: string): { alg: SigAlg; publicKey: Uint8Array } {
  const block = fromPem(pem, ["PUBLIC KEY"]);
  if (!block) throw badKey("no PUBLIC KEY PEM block found");
  return spkiToPublicKey(block.der);
}

export function parsePrivatePem(pem: string): { alg: SigAlg; privateKey: Uint8Array } {
  const block = fromPem(pem, ["PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"]);
  if (!block) throw badKey("no PRIVATE KEY, EC PRIVATE KEY or SM2 PRIVATE KEY PEM block found");
  if (block.label === "PRIVATE KEY") return pkcs8ToPrivateKey(block.der);
  return block.label === "SM2 PRIVATE KEY" ? sm2Sec1ToPrivateKey(block.der) : sec1ToPrivateKey(block.der);
}
