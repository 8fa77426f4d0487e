/** Structured logs (pino) to stderr, so stdout stays for the ready line and command output. */
import pino, { type Logger } from "pino";

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
}

/** Log once per burst: the first occurrence, then a summary with the count at most every `everyMs`. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly log: Pick<Logger, "warn">,
    private readonly everyMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}
  warn(key: string, obj: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const s = this.last.get(key);
    if (s && t - s.at < this.everyMs) {
      s.suppressed++;
      return;
    }
    this.log.warn({ ...obj, ...(s?.suppressed ? { suppressed: s.suppressed } : {}) }, msg);
    this.last.set(key, { at: t, suppressed: 0 });
    if (this.last.size > 10_000) this.last.clear();
  }
}
