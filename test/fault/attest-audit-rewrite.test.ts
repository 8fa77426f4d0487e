/**
 * Rewriting the verifier's audit trail by direct SQLite edits, each against an earlier signed
 * checkpoint: cutting the tail and writing new records after it, wiping every row, editing a
 * verdict and re-hashing the whole chain, injecting a field into a reasons entry, swapping rows.
 * Each fails with its code; an honest append verifies against every earlier checkpoint.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, checkExtends, checkpointKey, makeCheckpoint, parseCheckpoint, formatCheckpoint } from "../../attest/index.js";
import type { SignedCheckpoint } from "../../attest/index.js";

const dir = mkdtempSync(join(tmpdir(), "ridge-audit-rw-"));
const key = checkpointKey(dir)!;

type Rec = Parameters<AuditLog["append"]>[0];
const rec = (i: number, verdict: "pass" | "fail" = i % 3 === 0 ? "fail" : "pass"): Rec => ({
  ts: 1_000 + i,
  gateway: `gw-${i % 2}`,
  verdict,
  reasons: verdict === "fail" ? [{ code: "E_ATTEST_PCR", detail: `pcr ${i}` }] : [],
  evidenceSha256: "ab".repeat(32),
  nonce: `n${i}`,
});

/** A log of n records and a checkpoint taken after k of them. */
function setup(n: number, k: number) {
  const db = new Database(":memory:");
  const audit = new AuditLog(db);
  let cp: SignedCheckpoint | undefined;
  if (k === 0) cp = makeCheckpoint(audit, key, 1);
  for (let i = 1; i <= n; i++) {
    audit.append(rec(i));
    if (i === k) cp = makeCheckpoint(audit, key, 1 + i);
  }
  // round trip through the text form, as a published checkpoint would be read back
  return { db, audit, cp: parseCheckpoint(formatCheckpoint(cp!))! };
}

/** What `verify-chain --expect` decides: the chain first, then the checkpoint. */
function verdict(audit: AuditLog, cp: SignedCheckpoint): string {
  const c = audit.verifyChain();
  if (!c.ok) return c.code;
  const x = checkExtends(audit, key, cp);
  return x.ok ? "OK" : x.code;
}

const sizes = fc.integer({ min: 2, max: 12 }).chain((n) => fc.record({ n: fc.constant(n), k: fc.integer({ min: 1, max: n }), t: fc.integer({ min: 1, max: n }) }));

test("cut the tail, fix the head row and write new records after it → rewritten", () => {
  fc.assert(
    fc.property(sizes, fc.integer({ min: 0, max: 4 }), ({ n, k, t }, extra) => {
      const { db, audit, cp } = setup(n, k);
      const keep = t - 1; // records 1..keep survive, the checkpoint covered k ≥ t > keep of them
      const h = db.prepare("SELECT hash FROM attest_audit WHERE seq = ?").get(keep) as { hash: string } | undefined;
      db.prepare("DELETE FROM attest_audit WHERE seq > ?").run(keep);
      if (keep === 0) db.exec("DELETE FROM attest_audit_head");
      else db.prepare("UPDATE attest_audit_head SET seq = ?, hash = ?").run(keep, h!.hash);
      for (let i = 0; i < extra + (n - keep); i++) audit.append(rec(100 + i));
      if (t > k) return true;
      return audit.verifyChain().ok && verdict(audit, cp) === "E_ATTEST_AUDIT_REWRITTEN";
    }),
    { numRuns: 40 },
  );
});

test("wipe every row and the head → rewritten", () => {
  fc.assert(
    fc.property(sizes, ({ n, k }) => {
      const { db, audit, cp } = setup(n, k);
      db.exec("DELETE FROM attest_audit; DELETE FROM attest_audit_head");
      return audit.verifyChain().ok && verdict(audit, cp) === "E_ATTEST_AUDIT_REWRITTEN";
    }),
    { numRuns: 20 },
  );
});

test("edit a verdict the checkpoint covers and re-hash the whole chain → rewritten", () => {
  fc.assert(
    fc.property(sizes, ({ n, k, t }) => {
      const { db, audit, cp } = setup(n, k);
      const target = 1 + ((t - 1) % k);
      db.exec("DELETE FROM attest_audit; DELETE FROM attest_audit_head");
      for (let i = 1; i <= n; i++) audit.append(i === target ? rec(i, rec(i).verdict === "pass" ? "fail" : "pass") : rec(i));
      return audit.verifyChain().ok && verdict(audit, cp) === "E_ATTEST_AUDIT_REWRITTEN";
    }),
    { numRuns: 40 },
  );
});

test("a field injected into a reasons entry (hashed text or column) → edited", () => {
  fc.assert(
    fc.property(sizes, fc.constantFrom("canon", "reasons"), fc.string({ minLength: 1, maxLength: 6 }).filter((s) => /^[a-z]+$/.test(s)), ({ n, k, t }, column, field) => {
      const { db, audit, cp } = setup(n, k);
      const seq = 3 * Math.max(1, Math.floor(t / 3)); // every third record has a reasons entry
      if (seq > n) return true;
      const row = db.prepare(`SELECT ${column} AS v FROM attest_audit WHERE seq = ?`).get(seq) as { v: string };
      const injected = row.v.replace('"code":', `"${field}":"x","code":`);
      if (injected === row.v) return false;
      db.prepare(`UPDATE attest_audit SET ${column} = ? WHERE seq = ?`).run(injected, seq);
      return verdict(audit, cp) === "E_ATTEST_AUDIT_EDITED";
    }),
    { numRuns: 40 },
  );
});

test("swap two rows' seq values → reordered", () => {
  fc.assert(
    fc.property(sizes, fc.nat(), ({ n, k, t }, x) => {
      const { db, audit, cp } = setup(n, k);
      const a = t;
      const b = 1 + ((t + (x % (n - 1))) % n);
      if (a === b) return true;
      db.prepare("UPDATE attest_audit SET seq = -1 WHERE seq = ?").run(a);
      db.prepare("UPDATE attest_audit SET seq = ? WHERE seq = ?").run(a, b);
      db.prepare("UPDATE attest_audit SET seq = ? WHERE seq = -1").run(b);
      return verdict(audit, cp) === "E_ATTEST_AUDIT_REORDERED";
    }),
    { numRuns: 40 },
  );
});

test("a checkpoint signed by another key or with a bad signature is refused", () => {
  const { audit, cp } = setup(4, 2);
  const other = checkpointKey(join(dir, "other"))!;
  const c1 = checkExtends(audit, other, cp);
  assert.is(c1.ok ? "OK" : c1.code, "E_ATTEST_CHECKPOINT_KEY");
  const forged = { ...cp, checkpoint: { ...cp.checkpoint, treeSize: 1 } };
  const c2 = checkExtends(audit, key, forged);
  assert.is(c2.ok ? "OK" : c2.code, "E_ATTEST_CHECKPOINT_INVALID");
});

test("property: honest appends verify against every earlier checkpoint", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 8 }), (batches) => {
      const audit = new AuditLog(new Database(":memory:"));
      const cps: SignedCheckpoint[] = [];
      let i = 0;
      for (const b of batches) {
        for (let j = 0; j < b; j++) audit.append(rec(++i));
        cps.push(makeCheckpoint(audit, key, i));
        if (!cps.every((cp) => verdict(audit, cp) === "OK")) return false;
      }
      return true;
    }),
    { numRuns: 40 },
  );
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
