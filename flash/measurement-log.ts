/**
 * The first measurement log, written at flash time with attest's MeasurementLog (TCG-style events,
 * sha256 and sm3 banks, ima-ng template digests: attest/measurement-log.ts).
 *
 * runtime/attestation keeps its log in memory and rebuilds it at every start; it reads no log file.
 * So the flashed log is what that component records on the device's first start, event for event:
 * the board's boot-chain files (where the flashed root holds them), slot a's manifest (the launcher
 * starts the runtime with RIDGE_SLOT=a; attest/runtime-measurement.ts), the config file as `ridge run` is
 * given it, one event per configured driver, on the PCRs its `pcrFor` picks (the attest config's
 * software PCRs, or every event on `attest.tpmPcr` when a TPM holds the PCRs). A verifier or an
 * operator can take reference values from it before the device ever boots.
 *
 * File format: the body of the runtime's `GET /attest/log`, `{ gateway, backend, alg, events }`.
 */
import { existsSync, readFileSync } from "node:fs";
import { MeasurementLog, slotManifestMeasurement, type AttestConfig, type MeasuredKind, type MeasurementEvent, type QuoteAlg } from "../attest/index.js";
import type { Board } from "../boards/index.js";
import { inRoot } from "./device-layout.js";

export interface MeasureInput {
  board: Board;
  root: string;
  /** The attest section in force (the schema's defaults when the config has none). */
  attest: AttestConfig;
  /** true when the runtime will use a TPM backend (all events on attest.tpmPcr). */
  tpm: boolean;
  /** The slot the launcher starts, its manifest's bytes, its entry (checked against the manifest) and version. */
  runtime: { slot: string; manifest: Uint8Array; entry: string; version: string };
  /** The config file as `ridge run --config` is given it, and its bytes. */
  config: { path: string; data: Uint8Array };
  drivers: readonly { name: string; kind: string }[];
}

/** The file: what the runtime's GET /attest/log returns. */
export interface MeasurementLogFile {
  gateway: string;
  backend: "software" | "tpm";
  alg: QuoteAlg;
  events: MeasurementEvent[];
}

export function firstMeasurements(input: MeasureInput): { log: MeasurementLog; absent: string[] } {
  const log = new MeasurementLog();
  const absent: string[] = [];
  const { attest: cfg } = input;
  // runtime/attestation's pcrFor
  const pcrFor = (kind: MeasuredKind, requested?: number) => (input.tpm ? cfg.tpmPcr : kind === "boot" ? (requested ?? 0) : cfg.pcrs[kind]);
  for (const b of input.board.measure) {
    const p = inRoot(input.root, b.path);
    if (!existsSync(p)) {
      absent.push(b.path);
      continue;
    }
    log.record({ type: "boot", pcr: pcrFor("boot", b.pcr), component: b.what, description: b.path, data: new Uint8Array(readFileSync(p)) });
  }
  const rt = input.runtime;
  log.record({ type: "runtime", pcr: pcrFor("runtime"), component: "runtime", version: rt.version, ...slotManifestMeasurement(rt.slot, rt.manifest, rt.entry) });
  log.record({ type: "config", pcr: pcrFor("config"), component: "config", description: input.config.path, data: input.config.data });
  for (const d of input.drivers) {
    log.record({ type: "driver", pcr: pcrFor("driver"), component: `driver:${d.kind}`, description: `driver ${d.name} (${d.kind})`, data: new TextEncoder().encode(`${d.kind}@${rt.version}`) });
  }
  return { log, absent };
}

export function measurementLogFile(gateway: string, backend: "software" | "tpm", alg: QuoteAlg, log: MeasurementLog): string {
  const body: MeasurementLogFile = { gateway, backend, alg, events: log.entries() };
  return `${JSON.stringify(body, null, 2)}\n`;
}
