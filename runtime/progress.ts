/**
 * Progress of long work (an OTA download, its verification, its unpacking) for people: a bar on a
 * terminal, redrawn at most ten times a second; elsewhere (a pipe, the journal, the cloud) one
 * line every few seconds with bytes, rate and time left, plus one when a phase starts or ends.
 * The meter is pure (it is given the time), so the same lines come out of the CLI, the gateway's
 * log and its cloud report.
 */
export interface ProgressSample {
  phase: string;
  done: number;
  total: number;
}

export interface ProgressLine extends ProgressSample {
  /** Bytes per second over the phase so far. */
  rate: number;
  /** Seconds left at that rate; undefined before any rate is known. */
  etaS: number | undefined;
  text: string;
}

const MiB = 2 ** 20;

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) {
    const whole = Math.ceil(s);
    return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  }
  const min = Math.ceil(s / 60);
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** The words for one sample: `download 45% 12.3/27.0 MiB at 1.2 MiB/s, 12 s left`. */
export function describe(p: ProgressSample, rate: number): { text: string; etaS: number | undefined } {
  const pct = p.total > 0 ? Math.min(100, Math.floor((p.done / p.total) * 100)) : 0;
  const etaS = rate > 0 && p.total > p.done ? (p.total - p.done) / rate : p.done >= p.total ? 0 : undefined;
  const left = p.done >= p.total ? "done" : etaS === undefined ? "time left unknown" : `${duration(etaS)} left`;
  return { text: `${p.phase} ${pct}% ${(p.done / MiB).toFixed(1)}/${(p.total / MiB).toFixed(1)} MiB at ${(rate / MiB).toFixed(2)} MiB/s, ${left}`, etaS };
}

export class ProgressMeter {
  private phase: string | undefined;
  private phaseStart = 0;
  private startDone = 0;
  private lastAt = -Infinity;
  private finished = false;

  constructor(private readonly everyMs: number) {}

  /** A line when one is due (a new phase, the end of one, or `everyMs` since the last), else undefined. */
  sample(p: ProgressSample, nowMs: number): ProgressLine | undefined {
    const newPhase = p.phase !== this.phase;
    if (newPhase) {
      this.phase = p.phase;
      this.phaseStart = nowMs;
      this.startDone = p.done;
      this.finished = false;
    }
    const end = p.done >= p.total && !this.finished;
    if (!newPhase && !end && nowMs - this.lastAt < this.everyMs) return undefined;
    if (end) this.finished = true;
    else if (!newPhase && this.finished) return undefined;
    this.lastAt = nowMs;
    const secs = (nowMs - this.phaseStart) / 1000;
    const rate = secs > 0 ? (p.done - this.startDone) / secs : 0;
    return { ...p, rate, ...describe(p, rate) };
  }
}

/** For a command: a bar on a terminal, lines every `everyMs` on a pipe. `end()` closes the bar's line. */
export function progressPrinter(out: NodeJS.WriteStream, everyMs = 5000): { update(p: ProgressSample): void; end(): void } {
  const tty = out.isTTY === true;
  const meter = new ProgressMeter(tty ? 100 : everyMs);
  let drawn = false;
  return {
    update(p) {
      const l = meter.sample(p, Date.now());
      if (!l) return;
      if (!tty) {
        out.write(`${l.text}\n`);
        return;
      }
      const w = 30;
      const f = l.total > 0 ? Math.min(w, Math.floor((l.done / l.total) * w)) : 0;
      out.write(`\r[${"#".repeat(f)}${".".repeat(w - f)}] ${l.text}\x1b[K`);
      drawn = true;
    },
    end() {
      if (drawn) out.write("\n");
      drawn = false;
    },
  };
}
