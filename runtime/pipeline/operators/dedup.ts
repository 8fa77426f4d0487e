/**
 * `dedup: { key, max, ttl }`: drops events whose key (default: the event id) was seen before.
 * Bounded by count (the oldest remembered key is forgotten first) and by event time (a key older
 * than the newest event seen minus `ttl` counts as unseen and is swept), so memory is bounded and
 * replays are deterministic. Keep `ttl` above the windows' out-of-orderness plus allowed lateness.
 *
 * Insertion order lives in a ring of `max` slots beside the key → slot map: evicting the oldest is
 * O(1) (a Map used as a queue degrades as deleted entries pile up at its head).
 *
 * The key → slot index is split over SHARDS small maps by a hash of the key's last characters: a
 * single Map of 200,000 keys under constant insert/evict churn rehashes all of them at once every
 * few hundred thousand insertions, a 20–30 ms stall in the middle of the stream; a shard rehashes
 * a few thousand.
 */
import { compileExpression, type Compiled } from "../expression.js";
import type { Envelope, Operator, Outputs } from "../operator.js";

const SHARDS = 64;

/** The shard of a key: its length and last four characters (where sequence numbers and ids vary). */
function shardOf(k: string): number {
  const n = k.length;
  let h = n;
  for (let i = n > 4 ? n - 4 : 0; i < n; i++) h = (h * 31 + k.charCodeAt(i)) | 0;
  return h & (SHARDS - 1);
}

function newShards(): Map<string, number>[] {
  return Array.from({ length: SHARDS }, () => new Map<string, number>());
}

export interface DedupSpec {
  key: string;
  max: number;
  ttl: number;
}

export class DedupOperator implements Operator {
  dropped = 0;
  late = 0;
  /** key → the ring sequence number it was stored under. */
  private slot = newShards();
  /** The ring grows by doubling up to `max`, so a large bound costs memory only when used. */
  private keys: (string | undefined)[];
  private times: Float64Array;
  private cap: number;
  /** Ring sequence numbers: [head, tail) are live slots (some stale when a key was re-stored). */
  private head = 0;
  private tail = 0;
  private maxTs = -Infinity;
  private readonly key: Compiled | undefined;
  constructor(private readonly spec: DedupSpec) {
    this.key = spec.key.trim() === "id" ? undefined : compileExpression(spec.key).fn;
    this.cap = Math.min(spec.max, 1024);
    this.keys = new Array<string | undefined>(this.cap);
    this.times = new Float64Array(this.cap);
  }

  private grow(): void {
    const cap = Math.min(this.spec.max, this.cap * 2);
    const keys = new Array<string | undefined>(cap);
    const times = new Float64Array(cap);
    for (let s = this.head; s < this.tail; s++) {
      keys[s % cap] = this.keys[s % this.cap];
      times[s % cap] = this.times[s % this.cap]!;
    }
    this.keys = keys;
    this.times = times;
    this.cap = cap;
  }

  private evictOldest(): void {
    const i = this.head % this.cap;
    const k = this.keys[i];
    if (k !== undefined) {
      const m = this.slot[shardOf(k)]!;
      if (m.get(k) === this.head) m.delete(k);
    }
    this.keys[i] = undefined;
    this.head++;
  }

  private store(k: string, ts: number, shard: Map<string, number>): void {
    if (this.tail - this.head >= this.cap) {
      if (this.cap < this.spec.max) this.grow();
      else this.evictOldest();
    }
    const i = this.tail % this.cap;
    this.keys[i] = k;
    this.times[i] = ts;
    shard.set(k, this.tail);
    this.tail++;
  }

  process(batch: Envelope[], out: Outputs): void {
    const keyFn = this.key;
    const ttl = this.spec.ttl;
    for (let i = 0; i < batch.length; i++) {
      const env = batch[i]!;
      const e = env.e;
      const k = keyFn ? String(keyFn(e)) : e.id;
      const shard = this.slot[shardOf(k)]!;
      const s = shard.get(k);
      if (s !== undefined && this.times[s % this.cap]! >= this.maxTs - ttl) {
        this.dropped++;
        continue;
      }
      this.store(k, e.ts, shard);
      if (e.ts > this.maxTs) this.maxTs = e.ts;
      out.main.push(env);
    }
    // sweep expired keys from the old end (insertion order is close to event-time order)
    const horizon = this.maxTs - ttl;
    while (this.head < this.tail && this.times[this.head % this.cap]! < horizon) this.evictOldest();
  }

  snapshot(): unknown {
    const seen: [string, number][] = [];
    for (let s = this.head; s < this.tail; s++) {
      const k = this.keys[s % this.cap];
      if (k !== undefined && this.slot[shardOf(k)]!.get(k) === s) seen.push([k, this.times[s % this.cap]!]);
    }
    return { maxTs: Number.isFinite(this.maxTs) ? this.maxTs : null, seen };
  }

  restore(state: unknown): void {
    const s = state as { maxTs: number | null; seen: [string, number][] };
    this.maxTs = s.maxTs ?? -Infinity;
    this.slot = newShards();
    this.keys.fill(undefined);
    this.head = this.tail = 0;
    for (const [k, ts] of s.seen.slice(-this.spec.max)) this.store(k, ts, this.slot[shardOf(k)]!);
  }

  status(): Record<string, unknown> {
    let remembered = 0;
    for (const m of this.slot) remembered += m.size;
    return { remembered };
  }
}
