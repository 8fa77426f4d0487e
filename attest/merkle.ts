/**
 * RFC 6962 §2.1 Merkle tree over the audit records: leaf = SHA-256(0x00 ‖ canonical record),
 * node = SHA-256(0x01 ‖ left ‖ right), the split point k is the largest power of two below n.
 * treeHash, inclusion proofs (PATH) and consistency proofs (PROOF / SUBPROOF) as the RFC
 * defines them, and their verifiers as RFC 9162 §2.1.3.2 / §2.1.4.2 give them.
 */
import { createHash } from "node:crypto";

export type Hash = Uint8Array;

export function leafHash(data: Uint8Array): Hash {
  return new Uint8Array(createHash("sha256").update(Uint8Array.of(0)).update(data).digest());
}

export function nodeHash(l: Hash, r: Hash): Hash {
  return new Uint8Array(createHash("sha256").update(Uint8Array.of(1)).update(l).update(r).digest());
}

const EMPTY = new Uint8Array(createHash("sha256").digest());

/** Largest power of two strictly below n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over leaf hashes [lo, hi). */
function mth(leaves: Hash[], lo: number, hi: number): Hash {
  const n = hi - lo;
  if (n === 0) return EMPTY;
  if (n === 1) return leaves[lo]!;
  const k = split(n);
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** Root over the first `size` leaf hashes (all when size is left out); SHA-256("") for none. */
export function treeHash(leaves: Hash[], size = leaves.length): Hash {
  return mth(leaves, 0, size);
}

/** PATH(m, D[0:size]): the audit path of leaf m. */
export function inclusionProof(leaves: Hash[], m: number, size = leaves.length): Hash[] {
  if (m < 0 || m >= size || size > leaves.length) throw new RangeError(`no leaf ${m} in a tree of ${size}`);
  const path = (lo: number, hi: number, i: number): Hash[] => {
    const n = hi - lo;
    if (n === 1) return [];
    const k = split(n);
    return i < k ? [...path(lo, lo + k, i), mth(leaves, lo + k, hi)] : [...path(lo + k, hi, i - k), mth(leaves, lo, lo + k)];
  };
  return path(0, size, m);
}

/** PROOF(m, D[0:n]): proves the tree of size m is a prefix of the tree of size n. */
export function consistencyProof(leaves: Hash[], m: number, n = leaves.length): Hash[] {
  if (m < 0 || m > n || n > leaves.length) throw new RangeError(`no consistency proof from ${m} to ${n}`);
  if (m === 0 || m === n) return [];
  const sub = (mm: number, lo: number, hi: number, b: boolean): Hash[] => {
    const size = hi - lo;
    if (mm === size) return b ? [] : [mth(leaves, lo, hi)];
    const k = split(size);
    return mm <= k ? [...sub(mm, lo, lo + k, b), mth(leaves, lo + k, hi)] : [...sub(mm - k, lo + k, hi, false), mth(leaves, lo, lo + k)];
  };
  return sub(m, 0, n, true);
}

function eq(a: Hash, b: Hash): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** RFC 9162 §2.1.3.2: does `proof` put `leaf` at `index` of a tree of `size` with `root`? */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: Hash[], root: Hash): boolean {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else r = nodeHash(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(r, root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, root1: Hash, root2: Hash, proof: Hash[]): boolean {
  if (size1 < 0 || size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && eq(root1, root2);
  if (size1 === 0) return proof.length === 0; // the empty tree is a prefix of every tree
  const path = [...proof];
  // When size1 is a power of two the proof leaves out root1 itself: put it first.
  if ((size1 & (size1 - 1)) === 0) path.unshift(root1);
  if (path.length === 0) return false;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else sr = nodeHash(sr, c);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, root1) && eq(sr, root2);
}
