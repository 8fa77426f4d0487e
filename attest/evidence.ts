/**
 * Evidence: what a gateway returns to a challenge. JSON, so it can travel over the control API,
 * MQTT and files alike; the signed part is the TPMS_ATTEST bytes (`quote`), everything else is
 * checked against it (PCR values → pcrDigest, log → PCR values).
 *
 *   { "format": "ridgeline-evidence/1", "gateway": "gw-7", "runtimeVersion": "0.1.0",
 *     "signer": { "alg": "sm2-sm3", "mode": "gm", "publicKey": "04…" },
 *     "quote": "<hex TPMS_ATTEST>", "signature": "<hex TPMT_SIGNATURE>",
 *     "pcrs": { "sm3": { "11": "<hex>", … } }, "log": [ MeasurementEvent, … ] }
 *
 * `mode`: "gm" = SM2 with Z_A over the signer ID (software quotes); "tpm" = the TPM's digest mode.
 * Parsing is total and bounded: oversize or malformed evidence gives { ok: false, reason }.
 */
import { z } from "zod";
import type { MeasurementEvent } from "./measurement-log.js";

export const EVIDENCE_FORMAT = "ridgeline-evidence/1";
export const EVIDENCE_MAX_BYTES = 1 << 20;
export const LOG_MAX_EVENTS = 10_000;

export type QuoteAlg = "sm2-sm3" | "ecdsa-p256-sha256";
export type SignMode = "gm" | "tpm";

export interface Evidence {
  format: typeof EVIDENCE_FORMAT;
  gateway: string;
  runtimeVersion: string;
  signer: { alg: QuoteAlg; mode: SignMode; publicKey: string };
  quote: string;
  signature: string;
  pcrs: Record<string, Record<string, string>>;
  log: MeasurementEvent[];
}

const hexStr = (max: number) => z.string().max(max).regex(/^([0-9a-f]{2})*$/, "lowercase hex");
const digestHex = z.string().regex(/^[0-9a-f]{40,128}$/);

const eventSchema = z
  .object({
    seq: z.number().int().min(0),
    pcr: z.number().int().min(0).max(23),
    type: z.enum(["boot", "runtime", "config", "model", "driver"]),
    component: z.string().min(1).max(256),
    version: z.string().max(64).optional(),
    digests: z.object({ sha256: digestHex.optional(), sm3: digestHex.optional() }).strict(),
    description: z.string().max(1024),
  })
  .strict();

const evidenceSchema = z
  .object({
    format: z.literal(EVIDENCE_FORMAT),
    gateway: z.string().min(1).max(64),
    runtimeVersion: z.string().max(64),
    signer: z.object({ alg: z.enum(["sm2-sm3", "ecdsa-p256-sha256"]), mode: z.enum(["gm", "tpm"]), publicKey: hexStr(200) }).strict(),
    quote: hexStr(4096),
    signature: hexStr(1024),
    pcrs: z.record(z.enum(["sha1", "sha256", "sha384", "sha512", "sm3"]), z.record(z.string().regex(/^(1?[0-9]|2[0-3])$/), digestHex)),
    log: z.array(eventSchema).max(LOG_MAX_EVENTS),
  })
  .strict();

export type ParsedEvidence = { ok: true; evidence: Evidence } | { ok: false; reason: string };

export function parseEvidence(input: Uint8Array | string | unknown): ParsedEvidence {
  let value: unknown = input;
  if (typeof input === "string" || input instanceof Uint8Array) {
    const size = typeof input === "string" ? Buffer.byteLength(input) : input.length;
    if (size > EVIDENCE_MAX_BYTES) return { ok: false, reason: `evidence is ${size} bytes, over the ${EVIDENCE_MAX_BYTES}-byte limit` };
    const text = typeof input === "string" ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8");
    try {
      value = JSON.parse(text);
    } catch (e) {
      return { ok: false, reason: `evidence is not JSON: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  const r = evidenceSchema.safeParse(value);
  if (!r.success) {
    const is = r.error.issues[0]!;
    return { ok: false, reason: `evidence ${is.path.join(".") || "(root)"}: ${is.message}` };
  }
  const ev = r.data as Evidence;
  for (let i = 0; i < ev.log.length; i++) if (ev.log[i]!.seq !== i) return { ok: false, reason: `log event ${i} has seq ${ev.log[i]!.seq}` };
  return { ok: true, evidence: ev };
}

/** "1.2.3" (with an optional -suffix) → UINT64 firmwareVersion major<<32 | minor<<16 | patch. */
export function versionToFirmware(v: string): bigint {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) return 0n;
  const [a, b, c] = [m[1]!, m[2]!, m[3]!].map((x) => BigInt(Math.min(Number(x), 0xffff)));
  return (a! << 32n) | (b! << 16n) | c!;
}

export function firmwareToVersion(fw: bigint): string {
  return `${(fw >> 32n) & 0xffffn}.${(fw >> 16n) & 0xffffn}.${fw & 0xffffn}`;
}

/** Compare dotted versions numerically (pre-release suffixes ignored); -1, 0, 1; NaN when unparseable. */
export function compareVersions(a: string, b: string): number {
  const p = (v: string) => /^(\d+)\.(\d+)\.(\d+)/.exec(v)?.slice(1).map(Number);
  const x = p(a);
  const y = p(b);
  if (!x || !y) return NaN;
  for (let i = 0; i < 3; i++) if (x[i]! !== y[i]!) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}
