/**
 * The measurement log, in the style of a TCG event log (TCG PC Client Platform Firmware Profile
 * §10 "Event Logging"): each entry names the PCR it was extended into, an event type, one digest
 * per bank (sha256, sm3) and a description. Replaying the log from the initial PCR values must
 * give the quoted PCRs; a verifier trusts nothing in the log beyond what replay proves.
 *
 * As in IMA's ima-ng template, what is extended is not the data digest alone but a template
 * digest binding the event's metadata to it:
 *   template = H_bank(dataDigest ‖ UTF-8(JSON [type, component, version ?? "", description]))
 * so an edited description, component name or version breaks replay like an edited digest. The
 * log keeps the data digests (what reference values name).
 *
 * Order: a PCR protects the order of the events extended into it, and nothing else (TCG: each PCR
 * is its own hash chain). Two logs that interleave the same per-PCR sequences differently replay
 * to the same PCRs and are the same evidence; the log's seq (its overall order) is a convenience,
 * and the verifier judges nothing by the order of events across PCRs.
 *
 * TPM boot marker: a TPM backend's log begins, in its PCR, with an event naming the TPM boot it
 * was recorded in (the quote's clockInfo.resetCount, and the OS boot id). Its data is its own
 * description, so a verifier checks it without reference values; a log replayed into the PCR after
 * a reboot names the wrong boot.
 */
import { digest, digestOf } from "./crypto/hash.js";
import type { HashAlg } from "./crypto/hash.js";
import { PcrBank, extend, initialPcr, PCR_COUNT } from "./pcr-bank.js";
import { fail, ok, type Result } from "../core/index.js";

/** What was measured: boot-chain file, the runtime slot, the config, a model, a driver. */
export type MeasuredKind = "boot" | "runtime" | "config" | "model" | "driver";
export const MEASURED_KINDS: readonly MeasuredKind[] = ["boot", "runtime", "config", "model", "driver"];

export type BankHash = "sha256" | "sm3";
export const BANKS: readonly BankHash[] = ["sha256", "sm3"];

export interface MeasurementEvent {
  /** Position in the log, from 0. */
  seq: number;
  pcr: number;
  type: MeasuredKind;
  /** The reference-value key: "kernel", "runtime", "config", "model:<name>", "driver:<name>". */
  component: string;
  /** The measured thing's version where known (the runtime's version, a model's version). */
  version?: string;
  /** Lowercase hex digests of the measured bytes, one per bank the log keeps. */
  digests: Partial<Record<BankHash, string>>;
  description: string;
}

export interface Measurement {
  pcr: number;
  type: MeasuredKind;
  component: string;
  version?: string;
  description: string;
  data: Uint8Array;
}

