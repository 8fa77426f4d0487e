/**
 * attest/merkle.ts against RFC 6962 §2.1: tree hashes against a brute-force reference (the
 * recursive definition written out with Buffer.concat), the RFC's 7-leaf examples (the audit
 * paths of a, d and the consistency proofs 3→7, 4→7, 6→7 of §2.1.3), and, over generated trees,
 * every honest proof verifies and every altered proof, size or root does not.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { consistencyProof, inclusionProof, leafHash, nodeHash, treeHash, verifyConsistency, verifyInclusion } from "../../attest/merkle.js";

const H = (...parts: Uint8Array[]) => new Uint8Array(createHash("sha256").update(Buffer.concat(parts)).digest());
/** The reference MTH, straight from the RFC's text over the raw entries. */
function refMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return H();
  if (d.length === 1) return H(Uint8Array.of(0), d[0]!);
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return H(Uint8Array.of(1), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
const hex = (h: Uint8Array) => Buffer.from(h).toString("hex");
const entries = (n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`entry-${i}`));

test("tree hash equals the reference for sizes 0..40; the empty tree is SHA-256 of nothing", () => {
  assert.is(hex(treeHash([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (let n = 0; n <= 40; n++) {
    const d = entries(n);
    assert.is(hex(treeHash(d.map(leafHash))), hex(refMth(d)), `size ${n}`);
  }
});

test("RFC 6962 §2.1.3 examples on seven leaves a..g", () => {
  const d = entries(7).map(leafHash);
  const [a, b, c, dd, e, f, g] = d as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const ab = nodeHash(a, b), cd = nodeHash(c, dd), ef = nodeHash(e, f), ij = nodeHash(ab, cd), kl = nodeHash(ef, g);
  const same = (x: Uint8Array[], y: Uint8Array[]) => assert.equal(x.map(hex), y.map(hex));
  same(inclusionProof(d, 0), [b, cd, kl]); // path of a: [b, h, l]
  same(inclusionProof(d, 3), [c, ab, kl]); // path of d: [c, g, l]
  same(inclusionProof(d, 6), [ef, ij]); // path of j: [i, k]
  same(consistencyProof(d, 3), [c, dd, ab, kl]); // PROOF(3, D[7]) = [c, d, g, l]
  same(consistencyProof(d, 4), [kl]); // PROOF(4, D[7]) = [l]
  same(consistencyProof(d, 6), [ef, g, ij]); // PROOF(6, D[7]) = [i, j, k]
  assert.ok(verifyConsistency(3, 7, treeHash(d, 3), treeHash(d), consistencyProof(d, 3)));
});

test("property: honest inclusion and consistency proofs verify, altered ones do not", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), fc.nat(), (n, x, y, z) => {
      const d = entries(n).map(leafHash);
      const root = treeHash(d);
      const m = x % n;
      const p = inclusionProof(d, m);
      if (!verifyInclusion(d[m]!, m, n, p, root)) return false;
      if (verifyInclusion(d[(m + 1) % n]!, m, n, p, root) && n > 1) return false;
      if (verifyInclusion(d[m]!, m, n, p, leafHash(root))) return false;
      if (p.length && verifyInclusion(d[m]!, m, n, p.slice(1), root)) return false;
      const s1 = y % (n + 1);
      const cp = consistencyProof(d, s1);
      const r1 = treeHash(d, s1);
      if (!verifyConsistency(s1, n, r1, root, cp)) return false;
      if (s1 > 0 && s1 < n) {
        if (cp.length && verifyConsistency(s1, n, r1, root, cp.map((h, i) => (i === z % cp.length ? leafHash(h) : h)))) return false;
        if (verifyConsistency(s1, n, leafHash(r1), root, cp)) return false;
        if (verifyConsistency(s1, n, r1, leafHash(root), cp)) return false;
        if (s1 + 1 < n && verifyConsistency(s1 + 1, n, r1, root, cp)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

test.run();
