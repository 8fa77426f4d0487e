/**
 * `dedup: { key, max, ttl }`: drops events whose key (default: the event id) was seen before.
 * Bounded by count (the oldest remembered key is forgotten first) and by event time (a key older
 * than the newest event seen minus `ttl` counts as unseen and is swept), so memory is bounded and
 * replays are deterministic. Keep `ttl` above the windows' out-of-orderness plus allowed lateness.
 *
 * Remembered keys live in a ring of up to `max` slots (insertion order: evicting the oldest is
 * O(1)), indexed by an `IndexTable` (key → ring slot; see there for why not a Map).
 */
import { compileExpression, type Compiled } from "../expression.js";
import type { Envelope, Operator, Outputs } from "../operator.js";
import { IndexTable, keyHash } from "../index-table.js";

const MIN_CAP = 1024;

export interface DedupSpec {
  key: string;
  max: number;
  ttl: number;
}

export class DedupOperator implements Operator {
  dropped = 0;
  late = 0;
  /** Ring slot → key (undefined: free, or superseded when the key was stored again), its hash and event time. */
  private keys: (string | undefined)[];
  private hashes: Int32Array;
  private times: Float64Array;
  /** The ring grows by doubling up to `max`, so a large bound costs memory only when used. */
  private cap: number;
  /** key → ring slot. */
  private index: IndexTable;
  /** Ring sequence numbers: [head, tail) are occupied slots (some superseded). */
  private head = 0;
  private tail = 0;
  private live = 0;
  private maxTs = -Infinity;
  private readonly key: Compiled | undefined;
  constructor(private readonly spec: DedupSpec) {
    this.key = spec.key.trim() === "id" ? undefined : compileExpression(spec.key).fn;
    this.cap = Math.min(spec.max, MIN_CAP);
    this.keys = new Array<string | undefined>(this.cap).fill(undefined);
    this.hashes = new Int32Array(this.cap);
    this.times = new Float64Array(this.cap);
    this.index = new IndexTable(this.cap);
  }

  private grow(): void {
    const cap = Math.min(this.spec.max, this.cap * 2);
    const keys = new Array<string | undefined>(cap).fill(undefined);
    const hashes = new Int32Array(cap);
    const times = new Float64Array(cap);
    const index = new IndexTable(cap);
    for (let s = this.head; s < this.tail; s++) {
      const r = s % cap;
      const k = (keys[r] = this.keys[s % this.cap]);
      hashes[r] = this.hashes[s % this.cap]!;
      times[r] = this.times[s % this.cap]!;
      if (k !== undefined) index.put(index.find(k, hashes[r]!, keys, hashes), r);
    }
    this.keys = keys;
    this.hashes = hashes;
    this.times = times;
    this.index = index;
    this.cap = cap;
  }

  private evictOldest(): void {
    const r = this.head % this.cap;
    if (this.keys[r] !== undefined) {
      this.index.removeEntry(r, this.hashes[r]!, this.hashes);
      this.keys[r] = undefined;
      this.live--;
    }
    this.head++;
  }

  /** Remember `k` as the newest key; `p` is what `find` returned for it (found: it was stored before and expired). */
  private store(k: string, h: number, ts: number, p: number): void {
    let moved = false;
    if (p >= 0) {
      this.keys[this.index.entry(p)] = undefined;
      this.index.remove(p, this.hashes);
      this.live--;
      moved = true;
    }
    if (this.tail - this.head >= this.cap) {
      if (this.cap < this.spec.max) this.grow();
      else this.evictOldest();
      moved = true;
    }
    if (moved) p = this.index.find(k, h, this.keys, this.hashes);
    const r = this.tail % this.cap;
    this.keys[r] = k;
    this.hashes[r] = h;
    this.times[r] = ts;
    this.index.put(p, r);
    this.tail++;
    this.live++;
  }

  process(batch: Envelope[], out: Outputs): void {
    const keyFn = this.key;
    const ttl = this.spec.ttl;
    for (let i = 0; i < batch.length; i++) {
      const env = batch[i]!;
      const e = env.e;
      const k = keyFn ? String(keyFn(e)) : e.id;
      const h = keyHash(k);
      const p = this.index.find(k, h, this.keys, this.hashes);
      if (p >= 0 && this.times[this.index.entry(p)]! >= this.maxTs - ttl) {
        this.dropped++;
        continue;
      }
      this.store(k, h, e.ts, p);
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
      if (k !== undefined) seen.push([k, this.times[s % this.cap]!]);
    }
    return { maxTs: Number.isFinite(this.maxTs) ? this.maxTs : null, seen };
  }

  restore(state: unknown): void {
    const s = state as { maxTs: number | null; seen: [string, number][] };
    this.maxTs = s.maxTs ?? -Infinity;
    this.keys.fill(undefined);
    this.index.clear();
    this.head = this.tail = this.live = 0;
    for (const [k, ts] of s.seen.slice(-this.spec.max)) {
      const h = keyHash(k);
      this.store(k, h, ts, this.index.find(k, h, this.keys, this.hashes));
    }
  }

  status(): Record<string, unknown> {
    return { remembered: this.live };
  }
}
