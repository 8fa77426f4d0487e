/**
 * `dedup: { key, max, ttl }`: drops events whose key (default: the event id) was seen before.
 * Bounded by count (the oldest remembered key is forgotten first) and by event time (a key older
 * than the newest event seen minus `ttl` counts as unseen and is swept), so memory is bounded and
 * replays are deterministic. Keep `ttl` above the windows' out-of-orderness plus allowed lateness.
 *
 * Remembered keys live in a ring of up to `max` slots (insertion order: evicting the oldest is
 * O(1)), indexed by an `IndexTable` (key → ring slot; see there for why not a Map). The key
 * characters are copied into a circular Uint16Array arena in the same order instead of keeping the
 * key strings: 200,000 remembered ids held as strings all survive young-generation collections and
 * get copied and promoted, which made scavenges the largest cost of the pipeline benchmark; the
 * arena is invisible to the garbage collector and comparisons stay exact (characters compared on a
 * hash match). Each incoming key is read once: its characters are copied past the arena's tail while
 * they are hashed, compared there against a candidate's, and kept by moving the tail (a duplicate
 * leaves them to be overwritten).
 */
import { compileExpression, type Compiled } from "../expression.js";
import type { Envelope, Operator, Outputs } from "../operator.js";
import { FNV_OFFSET, FNV_PRIME, IndexTable } from "../index-table.js";

const MIN_CAP = 1024;

export interface DedupSpec {
  key: string;
  max: number;
  ttl: number;
}

export class DedupOperator implements Operator {
  dropped = 0;
  late = 0;
  /** Ring slot → key hash, event time, key characters (absolute arena offset, length), live (0: free or superseded). */
  private hashes: Int32Array;
  private times: Float64Array;
  private starts: Float64Array;
  private lens: Int32Array;
  private live: Uint8Array;
  /** The ring grows by doubling up to `max`, so a large bound costs memory only when used. */
  private cap: number;
  /** key → ring slot. */
  private index: IndexTable;
  /** Ring sequence numbers: [head, tail) are occupied slots (some superseded). */
  private head = 0;
  private tail = 0;
  private count = 0;
  /** Key characters of slots [head, tail), at absolute offsets [charHead, charTail) modulo the arena size. */
  private chars: Uint16Array;
  private charHead = 0;
  private charTail = 0;
  /** Where `stage` put the current key's characters (absolute offset). */
  private stagedAt = 0;
  private maxTs = -Infinity;
  private readonly key: Compiled | undefined;
  constructor(private readonly spec: DedupSpec) {
    this.key = spec.key.trim() === "id" ? undefined : compileExpression(spec.key).fn;
    this.cap = Math.min(spec.max, MIN_CAP);
    this.hashes = new Int32Array(this.cap);
    this.times = new Float64Array(this.cap);
    this.starts = new Float64Array(this.cap);
    this.lens = new Int32Array(this.cap);
    this.live = new Uint8Array(this.cap);
    this.index = new IndexTable(this.cap);
    this.chars = new Uint16Array(this.cap * 32);
  }

  /**
   * Copy `k` to the arena past its tail (contiguous: a key that would wrap starts over at offset
   * 0), growing the arena if needed, and hash it in the same pass (`keyHash`). Nothing is committed:
   * `store` takes the staged characters, a duplicate leaves them to be overwritten. Sets `stagedAt`.
   */
  private stage(k: string): number {
    const n = k.length;
    for (;;) {
      const size = this.chars.length;
      let at = this.charTail;
      const off = at % size;
      if (off + n > size) at += size - off;
      if (at + n - this.charHead <= size) {
        const chars = this.chars;
        const base = at % size;
        let h = FNV_OFFSET;
        for (let i = 0; i < n; i++) {
          const c = k.charCodeAt(i);
          chars[base + i] = c;
          h = Math.imul(h ^ c, FNV_PRIME);
        }
        this.stagedAt = at;
        return h ^ (h >>> 15);
      }
      this.growChars(Math.max(size * 2, n * 2));
    }
  }

  /** The position of the ring slot remembering the staged key (hash `h`, `n` characters), or −1 − (the free position where it would go). */
  private find(h: number, n: number): number {
    const index = this.index;
    const tag = index.tagOf(h);
    for (let p = index.home(h); ; p = index.next(p)) {
      const v = index.raw(p);
      if (v < 0) return -1 - p;
      if (index.tagged(v, tag)) {
        const r = index.entryOf(v);
        if (this.hashes[r] === h && this.lens[r] === n && this.sameChars(this.starts[r]!, this.stagedAt, n)) return p;
      }
    }
  }

  private sameChars(a: number, b: number, n: number): boolean {
    const chars = this.chars;
    const size = chars.length;
    const x = a % size;
    const y = b % size;
    for (let i = 0; i < n; i++) if (chars[x + i] !== chars[y + i]) return false;
    return true;
  }

