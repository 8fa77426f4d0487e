/**
 * The first measurement log, written at flash time: what the device will boot, as sha256 digests
 * with the PCR each belongs to. Boot-chain files named by the board (kernel, device tree, firmware
 * config) where the flashed root holds them, then the runtime in PCR 10 (the PCR the attestation
 * vectors use for "runtime"): the slot manifest, which covers every slot file by digest, and Node.js.
 *
 * Format (until the attestation module's log takes over): a JSON list of
 * `{ pcr, digest, what }`, digest = sha256 hex.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { Board } from "../schema.js";
import { inRoot } from "./device-layout.js";

export interface Measurement {
  pcr: number;
  digest: string;
  what: string;
}

export const RUNTIME_PCR = 10;

export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export interface MeasureInput {
  board: Board;
  root: string;
  slotManifestBytes: Uint8Array;
  slotPath: string;
  nodeSha256: string | undefined;
}

export function firstMeasurements(input: MeasureInput): { log: Measurement[]; absent: string[] } {
  const log: Measurement[] = [];
  const absent: string[] = [];
  for (const m of input.board.measure) {
    const p = inRoot(input.root, m.path);
    if (existsSync(p)) log.push({ pcr: m.pcr, digest: sha256Hex(readFileSync(p)), what: `${m.what} ${m.path}` });
    else absent.push(m.path);
  }
  log.push({ pcr: RUNTIME_PCR, digest: sha256Hex(input.slotManifestBytes), what: `runtime slot manifest ${input.slotPath}/ridge-bundle.json` });
  if (input.nodeSha256) log.push({ pcr: RUNTIME_PCR, digest: input.nodeSha256, what: `node ${input.slotPath}/node/bin/node` });
  return { log, absent };
}
