/**
 * The append-only audit trail of verdicts, hash-chained in SQLite:
 *   hash_n = SHA-256(prev_hash ‖ canonical JSON of record n), prev_hash_1 = 64 × "0",
 * with the chain head (last seq and hash) kept in its own row and updated in the same
 * transaction. verifyChain() finds any edited record (its hash no longer matches), deleted
 * record (a seq gap or a broken link), reordered records (a broken link), or a cut-off tail (the
 * head disagrees), each a Failure with its own code whose offset is the record's seq. Someone who
 * can rewrite the whole database can rewrite the chain too; signed checkpoints (checkpoint.ts,
 * an RFC 6962 Merkle root over the records) kept elsewhere catch that.
 *
 * Since schema 2 a record is stored as its canonical JSON (core/canonical-json.ts) in `canon`,
 * covering every field including prevHash, and hash_n = SHA-256(canon_n). Readers parse `canon`
 * and nothing else; the other columns stay for the indexes and must agree with it. Rows written
 * before (canon NULL) keep verifying the old way and read as `legacy: true`: re-hashing them on
 * migration would bless whatever an attacker had already edited into them.
 */
import type Database from "better-sqlite3";
import { canonicalJson, fail, ok, type Result } from "../core/index.js";
import { leafHash, type Hash } from "./merkle.js";
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
  /** Written before schema 2: only part of it is hashed (see the header). */
  legacy?: true;
}

/** An intact chain: how many records and the last hash; or where and how it is broken. */
export type ChainCheck = Result<
  { records: number; head: string },
  "E_ATTEST_AUDIT_EDITED" | "E_ATTEST_AUDIT_DELETED" | "E_ATTEST_AUDIT_REORDERED" | "E_ATTEST_AUDIT_TRUNCATED"
>;

const GENESIS = "0".repeat(64);

/** The canonical text of a schema-2 record: all of it, prevHash included, is what gets hashed. */
function canonOf(r: Omit<AuditRecord, "hash" | "legacy">): string {
  return canonicalJson({ seq: r.seq, ts: r.ts, gateway: r.gateway, verdict: r.verdict, reasons: r.reasons.map((x) => ({ code: x.code, detail: x.detail })), evidenceSha256: r.evidenceSha256, nonce: r.nonce, prevHash: r.prevHash });
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function legacyCanon(r: Omit<AuditRecord, "hash" | "prevHash">): string {
  return JSON.stringify([r.seq, r.ts, r.gateway, r.verdict, r.reasons.map((x) => [x.code, x.detail]), r.evidenceSha256, r.nonce]);
}

function legacyHash(prevHash: string, r: Omit<AuditRecord, "hash" | "prevHash">): string {
  const canonical = legacyCanon(r);
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
  canon: string | null;
}

/** A schema-2 row reads from its canonical text only; undefined when that text is not a record. */
function fromCanon(seq: number | undefined, hash: string, canon: string): AuditRecord | undefined {
  try {
    // Canonical JSON leaves control characters raw; they can stand only inside strings, so escape them for JSON.parse.
    const o = JSON.parse(canon.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)) as Partial<AuditRecord>;
    if (typeof o !== "object" || o === null || !Array.isArray(o.reasons)) return undefined;
    const rec = { seq: o.seq!, ts: o.ts!, gateway: o.gateway!, verdict: o.verdict!, reasons: o.reasons, evidenceSha256: o.evidenceSha256!, nonce: o.nonce!, prevHash: o.prevHash! };
    if ((seq !== undefined && rec.seq !== seq) || canonOf(rec) !== canon) return undefined;
    return { ...rec, hash };
  } catch {
    return undefined;
  }
}

function fromRow(r: Row): AuditRecord {
  if (r.canon !== null) {
    const rec = fromCanon(r.seq, r.hash, r.canon);
    return rec ?? { seq: r.seq, ts: 0, gateway: "", verdict: "fail", reasons: [{ code: "E_ATTEST_AUDIT_CORRUPT", detail: r.canon }], evidenceSha256: "", nonce: "", prevHash: "", hash: r.hash };
  }
  let reasons: AuditReason[] = [];
  try {
    reasons = JSON.parse(r.reasons) as AuditReason[];
  } catch {
    reasons = [{ code: "E_ATTEST_AUDIT_CORRUPT", detail: r.reasons }];
  }
  return { seq: r.seq, ts: r.ts, gateway: r.gateway, verdict: r.verdict === "pass" ? "pass" : "fail", reasons, evidenceSha256: r.evidence_sha256, nonce: r.nonce, prevHash: r.prev_hash, hash: r.hash, legacy: true };
}

