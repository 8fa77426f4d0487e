/** attest: the public API of Ridgeline's attestation (crypto, measurements, quotes, verifier, audit). */
export * from "./crypto/index.js";
