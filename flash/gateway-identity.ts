/**
 * The gateway's identity: a P-256 key pair made at flash time (the private key never leaves the
 * device root) and a PKCS#10 request the operator hands to the cloud's CA. An existing key is reused
 * so a re-flash keeps the identity the CA already certified; ECDSA signing is deterministic
 * (RFC 6979), so the same key and subject give the same request bytes.
 */
import { der, generateKeyPair, privateKeyFromPem, privateKeyToPem, publicKeyToPem, publicKeyToSpki, sign, type KeyPair } from "../attest/index.js";
import { RidgeError } from "../core/index.js";
import { buildCsr, type CsrSubject } from "./pkcs10-request.js";

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
    let k: KeyPair;
    try {
      k = privateKeyFromPem(existingPrivatePem);
    } catch (e) {
      throw new RidgeError("E_FLASH_IDENTITY_KEY", `the device's identity key is unreadable (${(e as Error).message}): it is never replaced by flashing; move it away to make a new identity (the cloud must then certify the new CSR)`);
    }
    if (k.alg !== "ecdsa-p256-sha256") throw new RidgeError("E_FLASH_IDENTITY_KEY", `the device's identity key is ${k.alg}, not P-256: move it away to make a new identity`);
    keyPair = k;
  }
  const reused = keyPair !== undefined;
  keyPair ??= generateKeyPair("ecdsa-p256-sha256");
  const kp = keyPair;
  const csr = buildCsr({ subject, spki: publicKeyToSpki(kp.alg, kp.publicKey), sign: (info) => sign(kp.alg, kp.privateKey, info) });
  return {
    keyPair: kp,
    privateKeyPem: reused ? existingPrivatePem! : privateKeyToPem(kp.alg, kp.privateKey),
    publicKeyPem: publicKeyToPem(kp.alg, kp.publicKey),
    csrPem: der.toPem("CERTIFICATE REQUEST", csr),
    reused,
  };
}