/** The digest extended into the PCR for one event (see the module header). */
export function templateDigest(
  bank: HashAlg,
  e: { type: string; component: string; version?: string | undefined; description: string },
  dataDigest: Uint8Array,
): Uint8Array {
  return digestOf(bank, dataDigest, JSON.stringify([e.type, e.component, e.version ?? "", e.description]));
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export const TPM_BOOT_COMPONENT = "tpm-boot";
const BOOT_RE = /^TPM boot: resetCount=(\d{1,10}) bootId=([0-9A-Za-z-]{1,64})$/;

/** The boot marker's measurement (its data is its description). */
export function bootMarker(pcr: number, resetCount: number, bootId: string): Measurement {
  const id = /^[0-9A-Za-z-]{1,64}$/.test(bootId) ? bootId : "unknown";
  const description = `TPM boot: resetCount=${resetCount} bootId=${id}`;
  return { pcr, type: "boot", component: TPM_BOOT_COMPONENT, description, data: new TextEncoder().encode(description) };
}

/** The boot a marker event names, or undefined when `e` is not a well-formed marker. */
export function parseBootMarker(e: Pick<MeasurementEvent, "type" | "component" | "description">): { resetCount: number; bootId: string } | undefined {
  if (e.type !== "boot" || e.component !== TPM_BOOT_COMPONENT) return undefined;
  const m = BOOT_RE.exec(e.description);
  return m ? { resetCount: Number(m[1]), bootId: m[2]! } : undefined;
}

/** The events of each PCR, in the order the PCR protects. */
export function eventsByPcr<E extends { pcr: number }>(events: readonly E[]): Map<number, E[]> {
  const out = new Map<number, E[]>();
  for (const e of events) {
    const l = out.get(e.pcr);
    if (l) l.push(e);
    else out.set(e.pcr, [e]);
  }
  return out;
}

export class MeasurementLog {
  private readonly events: MeasurementEvent[] = [];
  private readonly banks = new Map<BankHash, PcrBank>();
  constructor(readonly bankHashes: readonly BankHash[] = BANKS) {
    for (const h of bankHashes) this.banks.set(h, new PcrBank(h));
  }

  /**
   * A log that carries on from `events` (a TPM backend's saved log): each must be at its position
   * and hold a digest for every bank this log keeps. Programmer misuse (not checked input) throws.
   */
  static from(events: readonly MeasurementEvent[], bankHashes: readonly BankHash[] = BANKS): MeasurementLog {
    const log = new MeasurementLog(bankHashes);
    for (const e of events) {
      if (e.seq !== log.events.length) throw new RangeError(`event ${e.seq} at position ${log.events.length}`);
      if (!Number.isInteger(e.pcr) || e.pcr < 0 || e.pcr >= PCR_COUNT) throw new RangeError(`PCR ${e.pcr} out of range`);
      for (const [h, bank] of log.banks) {
        const d = e.digests[h];
        if (d === undefined) throw new RangeError(`event ${e.seq} has no ${h} digest`);
        bank.extend(e.pcr, templateDigest(h, e, Uint8Array.from(Buffer.from(d, "hex"))));
      }
      log.events.push({ ...e, digests: { ...e.digests } });
    }
    return log;
  }

  /** Measure `data` into every bank and append the event; returns it. */
  record(m: Measurement): MeasurementEvent {
    if (!Number.isInteger(m.pcr) || m.pcr < 0 || m.pcr >= PCR_COUNT) throw new RangeError(`PCR ${m.pcr} out of range`);
    const digests: Partial<Record<BankHash, string>> = {};
    for (const [h, bank] of this.banks) {
      const d = digest(h, m.data);
      bank.extend(m.pcr, templateDigest(h, m, d));
      digests[h] = hex(d);
    }
    const ev: MeasurementEvent = {
      seq: this.events.length,
      pcr: m.pcr,
      type: m.type,
      component: m.component,
      ...(m.version !== undefined ? { version: m.version } : {}),
      digests,
      description: m.description,
    };
    this.events.push(ev);
    return ev;
  }

  entries(): MeasurementEvent[] {
    return this.events.map((e) => ({ ...e, digests: { ...e.digests } }));
  }

  get length(): number {
    return this.events.length;
  }

  pcr(bank: BankHash, index: number): Uint8Array {
    const b = this.banks.get(bank);
    if (!b) throw new RangeError(`the log keeps no ${bank} bank`);
    return b.read(index);
  }

  /** PCR indices that have at least one event, ascending. */
  usedPcrs(): number[] {
    return [...new Set(this.events.map((e) => e.pcr))].sort((a, b) => a - b);
  }
}

/**
 * Replay `events` in one bank from the initial values (or, with `from`, continue from the PCR
 * values the first `from.count` events were already replayed to): the PCR values by index. Total
 * over hostile input: a PCR out of range or a missing or malformed digest for that bank is an
 * E_ATTEST_LOG_REPLAY failure whose offset is the event's seq.
 */
export function replayLog(
  events: readonly MeasurementEvent[],
  bank: HashAlg,
  from?: { count: number; pcrs: ReadonlyMap<number, Uint8Array> },
): Result<Map<number, Uint8Array>, "E_ATTEST_LOG_REPLAY"> {
  const size = bank === "sha1" ? 20 : bank === "sha384" ? 48 : bank === "sha512" ? 64 : 32;
  const pcrs = new Map<number, Uint8Array>(from?.pcrs ?? []);
  for (let k = from?.count ?? 0; k < events.length; k++) {
    const e = events[k]!;
    if (!Number.isInteger(e.pcr) || e.pcr < 0 || e.pcr >= PCR_COUNT) return fail("E_ATTEST_LOG_REPLAY", `event ${e.seq}: PCR ${e.pcr} out of range`, e.seq);
    const d = (e.digests as Partial<Record<string, string>>)[bank];
    if (typeof d !== "string" || d.length !== size * 2 || !/^[0-9a-f]+$/.test(d)) {
      return fail("E_ATTEST_LOG_REPLAY", `event ${e.seq}: no valid ${bank} digest`, e.seq);
    }
    const old = pcrs.get(e.pcr) ?? initialPcr(bank, e.pcr);
    pcrs.set(e.pcr, extend(bank, old, templateDigest(bank, e, Uint8Array.from(Buffer.from(d, "hex")))));
  }
  return ok(pcrs);
}
