/**
 * The gateway's identity: a P-256 key pair made at flash time (the private key never leaves the
 * device root) and a PKCS#10 request the operator hands to the cloud's CA. An existing key is reused
 * so a re-flash keeps the identity the CA already certified; ECDSA signing is deterministic
 * (RFC 6979), so the same key and subject give the same request bytes.
 */
import { generateKeyPair, privateKeyFromPem, privateKeyToPem, publicKeyToPem, publicKeyToSpki, sign, type KeyPair } from "../../attest/index.js";
import { buildCsr, derToPem, type CsrSubject } from "./pkcs10-request.js";

export interface GatewayIdentity {
  keyPair: KeyPair;
  privateKeyPem: string;
  publicKeyPem: string;
  csrPem: string;
  /** true when the key came from an earlier flash. */
  reused: boolean;
}

export function makeGatewayIdentity(subject: CsrSubject, existingPrivatePem?: string): GatewayIdentity {
  let keyPair: KeyPair | undefined;
  if (existingPrivatePem !== undefined) {
    const k = privateKeyFromPem(existingPrivatePem);
    if (k.alg === "ecdsa-p256-sha256") keyPair = k;
  }
  const reused = keyPair !== undefined;
  keyPair ??= generateKeyPair("ecdsa-p256-sha256");
  const kp = keyPair;
  const csr = buildCsr({ subject, spki: publicKeyToSpki(kp.alg, kp.publicKey), sign: (info) => sign(kp.alg, kp.privateKey, info) });
  return {
    keyPair: kp,
    privateKeyPem: reused ? existingPrivatePem! : privateKeyToPem(kp.alg, kp.privateKey),
    publicKeyPem: publicKeyToPem(kp.alg, kp.publicKey),
    csrPem: derToPem("CERTIFICATE REQUEST", csr),
    reused,
  };
}
