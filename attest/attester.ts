/**
 * The gateway's side: measure what runs, keep the log and the PCRs in step, and answer a
 * verifier's nonce with a quote. Measurements and quotes are serialized so a quote never sees a
 * half-recorded event. The key and the PCRs live in a backend: software (SM2/P-256 key in the
 * data directory, PCR banks in memory) or a TPM 2.0 (attest/tpm/).
 */
import { encodeQuoteInfo, encodeTpmSignature } from "./tpm-structures.js";
import type { PcrSelection } from "./tpm-structures.js";
import { EVIDENCE_FORMAT, versionToFirmware } from "./evidence.js";
import type { Evidence, QuoteAlg, SignMode } from "./evidence.js";
import { MeasurementLog } from "./measurement-log.js";
import type { BankHash, Measurement, MeasurementEvent, MeasuredKind } from "./measurement-log.js";
import { pcrCompositeDigest } from "./pcr-bank.js";
import { schemeHash, softwareKeyName, toTpmSignature } from "./quote-signer.js";
import type { QuoteSigner } from "./quote-signer.js";
import type { Clock } from "../core/index.js";

export interface QuoteResult {
  attest: Uint8Array;
  signature: Uint8Array;
  bank: BankHash;
  pcrs: Map<number, Uint8Array>;
}

/** Where the key and the PCRs live. */
export interface AttestBackend {
  readonly kind: "software" | "tpm";
  readonly alg: QuoteAlg;
  readonly mode: SignMode;
  readonly publicKey: Uint8Array;
  /** The bank the log is replayed in and the quote selects. */
  readonly bank: BankHash;
  /** The one PCR a backend measures into (the TPM's): every kind goes there unless pcrFor says otherwise. */
  readonly pcr?: number;
  /**
   * The log the backend's PCRs already hold (a TPM backend reopened without a reboot resumes its
   * saved log, beginning with its boot marker); the Attester carries on from it.
   */
  readonly restoredLog?: readonly MeasurementEvent[];
  /** Extend one recorded event into the backend's PCRs (the software backend's PCRs are the log's). */
  extend(event: MeasurementEvent): Promise<void>;
  quote(nonce: Uint8Array, pcrs: readonly number[], log: MeasurementLog): Promise<QuoteResult>;
  close?(): Promise<void>;
}

export interface SoftwareBackendOptions {
  signer: QuoteSigner;
  clock: Clock;
  /** The boot counter (quote resetCount). */
  resetCount: number;
  runtimeVersion: string;
}

/** Software quotes: TPMS_ATTEST over the log's own bank, SM2 GM mode or ECDSA P-256. */
export function softwareBackend(o: SoftwareBackendOptions): AttestBackend {
  const bank: BankHash = schemeHash(o.signer.alg) === "sm3" ? "sm3" : "sha256";
  const name = softwareKeyName(o.signer.alg, o.signer.publicKey);
  let lastClock = 0n;
  return {
    kind: "software",
    alg: o.signer.alg,
    mode: "gm",
    publicKey: o.signer.publicKey,
    bank,
    async extend() {},
    async quote(nonce, pcrs, log) {
      const values = new Map<number, Uint8Array>();
      for (const i of pcrs) values.set(i, log.pcr(bank, i));
      const select: PcrSelection[] = [{ hash: bank, pcrs: [...pcrs] }];
      // TPMS_CLOCK_INFO.clock: ms, strictly increasing within one boot (wall clock, never backwards)
      let clock = BigInt(Math.max(0, Math.floor(o.clock.now())));
      if (clock <= lastClock) clock = lastClock + 1n;
      lastClock = clock;
      const attest = encodeQuoteInfo({
        qualifiedSigner: name,
        extraData: nonce,
        clockInfo: { clock, resetCount: o.resetCount, restartCount: 0, safe: true },
        firmwareVersion: versionToFirmware(o.runtimeVersion),
        pcrSelect: select,
        pcrDigest: pcrCompositeDigest(schemeHash(o.signer.alg), [...values.values()]),
      });
      const signature = encodeTpmSignature(toTpmSignature(o.signer.alg, o.signer.sign(attest)));
      return { attest, signature, bank, pcrs: values };
    },
  };
}

/** Default PCR per measured kind (boot files take the PCR their board file names). */
export const DEFAULT_PCRS: Record<Exclude<MeasuredKind, "boot">, number> = { runtime: 11, config: 12, model: 13, driver: 14 };

export interface AttesterOptions {
  gatewayId: string;
  runtimeVersion: string;
  backend: AttestBackend;
  /** PCR for each kind; a TPM backend maps every kind to its one runtime PCR. */
  pcrFor?: (kind: MeasuredKind, requested?: number) => number;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export class Attester {
  readonly log: MeasurementLog;
  private chain: Promise<unknown> = Promise.resolve();
  private quotes = 0;
  constructor(private readonly o: AttesterOptions) {
    this.log = o.backend.restoredLog ? MeasurementLog.from(o.backend.restoredLog) : new MeasurementLog();
  }

  get backend(): AttestBackend {
    return this.o.backend;
  }

  get quoteCount(): number {
    return this.quotes;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Record one measurement (pcr optional: the kind's default) and extend it into the backend. */
  measure(m: Omit<Measurement, "pcr"> & { pcr?: number }): Promise<MeasurementEvent> {
    return this.serial(async () => {
      const one = this.o.backend.pcr;
      const pcr = this.o.pcrFor ? this.o.pcrFor(m.type, m.pcr) : one !== undefined ? one : (m.pcr ?? (m.type === "boot" ? 0 : DEFAULT_PCRS[m.type]));
      const ev = this.log.record({ ...m, pcr });
      await this.o.backend.extend(ev);
      return ev;
    });
  }

  /** Answer a challenge: quote over every PCR the log touched, with the nonce as extraData. */
  quote(nonce: Uint8Array): Promise<Evidence> {
    if (nonce.length < 8 || nonce.length > 32) {
      return Promise.reject(new RangeError("a nonce is 8 to 32 bytes (TPM2B_DATA holds at most sizeof(TPMT_HA))"));
    }
    return this.serial(async () => {
      const pcrs = this.log.usedPcrs();
      const q = await this.o.backend.quote(nonce, pcrs, this.log);
      this.quotes++;
      const pcrHex: Record<string, string> = {};
      for (const [i, v] of q.pcrs) pcrHex[String(i)] = hex(v);
      return {
        format: EVIDENCE_FORMAT,
        gateway: this.o.gatewayId,
        runtimeVersion: this.o.runtimeVersion,
        signer: { alg: this.o.backend.alg, mode: this.o.backend.mode, publicKey: hex(this.o.backend.publicKey) },
        quote: hex(q.attest),
        signature: hex(q.signature),
        pcrs: { [q.bank]: pcrHex },
        // only the quoted bank's digests: anything else in the evidence could not be verified
        log: this.log.entries().map((e) => ({ ...e, digests: { [q.bank]: e.digests[q.bank] } })),
      };
    });
  }
}
