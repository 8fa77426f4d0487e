/**
 * A hash index from string keys to entry numbers, for the pipeline's per-event lookups (dedup ids →
 * ring slots, window keys → key states). The caller owns the entries: entry `i` has key `keys[i]`
 * and hash `hashes[i]`; the index holds entry numbers tagged with the top bits of their key's hash
 * and their distance from home in one Int32Array, so it adds nothing for the garbage collector to
 * scan or to record on write, and a probe reads the caller's arrays only on a tag match (1 in
 * 2^(26 − entry bits) by chance). Open addressing with linear probing and backward-shift deletion
 * (no tombstones: constant insert/delete churn never degrades it). Built for a fixed entry capacity (positions: twice
 * that); the caller builds a new one when its capacity grows.
 *
 * Why not `Map<string, number>`: V8's OrderedHashMap walks a bucket chain comparing key strings
 * (a cache miss per entry walked with tens of thousands of keys), and a Map holding 200,000
 * churning ids rehashed all of them at once every few hundred thousand events. In
 * `npm run bench -- pipeline` dedup went from 1.0 to 0.4 µs per event.
 */

/** 32-bit FNV-1a over the UTF-16 code units, finished with an xor-shift so the low bits mix. */
export function keyHash(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h ^ (h >>> 15);
}

/** FNV-1a's 32-bit offset basis and prime, for callers that hash while they copy (dedup). */
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** Bits of an index value holding its distance from its home position (all ones: 31 or more, read the caller's hash). */
const DIST_BITS = 5;
const DIST_FULL = (1 << DIST_BITS) - 1;

export class IndexTable {
  /**
   * Per position −1 (empty) or (tag << (bits + 5)) | (distance << bits) | entry: the tag is the top
   * bits of the key's hash, the distance how far the position is from the key's home (so removal
   * shifts a probe run back without reading the caller's hashes, a cache miss per entry moved).
   */
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly bits: number;
  private readonly entryMask: number;
  private readonly tagPos: number;
  private readonly tagShift: number;
  private readonly noDist: number;

  /** Entries are numbered below `entries`; room for that many at load ≤ ½. */
  constructor(entries: number) {
    let n = 16;
    while (n < entries * 2) n *= 2;
    this.table = new Int32Array(n).fill(-1);
    this.mask = n - 1;
    let bits = 1;
    while (2 ** bits < entries) bits++;
    if (bits > 24) throw new RangeError(`IndexTable holds at most 2^24 entries, asked for ${entries}`);
    this.bits = bits;
    this.entryMask = 2 ** bits - 1;
    this.tagPos = bits + DIST_BITS;
    this.tagShift = this.tagPos + 1; // 31 − tagPos tag bits: the value stays non-negative
    this.noDist = ~(DIST_FULL << bits);
  }

  /** The tag of a hash: its top bits, which `home` does not use. */
  tagOf(h: number): number {
    return h >>> this.tagShift;
  }

  /** The position holding the entry whose key is `k`, or −1 − (the free position where it would go). */
  find(k: string, h: number, keys: readonly (string | undefined)[], hashes: Int32Array): number {
    const table = this.table;
    const mask = this.mask;
    const tag = h >>> this.tagShift;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const v = table[p]!;
      if (v < 0) return -1 - p;
      if (v >>> this.tagPos === tag) {
        const i = v & this.entryMask;
        if (hashes[i] === h && keys[i] === k) return p;
      }
    }
  }

  /** Probing by hand (keys kept elsewhere than in a string array): start at `home(h)`, go on with `next(p)` while `raw(p) >= 0`; `tagged(raw, tag)` says whether entry `entryOf(raw)` may hold the key. */
  home(h: number): number {
    return h & this.mask;
  }

  next(p: number): number {
    return (p + 1) & this.mask;
  }

  raw(p: number): number {
    return this.table[p]!;
  }

  tagged(raw: number, tag: number): boolean {
    return raw >>> this.tagPos === tag;
  }

  entryOf(raw: number): number {
    return raw & this.entryMask;
  }

  /** The entry at a position `find` returned (≥ 0). */
  entry(p: number): number {
    return this.table[p]! & this.entryMask;
  }

  /** The value for entry `i` with hash `h` at position `p`. */
  private value(p: number, i: number, h: number): number {
    const d = (p - (h & this.mask)) & this.mask;
    return ((h >>> this.tagShift) << this.tagPos) | ((d < DIST_FULL ? d : DIST_FULL) << this.bits) | i;
  }

  /** Point a position at entry `i` (key hash `h`): a found position (re-pointed) or a free one as `find` encoded it. */
  put(p: number, i: number, h: number): void {
    const at = p < 0 ? -1 - p : p;
    this.table[at] = this.value(at, i, h);
  }

  /** Index entry `i` with hash `h`, known not to be indexed yet (a rebuild: no key comparisons). */
  insert(i: number, h: number): void {
    const table = this.table;
    const mask = this.mask;
    let p = h & mask;
    while (table[p]! >= 0) p = (p + 1) & mask;
    table[p] = this.value(p, i, h);
  }

  /** Remove the position `find` returned, pulling later members of its probe run into the hole. */
  remove(p: number, hashes: Int32Array): void {
    const table = this.table;
    const mask = this.mask;
    const bits = this.bits;
    for (let q = (p + 1) & mask; table[q]! >= 0; q = (q + 1) & mask) {
      const v = table[q]!;
      let d = (v >>> bits) & DIST_FULL;
      if (d === DIST_FULL) d = (q - (hashes[v & this.entryMask]! & mask)) & mask;
      const gap = (q - p) & mask;
      if (d >= gap) {
        const nd = d - gap;
        table[p] = (v & this.noDist) | ((nd < DIST_FULL ? nd : DIST_FULL) << bits);
        p = q;
      }
    }
    table[p] = -1;
  }

  /** Remove entry `i` (hash `h`) if the index points at it; true when it did. */
  removeEntry(i: number, h: number, hashes: Int32Array): boolean {
    const table = this.table;
    const mask = this.mask;
    const want = ((h >>> this.tagShift) << this.tagPos) | i;
    for (let p = h & mask; table[p]! >= 0; p = (p + 1) & mask) {
      if ((table[p]! & this.noDist) === want) {
        this.remove(p, hashes);
        return true;
      }
    }
    return false;
  }

  clear(): void {
    this.table.fill(-1);
  }
}
