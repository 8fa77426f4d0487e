/**
 * The one embedded database: `<data>/ridgeline.db`, SQLite in WAL mode. Every subsystem keeps its
 * state here in its own tables, created by its own idempotent migrations.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export function openDatabase(dataDir: string, file = "ridgeline.db"): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, file));
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode: a commit survives a process crash (kill -9); only a power cut may lose the last commits.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  return db;
}

/** Flush the WAL into the main file (clean shutdown). */
export function checkpoint(db: Database.Database): void {
  db.pragma("wal_checkpoint(TRUNCATE)");
}
