/**
 * What the local console shows beyond the components' own status: the last values of each device
 * and when they arrived (the driver's emit is observed on its way into the pipeline), the last
 * warnings and errors of the log, and an hour of samples (queue depth, ingest rate) for the charts.
 * Everything is in memory and bounded: a device's last event, LOG_KEEP log lines, one sample every
 * SAMPLE_MS for HISTORY_MS.
 */
import pino from "pino";
import type { Clock, Event, Timer } from "../../core/index.js";

export const SAMPLE_MS = 10_000;
export const HISTORY_MS = 3_600_000;
const LOG_KEEP = 50;
const PAYLOAD_KEYS = 32;
const TEXT_MAX = 500;

export interface DeviceReading {
  device: string;
  driver: string;
  kind: string;
  /** Event time (the device's clock where known). */
  ts: number;
  /** When the gateway received it (its own clock). */
  receivedAt: number;
  values: Record<string, unknown>;
  events: number;
}

export interface LogEntry {
  at: number;
  level: "warn" | "error" | "fatal";
  msg: string;
  component?: string;
  code?: string;
  detail?: string;
}

export interface Sample {
  at: number;
  /** Events waiting in the uplink queue (all priorities) and their bytes. */
  queued: number;
  queuedBytes: number;
  /** Events per second emitted by drivers since the previous sample. */
  ingestPerSec: number;
}

/** A scalar or short value as the page may show it (objects and long strings are cut). */
function shown(v: unknown): unknown {
  if (v === null || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "string") return v.length > TEXT_MAX ? `${v.slice(0, TEXT_MAX)}…` : v;
  const s = JSON.stringify(v) ?? String(v);
  return s.length > TEXT_MAX ? `${s.slice(0, TEXT_MAX)}…` : s;
}

export class ConsoleFeed {
  private readonly devices = new Map<string, DeviceReading>();
  private readonly logs: LogEntry[] = [];
  private readonly samples: Sample[] = [];
  private ingested = 0;
  private lastSample: { mono: number; ingested: number } | undefined;
  private timer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    /** The uplink queue's depth when a sample is taken (undefined: no queue). */
    private readonly queueDepth: () => { events: number; bytes: number } | undefined = () => undefined,
  ) {}

  /** A driver emitted `e` (called for every event: a map write, nothing more). */
  observe(driver: string, e: Event): void {
    this.ingested++;
    const prev = this.devices.get(e.device);
    const values: Record<string, unknown> = prev && prev.kind === e.kind ? prev.values : {};
    let n = 0;
    for (const [k, v] of Object.entries(e.payload)) {
      if (n++ >= PAYLOAD_KEYS) break;
      values[k] = v;
    }
    this.devices.set(e.device, { device: e.device, driver, kind: e.kind, ts: e.ts, receivedAt: this.clock.now(), values, events: (prev?.events ?? 0) + 1 });
  }

  /** One structured log line (pino's JSON); kept when it is a warning or worse. */
  logLine(line: string): void {
    // pino levels: 40 warn, 50 error, 60 fatal; most lines are not: no JSON.parse for them
    const m = /"level":(\d+)/.exec(line);
    const level = m ? Number(m[1]) : 0;
    if (level < 40) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const str = (v: unknown) => (typeof v === "string" ? v.slice(0, TEXT_MAX) : undefined);
    const t = typeof o.time === "string" || typeof o.time === "number" ? new Date(o.time).getTime() : NaN;
    const entry: LogEntry = { at: Number.isFinite(t) ? t : this.clock.now(), level: level >= 60 ? "fatal" : level >= 50 ? "error" : "warn", msg: str(o.msg) ?? "" };
    const component = str(o.component) ?? str(o.driver);
    if (component) entry.component = component;
    const code = str(o.code);
    if (code) entry.code = code;
    const detail = str(o.err) ?? str(o.reason) ?? str(o.detail);
    if (detail) entry.detail = detail;
    this.logs.push(entry);
    if (this.logs.length > LOG_KEEP) this.logs.splice(0, this.logs.length - LOG_KEEP);
  }

  /** Take one sample now (the timer calls this every SAMPLE_MS; tests call it directly). */
  sample(): void {
    const mono = this.clock.monotonic();
    const q = this.queueDepth();
    const dt = this.lastSample ? (mono - this.lastSample.mono) / 1000 : 0;
    const rate = this.lastSample && dt > 0 ? (this.ingested - this.lastSample.ingested) / dt : 0;
    this.lastSample = { mono, ingested: this.ingested };
    this.samples.push({ at: this.clock.now(), queued: q?.events ?? 0, queuedBytes: q?.bytes ?? 0, ingestPerSec: Math.round(rate * 10) / 10 });
    const keep = Math.ceil(HISTORY_MS / SAMPLE_MS);
    if (this.samples.length > keep) this.samples.splice(0, this.samples.length - keep);
  }

  start(): void {
    if (this.timer) return;
    this.sample();
    const tick = () => {
      this.sample();
      this.timer = this.clock.setTimeout(tick, SAMPLE_MS);
    };
    this.timer = this.clock.setTimeout(tick, SAMPLE_MS);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  snapshot(): { devices: DeviceReading[]; logs: LogEntry[]; history: Sample[]; ingested: number } {
    const devices = [...this.devices.values()].sort((a, b) => (a.device < b.device ? -1 : 1)).map((d) => ({ ...d, values: Object.fromEntries(Object.entries(d.values).map(([k, v]) => [k, shown(v)])) }));
    return { devices, logs: [...this.logs].reverse(), history: [...this.samples], ingested: this.ingested };
  }
}

/**
 * Pino writes each line to one destination stream shared by every child logger: the feed reads the
 * lines there (a logger without one, e.g. a test's, is left alone). Returns the undo.
 */
export function tapLogStream(log: object, feed: ConsoleFeed): () => void {
  const stream = (log as Record<symbol, unknown>)[pino.symbols.streamSym] as { write?: (chunk: string) => boolean } | undefined;
  if (!stream || typeof stream.write !== "function") return () => undefined;
  const write = stream.write;
  stream.write = function (this: unknown, chunk: string) {
    if (typeof chunk === "string") feed.logLine(chunk);
    return write.call(this, chunk);
  };
  return () => {
    stream.write = write;
  };
}
