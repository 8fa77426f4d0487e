/**
 * The TPM 2.0 attestation backend: the attestation key (AK) is created on the TPM under the
 * endorsement key (tpm2_createak, restricted signing key) and made persistent; Ridgeline's
 * runtime measurements are extended into one TPM PCR (sha256 bank); a quote is TPM2_Quote over
 * that PCR with the verifier's nonce as qualifyingData.
 *
 * The PCR is one a process cannot reset without a reboot (default 14, see DEFAULT_TPM_PCR): 16-23
 * are refused, and so is any PCR the TPM itself reports resettable from some locality
 * (TPM_PT_PCR_RESET_L0..L4). The backend never resets a PCR. Since the PCR outlives the process,
 * so does the log: every event is written ahead to `pcr<N>-log.jsonl` in `dir` (fsync, then
 * extend), and a backend reopened in the same TPM boot (same resetCount) resumes that log after
 * replaying it against the PCR (an event written but never extended, the last one, is dropped);
 * a log that does not match is E_ATTEST_TPM_LOG_MISMATCH. In a new TPM boot the old log is
 * stale, the PCR must be at its initial value, and the new log starts with the TPM boot marker
 * (resetCount and OS boot id, attest/measurement-log.ts) so that no log can be carried into
 * another boot unnoticed.
 *
 * ECDSA P-256 AKs give quotes tpm2_checkquote can verify. SM2 AKs sign in the TPM's digest mode
 * (e = SHA-256(TPMS_ATTEST), no Z_A: swtpm/libtpms has no SM3 bank nor SM3 hash) and are checked
 * by Ridgeline's verifier only (tpm2_checkquote 5.4 cannot load SM2 keys).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { RidgeError } from "../../core/index.js";
import type { AttestBackend, QuoteResult } from "../attester.js";
import { logEventProblem } from "../evidence.js";
import type { QuoteAlg } from "../evidence.js";
import { DEFAULT_TPM_PCR, RESETTABLE_PCRS, initialPcr } from "../pcr-bank.js";
import { MeasurementLog, bootMarker, replayLog, templateDigest } from "../measurement-log.js";
import type { MeasurementEvent } from "../measurement-log.js";
import { publicKeyToPem } from "../crypto/index.js";
import { decodeEccPublic, decodePcrPropertiesResponse, encodeGetPcrPropertiesCommand, resettablePcrsOf, TPM_ALG, TPM_ECC } from "../tpm-structures.js";
import { tpm2Tools } from "./tpm2-tools.js";
import type { TpmToolRunner } from "./tpm2-tools.js";

/** Persistent handles in the owner range for Ridgeline's AKs (TCG Handles Registry §3.4: 0x81010000+ for platform-independent use). */
export const AK_HANDLE: Record<QuoteAlg, string> = { "ecdsa-p256-sha256": "0x81010010", "sm2-sm3": "0x81010011" };

export interface TpmBackendOptions {
  tcti: string;
  /** Working directory for AK public files and the last quote's files. */
  dir: string;
  alg: QuoteAlg;
  /** The PCR Ridgeline extends into (sha256 bank); one of 0-15 the TPM cannot reset. Default DEFAULT_TPM_PCR (14). */
  pcr?: number;
  runner?: TpmToolRunner;
  /** The OS boot id recorded in the boot marker. Default: /proc/sys/kernel/random/boot_id. */
  bootId?: string;
}

