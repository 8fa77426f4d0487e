/**
 * `dedup: { key, max, ttl }`: drops events whose key (default: the event id) was seen before.
 * Bounded by count (oldest remembered key forgotten first) and by event time (keys older than the
 * newest event seen minus `ttl` are forgotten), so memory is bounded and replays are deterministic.
 * Keep `ttl` above the windows' out-of-orderness plus allowed lateness downstream.
 */
import { compileExpression, type Compiled } from "../expression.js";
import type { Envelope, Operator, Outputs } from "../operator.js";

export interface DedupSpec {
  key: string;
  max: number;
  ttl: number;
}

export class DedupOperator implements Operator {
  dropped = 0;
  late = 0;
  /** key → event time; Map keeps insertion order, so the first entry is the oldest remembered. */
  private seen = new Map<string, number>();
  private maxTs = -Infinity;
  private sinceSweep = 0;
  private readonly key: Compiled | undefined;
  constructor(private readonly spec: DedupSpec) {
    this.key = spec.key.trim() === "id" ? undefined : compileExpression(spec.key).fn;
  }
  process(batch: Envelope[], out: Outputs): void {
    const seen = this.seen;
    const keyFn = this.key;
    const max = this.spec.max;
    for (let i = 0; i < batch.length; i++) {
      const env = batch[i]!;
      const e = env.e;
      const k = keyFn ? String(keyFn(e)) : e.id;
      const at = seen.get(k);
      if (at !== undefined && at >= this.maxTs - this.spec.ttl) {
        this.dropped++;
        continue;
      }
      if (at !== undefined) seen.delete(k);
      seen.set(k, e.ts);
      if (e.ts > this.maxTs) this.maxTs = e.ts;
      if (seen.size > max) seen.delete(seen.keys().next().value!);
      out.main.push(env);
    }
    this.sinceSweep += batch.length;
    if (this.sinceSweep >= 4096) this.sweep();
  }
  private sweep(): void {
    this.sinceSweep = 0;
    const horizon = this.maxTs - this.spec.ttl;
    for (const [k, ts] of this.seen) if (ts < horizon) this.seen.delete(k);
  }
  snapshot(): unknown {
    return { maxTs: Number.isFinite(this.maxTs) ? this.maxTs : null, seen: [...this.seen] };
  }
  restore(state: unknown): void {
    const s = state as { maxTs: number | null; seen: [string, number][] };
    this.maxTs = s.maxTs ?? -Infinity;
    this.seen = new Map(s.seen);
  }
  status(): Record<string, unknown> {
    return { remembered: this.seen.size };
  }
}
