/**
 * Signed model manifests. A manifest names one model artifact:
 *
 *   {"name": "anomaly", "version": "1.4.0", "length": 52311, "sha256": "<64 hex>",
 *    "url": "https://models.example/anomaly-1.4.0.onnx",
 *    "compat": {"arch": ["arm64", "riscv64"], "boards": ["rpi5"]},        (optional; absent = any)
 *    "signature": {"alg": "ed25519", "key": "<64 hex public key>", "sig": "<128 hex>"}}
 *
 * The signature covers the canonical JSON (sorted keys, no spaces) of the manifest without its
 * `signature` member. Verification is total: hostile input gives a `Failure` (E_MODEL_MANIFEST).
 * `ManifestVerifier` is the signature check: the model component (model-component.ts) plugs in the shared attest/crypto
 * `verify` (Ed25519, ECDSA P-256, SM2-SM3); the Ed25519-only default here keeps this module pure.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { canonicalBytes, fail, ok, type Result } from "../../core/index.js";

export interface ModelManifest {
  name: string;
  version: string;
  length: number;
  sha256: string;
  url: string;
  compat?: { arch?: string[]; boards?: string[] };
  signature: { alg: string; key: string; sig: string };
}

export interface ManifestVerifier {
  /** Never throws: malformed keys or signatures are just false. */
  verify(alg: string, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export const ed25519Verifier: ManifestVerifier = {
  verify(alg, publicKey, message, signature) {
    if (alg !== "ed25519" || publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};

/** The bytes a manifest signature covers. */
export function signedBytes(m: Record<string, unknown>): Uint8Array {
  const { signature: _s, ...rest } = m;
  return canonicalBytes(rest);
}

const HEX = /^[0-9a-f]*$/i;
function hex(s: string): Uint8Array | undefined {
  if (s.length % 2 || !HEX.test(s)) return undefined;
  return Uint8Array.from(Buffer.from(s, "hex"));
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ManifestCheck = Result<ModelManifest, "E_MODEL_MANIFEST">;

export function verifyManifest(input: unknown, trustedKeys: readonly string[], verifier: ManifestVerifier = ed25519Verifier): ManifestCheck {
  if (!input || typeof input !== "object" || Array.isArray(input)) return fail("E_MODEL_MANIFEST", "a manifest is a JSON object");
  const m = input as Record<string, unknown>;
  if (typeof m.name !== "string" || !NAME.test(m.name)) return fail("E_MODEL_MANIFEST", "name: letters, digits, '.', '_' or '-' (at most 64)");
  if (typeof m.version !== "string" || !NAME.test(m.version)) return fail("E_MODEL_MANIFEST", "version: letters, digits, '.', '_' or '-'");
  if (typeof m.length !== "number" || !Number.isSafeInteger(m.length) || m.length < 0) return fail("E_MODEL_MANIFEST", "length: a non-negative integer");
  if (typeof m.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.sha256)) return fail("E_MODEL_MANIFEST", "sha256: 64 lowercase hex digits");
  if (typeof m.url !== "string" || !/^https?:\/\//.test(m.url)) return fail("E_MODEL_MANIFEST", "url: http:// or https://");
  if (m.compat !== undefined) {
    const c = m.compat as Record<string, unknown>;
    if (!c || typeof c !== "object") return fail("E_MODEL_MANIFEST", "compat: an object");
    for (const k of ["arch", "boards"]) if (c[k] !== undefined && !(Array.isArray(c[k]) && (c[k] as unknown[]).every((x) => typeof x === "string"))) return fail("E_MODEL_MANIFEST", `compat.${k}: a list of strings`);
  }
  const sig = m.signature as Record<string, unknown> | undefined;
  if (!sig || typeof sig !== "object" || typeof sig.alg !== "string" || typeof sig.key !== "string" || typeof sig.sig !== "string") return fail("E_MODEL_MANIFEST", "signature: {alg, key, sig}");
  if (!trustedKeys.some((k) => k.toLowerCase() === (sig.key as string).toLowerCase())) return fail("E_MODEL_MANIFEST", "signature: the key is not one of cloud.models.trustedKeys");
  const key = hex(sig.key);
  const s = hex(sig.sig);
  if (!key || !s) return fail("E_MODEL_MANIFEST", "signature: key and sig are hex");
  if (!verifier.verify(sig.alg, key, signedBytes(m), s)) return fail("E_MODEL_MANIFEST", "signature: does not verify");
  return ok(m as unknown as ModelManifest);
}

/** Whether a manifest's compat list admits this board and CPU architecture. */
export function compatible(m: ModelManifest, board: { name: string; arch: string }): Result<void, "E_MODEL_INCOMPATIBLE"> {
  if (m.compat?.arch && !m.compat.arch.includes(board.arch)) return fail("E_MODEL_INCOMPATIBLE", `built for ${m.compat.arch.join(", ")}, this gateway is ${board.arch}`);
  if (m.compat?.boards && !m.compat.boards.includes(board.name)) return fail("E_MODEL_INCOMPATIBLE", `built for boards ${m.compat.boards.join(", ")}, this is ${board.name}`);
  return ok(undefined);
}
