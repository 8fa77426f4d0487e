/**
 * The append-only audit trail of verdicts, hash-chained in SQLite:
 *   hash_n = SHA-256(prev_hash ‖ canonical JSON of record n), prev_hash_1 = 64 × "0",
 * with the chain head (last seq and hash) kept in its own row and updated in the same
 * transaction. verifyChain() finds any edited record (its hash no longer matches), deleted
 * record (a seq gap or a broken link), reordered records (a broken link), or a cut-off tail (the
 * head disagrees), each a Failure with its own code whose offset is the record's seq. Someone who
 * can rewrite the whole database can rewrite the chain too; export the head
 * (`ridge attest audit --json`) somewhere else to anchor it.
 */
import type Database from "better-sqlite3";
import { fail, ok, type Result } from "../core/index.js";
import { statementCache } from "./statement-cache.js";
import { sha256 } from "./crypto/hash.js";

export interface AuditReason {
  code: string;
  detail: string;
}

export interface AuditRecord {
  seq: number;
  ts: number;
  gateway: string;
  verdict: "pass" | "fail";
  reasons: AuditReason[];
  evidenceSha256: string;
  nonce: string;
  prevHash: string;
  hash: string;
}

/** An intact chain: how many records and the last hash; or where and how it is broken. */
export type ChainCheck = Result<
  { records: number; head: string },
  "E_ATTEST_AUDIT_EDITED" | "E_ATTEST_AUDIT_DELETED" | "E_ATTEST_AUDIT_REORDERED" | "E_ATTEST_AUDIT_TRUNCATED"
>;

const GENESIS = "0".repeat(64);

function recordHash(prevHash: string, r: Omit<AuditRecord, "hash" | "prevHash">): string {
  const canonical = JSON.stringify([r.seq, r.ts, r.gateway, r.verdict, r.reasons.map((x) => [x.code, x.detail]), r.evidenceSha256, r.nonce]);
  return Buffer.from(sha256(new TextEncoder().encode(prevHash + canonical))).toString("hex");
}

interface Row {
  seq: number;
  ts: number;
  gateway: string;
  verdict: string;
  reasons: string;
  evidence_sha256: string;
  nonce: string;
  prev_hash: string;
  hash: string;
}

function fromRow(r: Row): AuditRecord {
  let reasons: AuditReason[] = [];
  try {
    reasons = JSON.parse(r.reasons) as AuditReason[];
  } catch {
    reasons = [{ code: "E_ATTEST_AUDIT_CORRUPT", detail: r.reasons }];
  }
  return { seq: r.seq, ts: r.ts, gateway: r.gateway, verdict: r.verdict === "pass" ? "pass" : "fail", reasons, evidenceSha256: r.evidence_sha256, nonce: r.nonce, prevHash: r.prev_hash, hash: r.hash };
}

export class AuditLog {
  private readonly q: (sql: string) => Database.Statement;
  private empty = false;

  constructor(private readonly db: Database.Database) {
    this.q = statementCache(db);
    // A reader (`ridge attest audit`) opens read-only: no migration; tables not there yet read as empty.
    if (db.readonly && !db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attest_audit'").get()) {
      this.empty = true;
      return;
    }
    if (db.readonly) return;
    db.exec(`
      CREATE TABLE IF NOT EXISTS attest_audit (
        seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, gateway TEXT NOT NULL, verdict TEXT NOT NULL,
        reasons TEXT NOT NULL, evidence_sha256 TEXT NOT NULL, nonce TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS attest_audit_gateway ON attest_audit(gateway, ts);
      CREATE TABLE IF NOT EXISTS attest_audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
    `);
  }

  append(r: { ts: number; gateway: string; verdict: "pass" | "fail"; reasons: AuditReason[]; evidenceSha256: string; nonce: string }): AuditRecord {
    return this.db.transaction((): AuditRecord => {
      const head = this.q("SELECT seq, hash FROM attest_audit_head WHERE id = 1").get() as { seq: number; hash: string } | undefined;
      const seq = (head?.seq ?? 0) + 1;
      const prevHash = head?.hash ?? GENESIS;
      const rec = { seq, ...r };
      const hash = recordHash(prevHash, rec);
      this
        .q("INSERT INTO attest_audit (seq, ts, gateway, verdict, reasons, evidence_sha256, nonce, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(seq, r.ts, r.gateway, r.verdict, JSON.stringify(r.reasons), r.evidenceSha256, r.nonce, prevHash, hash);
      this.q("INSERT INTO attest_audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash").run(seq, hash);
      return { ...rec, prevHash, hash };
    }).immediate();
  }

  list(filter: { since?: number; gateway?: string; limit?: number } = {}): AuditRecord[] {
    if (this.empty) return [];
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.since !== undefined) {
      where.push("ts >= ?");
      args.push(filter.since);
    }
    if (filter.gateway !== undefined) {
      where.push("gateway = ?");
      args.push(filter.gateway);
    }
    const sql = `SELECT * FROM attest_audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${filter.limit ? `LIMIT ${Math.floor(filter.limit)}` : ""}`;
    return (this.db.prepare(sql).all(...args) as Row[]).map(fromRow);
  }

  head(): { seq: number; hash: string } {
    if (this.empty) return { seq: 0, hash: GENESIS };
    const h = this.db.prepare("SELECT seq, hash FROM attest_audit_head WHERE id = 1").get() as { seq: number; hash: string } | undefined;
    return h ?? { seq: 0, hash: GENESIS };
  }

  /** Walk the whole chain in seq order (rowid order would hide a reorder of seq values). */
  verifyChain(): ChainCheck {
    if (this.empty) return ok({ records: 0, head: GENESIS });
    let prev = GENESIS;
    let expectSeq = 1;
    let n = 0;
    for (const row of this.db.prepare("SELECT * FROM attest_audit ORDER BY seq").iterate() as Iterable<Row>) {
      n++;
      const r = fromRow(row);
      if (r.seq !== expectSeq) {
        return fail("E_ATTEST_AUDIT_DELETED", `record ${expectSeq} is missing (next is ${r.seq})`, expectSeq);
      }
      const recomputed = recordHash(r.prevHash, r);
      if (recomputed !== r.hash) return fail("E_ATTEST_AUDIT_EDITED", `record ${r.seq} does not match its hash`, r.seq);
      if (r.prevHash !== prev) {
        return fail("E_ATTEST_AUDIT_REORDERED", `record ${r.seq} does not link to record ${r.seq - 1}`, r.seq);
      }
      prev = r.hash;
      expectSeq++;
    }
    const head = this.db.prepare("SELECT seq, hash FROM attest_audit_head WHERE id = 1").get() as { seq: number; hash: string } | undefined;
    if (n === 0 && !head) return ok({ records: 0, head: GENESIS });
    if (!head || head.seq !== n || head.hash !== prev) {
      return fail("E_ATTEST_AUDIT_TRUNCATED", `the chain head says ${head?.seq ?? 0} records ending ${head?.hash.slice(0, 16) ?? "?"}…, found ${n}`, n + 1);
    }
    return ok({ records: n, head: prev });
  }
}