export interface TpmBackend extends AttestBackend {
  readonly pcr: number;
  /** The TPM's resetCount (TPMS_CLOCK_INFO) at open: the TPM boot this log belongs to. */
  readonly resetCount: number;
  /** The saved measurement log (JSON lines: a header, then one event a line). */
  readonly logFile: string;
  /** Events resumed from logFile at open (0: a new log, begun with its boot marker). */
  readonly resumedEvents: number;
  readonly akHandle: string;
  /** Paths of the last quote's files (TPMS_ATTEST, TPMT_SIGNATURE, PCR values in tpm2-tools format). */
  readonly lastQuoteFiles: { msg: string; sig: string; pcrs: string };
  /** Write the AK public key as PEM (ECDSA only: tpm2-tools cannot export SM2 keys as PEM). */
  exportAkPem(path: string): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

async function readPcr(t: TpmToolRunner, dir: string, pcrs: readonly number[]): Promise<Uint8Array[]> {
  const out = join(dir, "pcrs.bin");
  await t.run("tpm2_pcrread", [`sha256:${pcrs.join(",")}`, "-o", out]);
  const raw = new Uint8Array(readFileSync(out));
  if (raw.length !== 32 * pcrs.length) throw new RidgeError("E_ATTEST_TPM", `tpm2_pcrread returned ${raw.length} bytes for ${pcrs.length} PCRs`);
  return pcrs.map((_, i) => raw.slice(32 * i, 32 * i + 32));
}

export async function openTpmBackend(o: TpmBackendOptions): Promise<TpmBackend> {
  const pcr = o.pcr ?? DEFAULT_TPM_PCR;
  refuseResettableByProfile(pcr); // before anything touches the TPM
  const t = o.runner ?? tpm2Tools(o.tcti);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const handle = AK_HANDLE[o.alg];
  const akPub = join(o.dir, `ak-${o.alg}.tss`);
  try {
    await t.run("tpm2_readpublic", ["-c", handle, "-f", "tss", "-o", akPub]);
  } catch {
    // provisioning: EK (ECC, default template) → AK under it → persistent
    const ek = join(o.dir, "ek.ctx");
    const ak = join(o.dir, "ak.ctx");
    await t.run("tpm2_createek", ["-c", ek, "-G", "ecc", "-u", join(o.dir, "ek.pub")]);
    const [g, s] = o.alg === "sm2-sm3" ? ["ecc_sm2", "sm2"] : ["ecc", "ecdsa"];
    await t.run("tpm2_createak", ["-C", ek, "-c", ak, "-G", g, "-g", "sha256", "-s", s, "-u", akPub, "-f", "tss", "-n", join(o.dir, "ak.name")]);
    await t.run("tpm2_evictcontrol", ["-C", "o", "-c", ak, handle]);
  }
  const pub = decodeEccPublic(new Uint8Array(readFileSync(akPub)));
  if (!pub.ok) throw new RidgeError("E_ATTEST_TPM", `cannot read the AK public key: ${pub.reason}`);
  const wantCurve = o.alg === "sm2-sm3" ? TPM_ECC.SM2_P256 : TPM_ECC.NIST_P256;
  const wantScheme = o.alg === "sm2-sm3" ? TPM_ALG.SM2 : TPM_ALG.ECDSA;
  if (pub.value.curve !== wantCurve || pub.value.scheme !== wantScheme) {
    throw new RidgeError("E_ATTEST_TPM", `the persistent AK at ${handle} is not a ${o.alg} signing key`);
  }

  await refuseResettableByTpm(t, o.dir, pcr);
  const resetCount = await readResetCount(t);
  const bootId = o.bootId ?? readBootId();
  const logFile = join(o.dir, `pcr${pcr}-log.jsonl`);
  const [cur] = await readPcr(t, o.dir, [pcr]);
  let events = resumeLog(logFile, pcr, resetCount, bootId, cur!);
  const resumedEvents = events.length;
  if (events.length === 0) {
    const marker = new MeasurementLog().record(bootMarker(pcr, resetCount, bootId));
    writeLogFile(logFile, { format: LOG_FORMAT, pcr, resetCount, bootId }, [marker]);
    await extendTpm(t, marker);
    events = [marker];
  }

  const files = { msg: join(o.dir, "quote.msg"), sig: join(o.dir, "quote.sig"), pcrs: join(o.dir, "quote.pcrs") };
  return {
    kind: "tpm",
    alg: o.alg,
    mode: "tpm",
    publicKey: pub.value.point,
    bank: "sha256",
    pcr,
    resetCount,
    logFile,
    resumedEvents,
    restoredLog: events,
    akHandle: handle,
    lastQuoteFiles: files,
    async extend(ev) {
      if (ev.pcr !== pcr) throw new RidgeError("E_ATTEST_INTERNAL", `the TPM backend measures into PCR ${pcr} only, not ${ev.pcr}`);
      if (!ev.digests.sha256) throw new RidgeError("E_ATTEST_INTERNAL", "a TPM-backed log needs sha256 digests");
      // written ahead: a crash before the extend leaves a last event the PCR lacks, dropped at reopen
      try {
        appendLogLine(logFile, ev);
      } catch (e) {
        throw new RidgeError("E_ATTEST_TPM_LOG_WRITE", `cannot append event ${ev.seq} to ${logFile}: ${e instanceof Error ? e.message : String(e)}; not extended`);
      }
      await extendTpm(t, ev);
    },
    async quote(nonce, pcrs): Promise<QuoteResult> {
      const sel = pcrs.length ? [...pcrs] : [pcr];
      const args = ["-c", handle, "-l", `sha256:${sel.join(",")}`, "-q", hex(nonce), "-m", files.msg, "-s", files.sig, "-o", files.pcrs, "-g", "sha256"];
      if (o.alg === "sm2-sm3") args.push("--scheme", "sm2");
      await t.run("tpm2_quote", args);
      const values = await readPcr(t, o.dir, sel);
      return {
        attest: new Uint8Array(readFileSync(files.msg)),
        signature: new Uint8Array(readFileSync(files.sig)),
        bank: "sha256",
        pcrs: new Map(sel.map((i, k) => [i, values[k]!])),
      };
    },
    async exportAkPem(path) {
      if (o.alg === "sm2-sm3") {
        // tpm2-tools cannot write SM2 PEM; build the SPKI ourselves
        writeFileSync(path, publicKeyToPem("sm2-sm3", pub.value.point));
        return;
      }
      await t.run("tpm2_readpublic", ["-c", handle, "-f", "pem", "-o", path]);
    },
  };
}

const LOG_FORMAT = "ridgeline-tpm-log/1";
const LOG_MAX_BYTES = 64 << 20;

interface LogHeader {
  format: typeof LOG_FORMAT;
  pcr: number;
  resetCount: number;
  bootId: string;
}

async function extendTpm(t: TpmToolRunner, ev: MeasurementEvent): Promise<void> {
  const template = templateDigest("sha256", ev, Uint8Array.from(Buffer.from(ev.digests.sha256!, "hex")));
  await t.run("tpm2_pcrextend", [`${ev.pcr}:sha256=${hex(template)}`]);
}

/** 16-23 never (TCG PC Client), nor anything outside 0-23. */
function refuseResettableByProfile(pcr: number): void {
  if (!Number.isInteger(pcr) || pcr < 0 || pcr > 15 || RESETTABLE_PCRS.includes(pcr)) {
    throw new RidgeError(
      "E_ATTEST_TPM_PCR_RESETTABLE",
      `attest.tpmPcr ${pcr}: Ridgeline measures only into a PCR that cannot be reset without a reboot (0-15; 16 and 23 are resettable at locality 0, 17-22 by D-RTM); use one of 8-15`,
    );
  }
}

/** None the TPM reports resettable from any locality (TPM_PT_PCR_RESET_L0..L4), where it answers the query. */
async function refuseResettableByTpm(t: TpmToolRunner, dir: string, pcr: number): Promise<void> {
  const cmd = join(dir, "getcap-pcr-properties.cmd");
  const rsp = join(dir, "getcap-pcr-properties.rsp");
  let props: Map<number, number[]> | undefined;
  try {
    writeFileSync(cmd, encodeGetPcrPropertiesCommand());
    await t.run("tpm2_send", ["-o", rsp, cmd]);
    const d = decodePcrPropertiesResponse(new Uint8Array(readFileSync(rsp)));
    if (d.ok) props = d.value;
  } catch {
    // TPM_PT_PCR_RESET_Lx not available here (old tpm2-tools, a TPM refusing the query): the PC Client rule above stands
  }
  if (props && resettablePcrsOf(props).includes(pcr)) {
    throw new RidgeError(
      "E_ATTEST_TPM_PCR_RESETTABLE",
      `attest.tpmPcr ${pcr}: this TPM reports PCR ${pcr} resettable (TPM_PT_PCR_RESET_L0..L4 list ${resettablePcrsOf(props).join(", ")}); choose another of 8-15`,
    );
  }
}

async function readResetCount(t: TpmToolRunner): Promise<number> {
  const { stdout } = await t.run("tpm2_readclock", []);
  const m = /reset_count:\s*(\d+)/.exec(stdout);
  if (!m) throw new RidgeError("E_ATTEST_TPM", `tpm2_readclock printed no reset_count: ${stdout.slice(0, 200)}`);
  return Number(m[1]);
}

function readBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

function mismatch(file: string, why: string): RidgeError {
  return new RidgeError("E_ATTEST_TPM_LOG_MISMATCH", `${file}: ${why}; reboot to start a new log, or set attest.tpmPcr to another PCR of 8-15`);
}

/**
 * The saved events to carry on from, or [] to begin a new log. Same TPM boot: the saved log must
 * replay to the PCR (or, less its last event, which was written but never extended). New TPM
 * boot or no saved log: the PCR must be at its initial value.
 */
function resumeLog(file: string, pcr: number, resetCount: number, bootId: string, current: Uint8Array): MeasurementEvent[] {
  const saved = existsSync(file) ? readLogFile(file, pcr) : undefined;
  const initial = hex(initialPcr("sha256", pcr));
  if (!saved || saved.header.resetCount !== resetCount) {
    if (hex(current) !== initial) {
      throw new RidgeError(
        "E_ATTEST_TPM_PCR_IN_USE",
        `TPM PCR ${pcr} already holds measurements that Ridgeline has no log of for this TPM boot (resetCount ${resetCount}${saved ? `; ${file} is from boot ${saved.header.resetCount}` : `; no ${file}`}): another program extends PCR ${pcr}, or the log was deleted; reboot, or set attest.tpmPcr to another PCR of 8-15`,
      );
    }
    return [];
  }
  if (saved.header.bootId !== bootId) throw mismatch(file, `saved in OS boot ${saved.header.bootId}, this is boot ${bootId}, yet the TPM was not reset (resetCount ${resetCount})`);
  const replaysTo = (evs: readonly MeasurementEvent[]) => {
    const r = replayLog(evs, "sha256");
    return r.ok ? hex(r.value.get(pcr) ?? initialPcr("sha256", pcr)) : undefined;
  };
  const want = hex(current);
  if (replaysTo(saved.events) === want) {
    if (saved.torn) writeLogFile(file, saved.header, saved.events);
    return saved.events;
  }
  const n = saved.events.length;
  if (n > 0 && replaysTo(saved.events.slice(0, n - 1)) === want) {
    const kept = saved.events.slice(0, n - 1);
    writeLogFile(file, saved.header, kept);
    return kept;
  }
  throw mismatch(file, `its ${n} events replay to PCR ${pcr} = ${(replaysTo(saved.events) ?? "(not replayable)").slice(0, 16)}…, the TPM holds ${want.slice(0, 16)}… (the file was edited, or something else extended PCR ${pcr})`);
}

function readLogFile(file: string, pcr: number): { header: LogHeader; events: MeasurementEvent[]; torn: boolean } {
  const size = statSync(file).size;
  if (size > LOG_MAX_BYTES) throw mismatch(file, `${size} bytes, over the ${LOG_MAX_BYTES}-byte limit`);
  const lines = readFileSync(file, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const parse = (l: string): unknown => {
    try {
      return JSON.parse(l) as unknown;
    } catch {
      return undefined;
    }
  };
  const h = parse(lines[0] ?? "") as Partial<LogHeader> | undefined;
  if (
    !h ||
    h.format !== LOG_FORMAT ||
    h.pcr !== pcr ||
    typeof h.resetCount !== "number" ||
    !Number.isInteger(h.resetCount) ||
    typeof h.bootId !== "string"
  ) {
    throw mismatch(file, `line 1 is not a ${LOG_FORMAT} header for PCR ${pcr}`);
  }
  const events: MeasurementEvent[] = [];
  let torn = false;
  for (let i = 1; i < lines.length; i++) {
    const e = parse(lines[i]!);
    // a torn last line: its event was never extended (the write comes first)
    if (e === undefined && i === lines.length - 1) {
      torn = true;
      break;
    }
    const problem = logEventProblem(e, i - 1);
    if (problem) throw mismatch(file, `line ${i + 1}: ${problem}`);
    const ev = e as MeasurementEvent;
    if (ev.pcr !== pcr || !ev.digests.sha256 || !ev.digests.sm3) throw mismatch(file, `line ${i + 1}: an event for PCR ${ev.pcr} without both digests`);
    events.push(ev);
  }
  return { header: h as LogHeader, events, torn };
}

function writeLogFile(file: string, header: LogHeader, events: readonly MeasurementEvent[]): void {
  try {
    writeLogFileOrThrow(file, header, events);
  } catch (e) {
    throw new RidgeError("E_ATTEST_TPM_LOG_WRITE", `cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function writeLogFileOrThrow(file: string, header: LogHeader, events: readonly MeasurementEvent[]): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, [header, ...events].map((x) => JSON.stringify(x)).join("\n") + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDir(file);
}

function appendLogLine(file: string, ev: MeasurementEvent): void {
  const fd = openSync(file, "a", 0o600);
  try {
    writeSync(fd, JSON.stringify(ev) + "\n");
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(file: string): void {
  try {
    const fd = openSync(join(file, ".."), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  }
}
