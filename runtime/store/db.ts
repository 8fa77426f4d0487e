/**
 * The one embedded database: `<data>/ridgeline.db`, SQLite in WAL mode. Every subsystem keeps its
 * state here in its own tables, created by its own idempotent migrations.
 *
 * A database that cannot be opened or read at start (not a database, corrupted pages) must never
 * turn into a crash loop: it is moved aside with a timestamp (`ridgeline.db.corrupt-<ts>`, with its
 * -wal and -shm files) and a fresh one is started; the caller is told so it can report it.
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";

export interface DatabaseRecovery {
  /** Where the unreadable database was moved. */
  movedTo: string;
  /** The SQLite error that made it unreadable (e.g. SQLITE_NOTADB, SQLITE_CORRUPT). */
  code: string;
  message: string;
}

export interface OpenDatabaseOptions {
  /** Called when an unreadable database was moved aside and a fresh one started. */
  onRecover?(r: DatabaseRecovery): void;
  /** Run `PRAGMA quick_check` at open (O(database size); off by default so start stays fast). */
  quickCheck?: boolean;
  /** Wall-clock for the moved-aside name (tests). */
  now?: () => number;
}

function configure(db: Database.Database, quickCheck: boolean): void {
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode: a commit survives a process crash (kill -9); only a power cut may lose the last commits.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  // A small WAL (checkpoint every 256 pages = 1 MiB, file cut back to 1 MiB): on a full disk the
  // pages waiting in the WAL must fit into the main file, and the uplink queue keeps a 2 MiB
  // reserve file for exactly that (runtime/store/queue.ts).
  db.pragma("wal_autocheckpoint = 256");
  db.pragma("journal_size_limit = 1048576");
  // Reading the schema touches page 1 and the schema b-tree: a garbage file fails here, not later.
  db.prepare("SELECT count(*) FROM sqlite_master").get();
  if (quickCheck) {
    const r = db.pragma("quick_check", { simple: true });
    if (r !== "ok") throw Object.assign(new Error(`quick_check: ${String(r)}`), { code: "SQLITE_CORRUPT" });
  }
  db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
}

/** SQLite errors that mean "this file is not a usable database", as opposed to a permission or disk problem. */
export function isCorruptionError(e: unknown): boolean {
  const code = e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : "";
  return code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT");
}

export function openDatabase(dataDir: string, file = "ridgeline.db", opts: OpenDatabaseOptions = {}): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, file);
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    configure(db, opts.quickCheck ?? false);
    return db;
  } catch (e) {
    db?.close();
    if (!isCorruptionError(e)) throw e;
    const stamp = new Date((opts.now ?? Date.now)()).toISOString().replace(/[:.]/g, "-");
    const movedTo = `${path}.corrupt-${stamp}`;
    for (const ext of ["", "-wal", "-shm"]) if (existsSync(path + ext)) renameSync(path + ext, movedTo + ext);
    const fresh = new Database(path);
    configure(fresh, false);
    const rec: DatabaseRecovery = { movedTo, code: String((e as { code: unknown }).code), message: e instanceof Error ? e.message : String(e) };
    fresh.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('store.recovered', ?)").run(JSON.stringify({ ...rec, at: (opts.now ?? Date.now)() }));
    opts.onRecover?.(rec);
    return fresh;
  }
}

/** Flush the WAL into the main file (clean shutdown). */
export function checkpoint(db: Database.Database): void {
  db.pragma("wal_checkpoint(TRUNCATE)");
}

/** The last recovery recorded in the database (for `ridge status`), if any. */
export function lastRecovery(db: Database.Database): (DatabaseRecovery & { at: number }) | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'store.recovered'").get() as { value: string } | undefined;
  if (!row) return undefined;
  try {
    return JSON.parse(row.value) as DatabaseRecovery & { at: number };
  } catch {
    return undefined;
  }
}
