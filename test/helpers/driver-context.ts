/** A recording DriverContext for driver tests: events, per-label counts, logs, and switchable backpressure. */
import { systemClock, type Clock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";

export interface RecordingContext extends DriverContext {
  events: Event[];
  counts: Map<string, number>;
  logs: { level: string; obj: Record<string, unknown>; msg: string }[];
  /** Sum of a metric over label sets matching `where`. */
  count_(metric: string, where?: Record<string, string>): number;
  /** While true, emit() answers false and drained() waits for release(). */
  backpressure: boolean;
  /** Start pushing back (emit() → false) until release(). */
  pushBack(): void;
  release(): void;
  /** How many times the driver asked drained(). */
  drainedCalls: number;
}

export function recordingContext(clock: Clock = systemClock, dataDir = "/nonexistent"): RecordingContext {
  const counts = new Map<string, number>();
  const logs: RecordingContext["logs"] = [];
  let waiters: (() => void)[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string) => void logs.push({ level, obj, msg });
  const ctx: RecordingContext = {
    events: [],
    counts,
    logs,
    backpressure: false,
    emit(e) {
      ctx.events.push(e);
      return !ctx.backpressure;
    },
    drainedCalls: 0,
    pushBack() {
      ctx.backpressure = true;
    },
    drained() {
      ctx.drainedCalls++;
      if (!ctx.backpressure) return Promise.resolve();
      return new Promise<void>((r) => waiters.push(r));
    },
    release() {
      ctx.backpressure = false;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    clock,
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    count(metric, labels, by = 1) {
      const k = `${metric}${JSON.stringify(Object.entries(labels).sort())}`;
      counts.set(k, (counts.get(k) ?? 0) + by);
    },
    count_(metric, where = {}) {
      let n = 0;
      for (const [k, v] of counts) {
        if (!k.startsWith(metric + "[")) continue;
        const labels = Object.fromEntries(JSON.parse(k.slice(metric.length)) as [string, string][]);
        if (Object.entries(where).every(([a, b]) => labels[a] === b)) n += v;
      }
      return n;
    },
    dataDir,
  };
  return ctx;
}

/** Connect with MQTT.js; rejects on a refused CONNECT (no reconnects). */
