/**
 * A PKCS#10 certificate signing request (RFC 2986 §4) for the gateway's identity key, for the cloud's CA:
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo SEQUENCE {
 *       version       INTEGER { v1(0) },
 *       subject       Name,                      -- RFC 5280 §4.1.2.4: CN = gateway id, O = organization
 *       subjectPKInfo SubjectPublicKeyInfo,
 *       attributes    [0] IMPLICIT SET OF Attribute  -- extensionRequest (RFC 2985 §5.4.2)
 *     },
 *     signatureAlgorithm AlgorithmIdentifier,        -- ecdsa-with-SHA256 without parameters (RFC 5758 §3.2)
 *     signature          BIT STRING
 *   }
 *
 * The requested extensions make it a TLS client certificate: keyUsage digitalSignature (critical) and
 * extendedKeyUsage clientAuth (RFC 5280 §4.2.1.3, §4.2.1.12). Pure: the signer is passed in.
 * DER (X.690) comes from attest/crypto's encoder.
 */
import { der } from "../attest/index.js";

const { TAG, tlv, encodeOid: oid } = der;
const sequence = (...items: Uint8Array[]) => tlv(TAG.SEQUENCE, ...items);
const set = (...items: Uint8Array[]) => tlv(TAG.SET, ...items);

export const OIDS = {
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  organizationalUnitName: "2.5.4.11",
  extensionRequest: "1.2.840.113549.1.9.14",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
} as const;

export interface CsrSubject {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
}

export interface CsrInput {
  subject: CsrSubject;
  /** DER SubjectPublicKeyInfo of the key being certified. */
  spki: Uint8Array;
  /** Signs the DER CertificationRequestInfo; returns a DER ECDSA-Sig-Value. */
  sign(info: Uint8Array): Uint8Array;
}

function rdn(type: string, value: string): Uint8Array {
  return set(sequence(oid(type), der.encodeUtf8String(value)));
}

export function encodeName(s: CsrSubject): Uint8Array {
  const rdns: Uint8Array[] = [];
  if (s.organization) rdns.push(rdn(OIDS.organizationName, s.organization));
  if (s.organizationalUnit) rdns.push(rdn(OIDS.organizationalUnitName, s.organizationalUnit));
  rdns.push(rdn(OIDS.commonName, s.commonName));
  return sequence(...rdns);
}

function clientAuthExtensions(): Uint8Array {
  // keyUsage: BIT STRING with 7 unused bits, bit 0 (digitalSignature) set.
  const keyUsage = sequence(oid(OIDS.keyUsage), tlv(TAG.BOOLEAN, Uint8Array.of(0xff)), tlv(TAG.OCTET_STRING, tlv(TAG.BIT_STRING, Uint8Array.of(0x07, 0x80))));
  const eku = sequence(oid(OIDS.extKeyUsage), tlv(TAG.OCTET_STRING, sequence(oid(OIDS.clientAuth))));
  return sequence(keyUsage, eku);
}

export function encodeRequestInfo(subject: CsrSubject, spki: Uint8Array): Uint8Array {
  const attributes = tlv(TAG.CONTEXT_0, sequence(oid(OIDS.extensionRequest), set(clientAuthExtensions())));
  return sequence(der.encodeUnsignedInteger(0n), encodeName(subject), spki, attributes);
}

/** The DER CertificationRequest. */
export function buildCsr(input: CsrInput): Uint8Array {
  const info = encodeRequestInfo(input.subject, input.spki);
  return sequence(info, sequence(oid(OIDS.ecdsaWithSha256)), der.encodeBitString(input.sign(info)));
}

