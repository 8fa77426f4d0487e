import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { IndexTable, keyHash } from "../../runtime/pipeline/index-table.js";

test("keyHash: 32-bit FNV-1a vectors, then the xor-shift finish", () => {
  // FNV-1a 32 of "" is 0x811c9dc5, of "a" 0xe40c292c, of "foobar" 0xbf9cf968 (the FNV reference test suite)
  const fin = (h: number) => (h ^ (h >>> 15)) | 0;
  assert.is(keyHash(""), fin(0x811c9dc5));
  assert.is(keyHash("a"), fin(0xe40c292c));
  assert.is(keyHash("foobar"), fin(0xbf9cf968));
});

/** A string → entry map on an IndexTable, entries in caller-owned arrays, as dedup and window use it. */
class Keyed {
  keys: (string | undefined)[] = new Array(64).fill(undefined);
  hashes = new Int32Array(64);
  index = new IndexTable(64);
  constructor(private readonly h: (k: string) => number) {}
  get(k: string): number {
    const p = this.index.find(k, this.h(k), this.keys, this.hashes);
    return p >= 0 ? this.index.entry(p) : -1;
  }
  set(k: string, i: number): void {
    const p = this.index.find(k, this.h(k), this.keys, this.hashes);
    if (p >= 0) this.keys[this.index.entry(p)] = undefined;
    this.keys[i] = k;
    this.hashes[i] = this.h(k);
    this.index.put(p, i, this.h(k));
  }
  delete(k: string): boolean {
    const p = this.index.find(k, this.h(k), this.keys, this.hashes);
    if (p < 0) return false;
    this.keys[this.index.entry(p)] = undefined;
    this.index.remove(p, this.hashes);
    return true;
  }
}

test("property: an IndexTable behaves like a Map under random set/delete/get (forced collisions, wrap-around runs)", () => {
  const op = fc.tuple(fc.constantFrom("set", "delete", "get", "removeEntry"), fc.integer({ min: 0, max: 90 }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), fc.boolean(), (ops, collide) => {
      // with `collide`, every key hashes to one of three homes, one of them the table's last slot: probe runs
      // get longer than the 31 positions an index value can record as its distance from home
      const t = new Keyed((k) => (collide ? [7, 8, 127][k.length % 3]! : keyHash(k)));
      const m = new Map<string, number>();
      let next = 0;
      const free: number[] = [];
      for (const [what, n] of ops) {
        const k = `key-${"x".repeat(n % 5)}${n}`;
        if (what === "set") {
          // entries are slots of a 64-slot pool, reused once freed
          if (!m.has(k) && next >= 64 && free.length === 0) continue;
          const i = m.get(k) ?? free.pop() ?? next++;
          t.set(k, i);
          m.set(k, i);
        } else if (what === "delete") {
          const i = m.get(k);
          assert.is(t.delete(k), m.delete(k));
          if (i !== undefined) free.push(i);
        } else if (what === "removeEntry") {
          const i = m.get(k);
          if (i === undefined) continue;
          assert.ok(t.index.removeEntry(i, t.hashes[i]!, t.hashes));
          t.keys[i] = undefined;
          m.delete(k);
          free.push(i);
        } else assert.is(t.get(k), m.get(k) ?? -1);
      }
      for (const [k, i] of m) assert.is(t.get(k), i);
      // a rebuild by insert (no key comparisons) finds the same entries
      t.index = new IndexTable(64);
      for (const i of m.values()) t.index.insert(i, t.hashes[i]!);
      for (const [k, i] of m) assert.is(t.get(k), i);
    }),
    { numRuns: 300 },
  );
});

test.run();
