/**
 * OTA state in the gateway's SQLite database: the current UpdateState (one row), its history,
 * the trusted TUF metadata, and the anti-rollback floor per artifact kind. A state and the floor
 * change in one transaction.
 */
import type Database from "better-sqlite3";
import type { MetadataStore } from "./tuf-client.js";
import type { RoleName } from "./tuf-metadata.js";
import type { UpdateState } from "./update-machine.js";
import { compareVersions } from "./version-order.js";

export interface HistoryRow {
  seq: number;
  at: number;
  state: string;
  code: string | null;
  reason: string | null;
  version: string | null;
}

/** A reader (`ridge ota status` without a running gateway) opens the database read-only: no migration, and a table not there yet reads as empty. */
function orEmpty<T>(read: () => T, empty: T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof Error && /no such table/i.test(e.message)) return empty;
    throw e;
  }
}

/**
 * The stored UpdateState without creating anything (the launcher and a gateway without `ota:`
 * read it; a database the agent never wrote to reads as idle).
 */
export function readUpdateState(db: Database.Database): UpdateState {
  const row = orEmpty(() => db.prepare("SELECT state FROM ota_state WHERE id = 1").get() as { state: string } | undefined, undefined);
  if (!row) return { s: "idle" };
  try {
    return JSON.parse(row.state) as UpdateState;
  } catch {
    return { s: "failed", code: "E_OTA_STATE_CORRUPT", reason: "the stored OTA state was unreadable" };
  }
}

export interface FailedTarget {
  name: string;
  sha256: string;
  version: string;
  code: string;
  reason: string;
  at: number;
}

/**
 * Failures that belong to the target's content, not to the way there: it rolled back (crashed at
 * start, failed its health check, refused the config) or its bundle was refused after its signed
 * hashes matched. A mirror that served wrong or too few bytes, or a link that stalled, is not the
 * target's fault and is retried.
 */
const TRANSIENT = new Set(["E_OTA_FETCH", "E_OTA_SLOW", "E_OTA_DOWNLOAD_STALLED", "E_OTA_HASH", "E_OTA_LENGTH", "E_OTA_TOO_LARGE", "E_OTA_SLOT_BUSY"]);

function failedTarget(st: UpdateState): (Omit<FailedTarget, "at">) | undefined {
  if (st.s !== "rolled-back" && !(st.s === "failed" && st.target && !TRANSIENT.has(st.code))) return undefined;
  const t = st.target!;
  const sha256 = t.hashes.sha256;
  return sha256 ? { name: t.name, sha256, version: t.version, code: st.code, reason: st.reason } : undefined;
}

export class UpdateStore implements MetadataStore {
  constructor(private readonly db: Database.Database) {
    if (db.readonly) return;
    db.exec(`
      CREATE TABLE IF NOT EXISTS ota_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, updated INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS ota_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, state TEXT NOT NULL, code TEXT, reason TEXT, version TEXT);
      CREATE TABLE IF NOT EXISTS ota_metadata (role TEXT PRIMARY KEY, bytes BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS ota_floor (kind TEXT PRIMARY KEY, version TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS ota_failed (name TEXT NOT NULL, sha256 TEXT NOT NULL, version TEXT NOT NULL, code TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (name, sha256));
    `);
  }

  load(): UpdateState {
    return readUpdateState(this.db);
  }

  /** Persist a state (and optionally raise the floor) in one transaction. */
  save(st: UpdateState, at: number, raiseFloor?: { kind: string; version: string }): void {
    this.db.transaction(() => {
      this.db.prepare("INSERT INTO ota_state (id, state, updated) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated = excluded.updated").run(JSON.stringify(st), at);
      const code = "code" in st ? st.code : null;
      const reason = "reason" in st ? st.reason : null;
      const version = "target" in st && st.target ? st.target.version : null;
      this.db.prepare("INSERT INTO ota_history (at, state, code, reason, version) VALUES (?, ?, ?, ?, ?)").run(at, st.s, code, reason, version);
      this.db.prepare("DELETE FROM ota_history WHERE seq <= (SELECT max(seq) FROM ota_history) - 200").run();
      const bad = failedTarget(st);
      if (bad) this.db.prepare("INSERT OR REPLACE INTO ota_failed (name, sha256, version, code, reason, at) VALUES (?, ?, ?, ?, ?, ?)").run(bad.name, bad.sha256, bad.version, bad.code, bad.reason, at);
      if (raiseFloor) {
        const cur = this.floor(raiseFloor.kind);
        if (!cur || (compareVersions(raiseFloor.version, cur) ?? 0) > 0)
          this.db.prepare("INSERT INTO ota_floor (kind, version) VALUES (?, ?) ON CONFLICT(kind) DO UPDATE SET version = excluded.version").run(raiseFloor.kind, raiseFloor.version);
      }
    }).immediate();
  }

  /** Targets that failed on this device (name and sha256), newest first: never selected again. */
  failedTargets(): FailedTarget[] {
    return orEmpty(() => this.db.prepare("SELECT name, sha256, version, code, reason, at FROM ota_failed ORDER BY at DESC").all() as FailedTarget[], []);
  }

  /** Whether this exact target (same name, same sha256) failed here before. */
  failedBefore(name: string, sha256: string | undefined): FailedTarget | undefined {
    if (!sha256) return undefined;
    return orEmpty(() => this.db.prepare("SELECT name, sha256, version, code, reason, at FROM ota_failed WHERE name = ? AND sha256 = ?").get(name, sha256) as FailedTarget | undefined, undefined);
  }

  history(limit = 20): HistoryRow[] {
    return orEmpty(() => this.db.prepare("SELECT seq, at, state, code, reason, version FROM ota_history ORDER BY seq DESC LIMIT ?").all(limit) as HistoryRow[], []);
  }

  floor(kind: string): string | undefined {
    return orEmpty(() => (this.db.prepare("SELECT version FROM ota_floor WHERE kind = ?").get(kind) as { version: string } | undefined)?.version, undefined);
  }

  // MetadataStore
  get(role: RoleName): Uint8Array | undefined {
    const r = orEmpty(() => this.db.prepare("SELECT bytes FROM ota_metadata WHERE role = ?").get(role) as { bytes: Buffer } | undefined, undefined);
    return r ? new Uint8Array(r.bytes) : undefined;
  }
  put(role: RoleName, bytes: Uint8Array): void {
    this.db.prepare("INSERT INTO ota_metadata (role, bytes) VALUES (?, ?) ON CONFLICT(role) DO UPDATE SET bytes = excluded.bytes").run(role, Buffer.from(bytes));
  }
  delete(role: RoleName): void {
    this.db.prepare("DELETE FROM ota_metadata WHERE role = ?").run(role);
  }
}