  private keyAt(r: number): string {
    const base = this.starts[r]! % this.chars.length;
    const n = this.lens[r]!;
    let s = "";
    // apply, not a spread: spreading a typed array walks its iterator
    for (let i = 0; i < n; i += 4096) s += String.fromCharCode.apply(null, this.chars.subarray(base + i, base + Math.min(n, i + 4096)) as unknown as number[]);
    return s;
  }

  /** A larger arena holding the same absolute offsets (a key contiguous before stays contiguous). */
  private growChars(size: number): void {
    const old = this.chars;
    const chars = new Uint16Array(size);
    // in runs that wrap in neither array (at most four)
    for (let a = this.charHead; a < this.charTail; ) {
      const from = a % old.length;
      const to = a % size;
      const n = Math.min(this.charTail - a, old.length - from, size - to);
      chars.set(old.subarray(from, from + n), to);
      a += n;
    }
    this.chars = chars;
  }

  private grow(): void {
    const cap = Math.min(this.spec.max, this.cap * 2);
    const hashes = new Int32Array(cap);
    const times = new Float64Array(cap);
    const starts = new Float64Array(cap);
    const lens = new Int32Array(cap);
    const live = new Uint8Array(cap);
    for (let s = this.head; s < this.tail; s++) {
      const r = s % this.cap;
      const q = s % cap;
      hashes[q] = this.hashes[r]!;
      times[q] = this.times[r]!;
      starts[q] = this.starts[r]!;
      lens[q] = this.lens[r]!;
      live[q] = this.live[r]!;
    }
    this.hashes = hashes;
    this.times = times;
    this.starts = starts;
    this.lens = lens;
    this.live = live;
    this.cap = cap;
    this.index = new IndexTable(cap);
    for (let s = this.head; s < this.tail; s++) {
      const q = s % cap;
      if (live[q]) this.index.insert(q, hashes[q]!);
    }
  }

  private evictOldest(): void {
    const r = this.head % this.cap;
    if (this.live[r]) {
      this.index.removeEntry(r, this.hashes[r]!, this.hashes);
      this.live[r] = 0;
      this.count--;
    }
    this.head++;
    this.charHead = this.head === this.tail ? this.charTail : this.starts[this.head % this.cap]!;
  }

  /** Remember the staged key (hash `h`, `n` characters) as the newest; `p` is what `find` returned for it (found: it was stored before and expired). */
  private store(h: number, n: number, ts: number, p: number): void {
    let moved = false;
    if (p >= 0) {
      this.live[this.index.entry(p)] = 0;
      this.index.remove(p, this.hashes);
      this.count--;
      moved = true;
    }
    if (this.tail - this.head >= this.cap) {
      if (this.cap < this.spec.max) this.grow();
      else this.evictOldest();
      moved = true;
    }
    const r = this.tail % this.cap;
    this.hashes[r] = h;
    this.times[r] = ts;
    this.starts[r] = this.stagedAt;
    this.lens[r] = n;
    this.live[r] = 1;
    this.charTail = this.stagedAt + n;
    // the key is not indexed (absent, or just removed): after a removal or an eviction moved
    // positions, the first free position of its probe run is found without comparing keys
    if (moved) this.index.insert(r, h);
    else this.index.put(p, r, h);
    this.tail++;
    this.count++;
  }

  process(batch: Envelope[], out: Outputs): void {
    const keyFn = this.key;
    const ttl = this.spec.ttl;
    for (let i = 0; i < batch.length; i++) {
      const env = batch[i]!;
      const e = env.e;
      const k = keyFn ? String(keyFn(e)) : e.id;
      const h = this.stage(k);
      const n = k.length;
      const p = this.find(h, n);
      if (p >= 0 && this.times[this.index.entry(p)]! >= this.maxTs - ttl) {
        this.dropped++;
        continue;
      }
      this.store(h, n, e.ts, p);
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
      const r = s % this.cap;
      if (this.live[r]) seen.push([this.keyAt(r), this.times[r]!]);
    }
    return { maxTs: Number.isFinite(this.maxTs) ? this.maxTs : null, seen };
  }

  restore(state: unknown): void {
    const s = state as { maxTs: number | null; seen: [string, number][] };
    this.maxTs = s.maxTs ?? -Infinity;
    this.live.fill(0);
    this.index.clear();
    this.head = this.tail = this.count = 0;
    this.charHead = this.charTail = 0;
    for (const [k, ts] of s.seen.slice(-this.spec.max)) {
      const h = this.stage(k);
      this.store(h, k.length, ts, this.find(h, k.length));
    }
  }

  status(): Record<string, unknown> {
    return { remembered: this.count };
  }
}