/** The bytes a record's Merkle leaf covers: its canonical text (legacy rows: their old hashed text). */
function leafText(r: Row): string {
  return r.canon ?? legacyCanon(fromRow(r));
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
    const cols = db.prepare("PRAGMA table_info(attest_audit)").all() as { name: string }[];
    if (!cols.some((c) => c.name === "canon")) db.exec("ALTER TABLE attest_audit ADD COLUMN canon TEXT");
  }

  append(r: { ts: number; gateway: string; verdict: "pass" | "fail"; reasons: AuditReason[]; evidenceSha256: string; nonce: string }): AuditRecord {
    return this.db.transaction((): AuditRecord => {
      const head = this.q("SELECT seq, hash FROM attest_audit_head WHERE id = 1").get() as { seq: number; hash: string } | undefined;
      const seq = (head?.seq ?? 0) + 1;
      const prevHash = head?.hash ?? GENESIS;
      // Lone surrogates cannot round-trip through UTF-8 (the hashed bytes, SQLite's TEXT): U+FFFD as SQLite would store.
      const w = (x: string) => x.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
      const rec = { seq, ts: r.ts, gateway: w(r.gateway), verdict: r.verdict, reasons: r.reasons.map((x) => ({ code: w(x.code), detail: w(x.detail) })), evidenceSha256: w(r.evidenceSha256), nonce: w(r.nonce), prevHash };
      const canon = canonOf(rec);
      const hash = hex(sha256(new TextEncoder().encode(canon)));
      this
        .q("INSERT INTO attest_audit (seq, ts, gateway, verdict, reasons, evidence_sha256, nonce, prev_hash, hash, canon) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(seq, rec.ts, rec.gateway, rec.verdict, JSON.stringify(rec.reasons), rec.evidenceSha256, rec.nonce, prevHash, hash, canon);
      this.q("INSERT INTO attest_audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash").run(seq, hash);
      return { ...rec, hash };
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

  /** The Merkle leaf hashes of all records in seq order (RFC 6962: SHA-256(0x00 ‖ canonical record)). */
  leaves(): Hash[] {
    if (this.empty) return [];
    const out: Hash[] = [];
    for (const row of this.db.prepare("SELECT * FROM attest_audit ORDER BY seq").iterate() as Iterable<Row>) out.push(leafHash(new TextEncoder().encode(leafText(row))));
    return out;
  }

  /** Walk the whole chain in seq order (rowid order would hide a reorder of seq values). */
  verifyChain(): ChainCheck {
    if (this.empty) return ok({ records: 0, head: GENESIS });
    let prev = GENESIS;
    let expectSeq = 1;
    let n = 0;
    let schema2 = false;
    for (const row of this.db.prepare("SELECT * FROM attest_audit ORDER BY seq").iterate() as Iterable<Row>) {
      n++;
      if (row.seq !== expectSeq) {
        return fail("E_ATTEST_AUDIT_DELETED", `record ${expectSeq} is missing (next is ${row.seq})`, expectSeq);
      }
      const r = row.canon === null ? fromRow(row) : fromCanon(row.seq, row.hash, row.canon);
      const edited = () => fail("E_ATTEST_AUDIT_EDITED", `record ${row.seq} does not match its hash`, row.seq);
      if (!r) {
        // An intact record under another seq: rows were moved.
        const moved = row.canon !== null && hex(sha256(new TextEncoder().encode(row.canon))) === row.hash ? fromCanon(undefined, row.hash, row.canon) : undefined;
        if (moved) return fail("E_ATTEST_AUDIT_REORDERED", `record ${row.seq} holds record ${moved.seq}`, row.seq);
        return edited();
      }
      if (row.canon !== null) {
        if (hex(sha256(new TextEncoder().encode(row.canon))) !== row.hash) return edited();
        // The indexed columns must say what the hashed text says (filters read them).
        const said = [row.ts, row.gateway, row.verdict, row.reasons, row.evidence_sha256, row.nonce, row.prev_hash];
        const hashed = [r.ts, r.gateway, r.verdict, JSON.stringify(r.reasons), r.evidenceSha256, r.nonce, r.prevHash];
        if (said.some((x, i) => x !== hashed[i])) return edited();
        schema2 = true;
      } else if (schema2 || legacyHash(r.prevHash, r) !== r.hash) return edited(); // no legacy row after a schema-2 one
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
