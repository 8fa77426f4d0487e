/** The audit trail's hash chain detects edited, deleted, reordered and cut-off records. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { AuditLog } from "../../attest/index.js";

function filled(n = 6) {
  const db = new Database(":memory:");
  const audit = new AuditLog(db);
  for (let i = 0; i < n; i++) {
    audit.append({ ts: 1000 + i, gateway: i % 2 ? "gw-2" : "gw-1", verdict: i === 3 ? "fail" : "pass", reasons: i === 3 ? [{ code: "E_ATTEST_SIGNATURE", detail: "x" }] : [], evidenceSha256: `${i}`.repeat(64).slice(0, 64), nonce: `n${i}` });
  }
  return { db, audit };
}

test("an untouched chain verifies; head and filters", () => {
  const { audit } = filled();
  const c = audit.verifyChain();
  assert.ok(c.ok);
  if (c.ok) assert.is(c.value.records, 6);
  assert.is(audit.head().seq, 6);
  assert.is(audit.list({ gateway: "gw-2" }).length, 3);
  assert.is(audit.list({ since: 1004 }).length, 2);
  assert.ok(new AuditLog(new Database(":memory:")).verifyChain().ok, "empty chain");
});

test("edited verdict, reasons, timestamp → edited", () => {
  for (const sql of [
    "UPDATE attest_audit SET verdict = 'pass' WHERE seq = 4",
    "UPDATE attest_audit SET reasons = '[]' WHERE seq = 4",
    "UPDATE attest_audit SET ts = ts + 1 WHERE seq = 2",
    "UPDATE attest_audit SET gateway = 'gw-9' WHERE seq = 6",
  ]) {
    const { db, audit } = filled();
    db.exec(sql);
    const c = audit.verifyChain();
    assert.not.ok(c.ok, sql);
    if (!c.ok) assert.is(c.code, "E_ATTEST_AUDIT_EDITED", sql);
  }
});

test("deleted record in the middle → deleted; deleted tail → truncated", () => {
  let { db, audit } = filled();
  db.exec("DELETE FROM attest_audit WHERE seq = 3");
  let c = audit.verifyChain();
  assert.ok(!c.ok && c.code === "E_ATTEST_AUDIT_DELETED" && c.offset === 3);
  ({ db, audit } = filled());
  db.exec("DELETE FROM attest_audit WHERE seq = 6");
  c = audit.verifyChain();
  assert.ok(!c.ok && c.code === "E_ATTEST_AUDIT_TRUNCATED");
});

test("reordered records (content swapped between seq numbers, hashes carried along) → detected", () => {
  const { db, audit } = filled();
  const rows = db.prepare("SELECT * FROM attest_audit WHERE seq IN (2, 3) ORDER BY seq").all() as Record<string, unknown>[];
  db.exec("DELETE FROM attest_audit WHERE seq IN (2, 3)");
  const ins = db.prepare("INSERT INTO attest_audit (seq, ts, gateway, verdict, reasons, evidence_sha256, nonce, prev_hash, hash) VALUES (@seq, @ts, @gateway, @verdict, @reasons, @evidence_sha256, @nonce, @prev_hash, @hash)");
  ins.run({ ...rows[1], seq: 2 });
  ins.run({ ...rows[0], seq: 3 });
  const c = audit.verifyChain();
  assert.not.ok(c.ok);
});

test("deleted and renumbered (a forger closes the gap) → detected", () => {
  const { db, audit } = filled();
  db.exec("DELETE FROM attest_audit WHERE seq = 3; UPDATE attest_audit SET seq = seq - 1 WHERE seq > 3; UPDATE attest_audit_head SET seq = 5");
  assert.not.ok(audit.verifyChain().ok);
});

test("appending after verification keeps the chain valid", () => {
  const { audit } = filled(2);
  audit.append({ ts: 5, gateway: "gw-1", verdict: "pass", reasons: [], evidenceSha256: "a".repeat(64), nonce: "z" });
  assert.ok(audit.verifyChain().ok);
});

test.run();
