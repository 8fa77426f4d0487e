/**
 * The one embedded database: `<data>/ridgeline.db`, SQLite in WAL mode. Every subsystem keeps its
 * state here in its own tables, created by its own idempotent migrations.
 *
 * Writers and readers:
 * - The gateway is the only writer. Every transaction on its connection starts IMMEDIATE (the
 *   write lock is taken at BEGIN, waiting up to the busy timeout), so another process holding the
 *   lock can delay a commit but never fail it with SQLITE_BUSY (a DEFERRED transaction that read
 *   first cannot wait for the lock: SQLite answers BUSY at once rather than deadlock).
 * - CLI readers open with `openReadOnly`: read-only, no migrations; a missing table reads as
 *   "nothing recorded yet".
 *
 * Corruption never turns into a crash loop and never loses silently. Found at open (page 1, the
 * schema, `PRAGMA quick_check`) or later (any SQLITE_CORRUPT, `forceRecover`), it is handled the
 * same way: the file is moved aside with a timestamp (`ridgeline.db.corrupt-<ts>`, with its -wal
 * and -shm files; the newest two such copies are kept), what is still readable is copied row by row into a fresh database (unreadable
 * rows and pages are skipped), and the salvaged and lost uplink events are counted against the
 * queue ledger (queue-ledger.ts) and recorded in the meta table for `/status`, `/metrics` and the log.
 * An I/O error (SQLITE_IOERR, SQLITE_CANTOPEN, EIO) is not corruption: it is thrown unchanged.
 */
import Database from "better-sqlite3";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { RidgeError } from "../../core/index.js";
import { eventsMissing, readLedger } from "./queue-ledger.js";

export interface DatabaseRecovery {
  /** Where the unreadable database was moved. */
  movedTo: string;
  /** The SQLite error that made it unreadable (e.g. SQLITE_NOTADB, SQLITE_CORRUPT). */
  code: string;
  message: string;
  /** Uplink events copied into the fresh database. */
  salvagedEvents: number;
  /** Uplink events expected (queue ledger, else the old database's counters) but not salvaged; undefined when nothing said how many to expect. */
  lostEvents: number | undefined;
  /** Rows copied / skipped as unreadable, over all tables. */
  salvagedRows: number;
  skippedRows: number;
  /** Tables whose rows could not be reached at all. */
  lostTables: string[];
}

export interface OpenDatabaseOptions {
  /** Called when an unreadable database was moved aside and a fresh one started. */
  onRecover?(r: DatabaseRecovery): void;
  /** Run `PRAGMA quick_check` at open (O(database size); off by default, the gateway turns it on). */
  quickCheck?: boolean;
  /** Treat the database as corrupt (corruption was found while it was in use). */
  forceRecover?: { code: string; message: string };
  /** Wall-clock for the moved-aside name (tests). */
  now?: () => number;
}

const BUSY_TIMEOUT_MS = 5000;
const QUEUE_TABLES = ["uplink_rows_alarm", "uplink_rows_state", "uplink_rows_telemetry"];
/** Recomputed from the rows by the queue at start; never copied from a damaged file. */
const DERIVED_TABLES = new Set(["uplink_stats"]);

export function sqliteCode(e: unknown): string {
  return e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : "";
}

/** Make `db.transaction(fn)(…)` run IMMEDIATE for every subsystem that shares this connection. */
function immediateByDefault(db: Database.Database): void {
  const plain = db.transaction.bind(db);
  const wrapped = (<F extends (...a: never[]) => unknown>(fn: F) => {
    const t = plain(fn);
    const f = ((...a: unknown[]) => (t.immediate as (...x: unknown[]) => unknown)(...a)) as unknown as Database.Transaction<F>;
    for (const k of ["default", "deferred", "immediate", "exclusive"] as const) Object.defineProperty(f, k, { value: k === "default" ? t.immediate : t[k] });
    return f;
  }) as Database.Database["transaction"];
  Object.defineProperty(db, "transaction", { value: wrapped, configurable: true, writable: true });
}

function configure(db: Database.Database, quickCheck: boolean): void {
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode: a commit survives a process crash (kill -9); only a power cut may lose the last commits.
  db.pragma("synchronous = NORMAL");
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // A small WAL (checkpoint every 256 pages = 1 MiB, file cut back to 1 MiB): on a full disk the
  // pages waiting in the WAL must fit into the main file, and the uplink queue keeps a 2 MiB
  // reserve file for exactly that (runtime/store/queue.ts).
  db.pragma("wal_autocheckpoint = 256");
  db.pragma("journal_size_limit = 1048576");
  // Reading the schema touches page 1 and the schema b-tree: a garbage file fails here, not later.
  db.prepare("SELECT count(*) FROM sqlite_master").get();
  if (quickCheck) {
    const r = db.pragma("quick_check(20)", { simple: false }) as { quick_check: string }[];
    const lines = r.map((x) => x.quick_check);
    if (lines.length !== 1 || lines[0] !== "ok") throw Object.assign(new Error(`quick_check: ${lines.slice(0, 5).join("; ")}`), { code: "SQLITE_CORRUPT" });
  }
  db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  immediateByDefault(db);
}

/** SQLite errors that mean "this file is not a usable database", as opposed to a permission or disk problem. */
export function isCorruptionError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT");
}

/** I/O errors: a failing or vanished disk, a file that cannot be opened. Retried, never "repaired". */
export function isIoError(e: unknown): boolean {
  const code = sqliteCode(e);
  return code.startsWith("SQLITE_IOERR") || code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code.startsWith("SQLITE_READONLY_") || code === "EIO" || code === "EROFS";
}

export function openDatabase(dataDir: string, file = "ridgeline.db", opts: OpenDatabaseOptions = {}): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, file);
  let reason: { code: string; message: string } | undefined = opts.forceRecover;
  if (!reason) {
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      configure(db, opts.quickCheck ?? false);
      return db;
    } catch (e) {
      db?.close();
      if (isIoError(e))
        throw new RidgeError("E_STORE_IO", `${path}: ${e instanceof Error ? e.message : String(e)} (${sqliteCode(e)}): an I/O error on the disk or the file, not corruption; the file is left as it is`, { cause: e });
      if (!isCorruptionError(e)) throw e;
      reason = { code: sqliteCode(e), message: e instanceof Error ? e.message : String(e) };
    }
  }
  return recover(path, reason, opts);
}

/** Move the damaged file aside, salvage what is readable into a fresh database, record what was lost. */
function recover(path: string, reason: { code: string; message: string }, opts: OpenDatabaseOptions): Database.Database {
  const now = (opts.now ?? Date.now)();
  const stamp = new Date(now).toISOString().replace(/[:.]/g, "-");
  let movedTo = `${path}.corrupt-${stamp}`;
  for (let i = 1; existsSync(movedTo); i++) movedTo = `${path}.corrupt-${stamp}-${i}`;
  for (const ext of ["", "-wal", "-shm"]) if (existsSync(path + ext)) renameSync(path + ext, movedTo + ext);
  pruneMovedAside(path, KEEP_MOVED_ASIDE);
  const fresh = new Database(path);
  configure(fresh, false);
  const s = salvage(movedTo, fresh);
  const ledger = readLedger(path);
  // Expected: the damaged file's own counters when they still read (exact as of its last commit),
  // plus the events of commits it lost (ledger); else the ledger's depth (at most a second of acks stale).
  const expected =
    s.oldQueueDepth !== undefined && s.oldAppended !== undefined ? s.oldQueueDepth + (ledger ? eventsMissing(ledger, s.oldAppended) : 0) : ledger ? ledger.depth : s.oldQueueDepth;
  const rec: DatabaseRecovery = {
    movedTo,
    code: reason.code,
    message: reason.message,
    salvagedEvents: s.events,
    lostEvents: expected === undefined ? undefined : Math.max(0, expected - s.events),
    salvagedRows: s.rows,
    skippedRows: s.skipped,
    lostTables: s.lostTables,
  };
  // The queue's commit counter continues from the ledger (else from the old file): the events
  // counted lost here must not be counted again by the queue's own check at start.
  const appended = ledger?.appended ?? s.oldAppended;
  if (appended !== undefined) fresh.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('uplink.appended', ?)").run(String(appended));
  fresh.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('store.recovered', ?)").run(JSON.stringify({ ...rec, at: now }));
  opts.onRecover?.(rec);
  return fresh;
}

/** Damaged copies kept for a post-mortem: the newest few; older ones go (never an unbounded disk). */
const KEEP_MOVED_ASIDE = 2;

function pruneMovedAside(path: string, keep: number): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.corrupt-`;
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.startsWith(prefix) && !f.endsWith("-wal") && !f.endsWith("-shm"));
  } catch {
    return;
  }
  // The ISO timestamp in the name sorts in time order.
  for (const n of names.sort().slice(0, Math.max(0, names.length - keep)))
    for (const ext of ["", "-wal", "-shm"]) rmSync(join(dir, n + ext), { force: true });
}

interface Salvage {
  events: number;
  rows: number;
  skipped: number;
  lostTables: string[];
  oldQueueDepth: number | undefined;
  oldAppended: number | undefined;
}

function quoteId(n: string): string {
  return `"${n.replace(/"/g, '""')}"`;
}

/**
 * Row-by-row copy from a damaged file. Rows are walked in rowid order in chunks; a chunk that fails
 * is retried row by row (a bad overflow page loses one row), and a rowid seek that fails (a bad
 * leaf or interior page) is stepped over by probing ever larger rowids, then narrowing back to the
 * first one readable again.
 */
function salvage(oldPath: string, fresh: Database.Database): Salvage {
  const out: Salvage = { events: 0, rows: 0, skipped: 0, lostTables: [], oldQueueDepth: undefined, oldAppended: undefined };
  let old: Database.Database;
  try {
    old = new Database(oldPath, { fileMustExist: true });
    // As SQLite's own recovery does: tolerate a header that claims more pages than the file has
    // (truncated) and schema entries that do not parse, instead of refusing the whole file.
    // (better-sqlite3 runs connections in SQLite's defensive mode, which ignores writable_schema.)
    old.unsafeMode(true);
    old.pragma("writable_schema = ON");
  } catch {
    return out;
  }
  try {
    let schema: { type: string; name: string; sql: string | null }[];
    try {
      schema = old.prepare("SELECT type, name, sql FROM sqlite_master").all() as typeof schema;
    } catch {
      return out;
    }
    try {
      const st = old.prepare("SELECT coalesce(sum(events), 0) AS n FROM uplink_stats").get() as { n: number };
      out.oldQueueDepth = st.n;
    } catch {
      /* no readable counters */
    }
    try {
      const a = old.prepare("SELECT value FROM meta WHERE key = 'uplink.appended'").get() as { value: string } | undefined;
      if (a && Number.isFinite(Number(a.value))) out.oldAppended = Number(a.value);
    } catch {
      /* no readable meta */
    }
    const tables = schema.filter((r) => r.type === "table" && r.sql && !r.name.startsWith("sqlite_") && !DERIVED_TABLES.has(r.name) && !/^\s*CREATE\s+VIRTUAL/i.test(r.sql));
    for (const t of tables) {
      try {
        fresh.exec(t.sql!.replace(/^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?/i, "CREATE TABLE IF NOT EXISTS "));
      } catch {
        out.lostTables.push(t.name);
        continue;
      }
      const r = copyTable(old, fresh, t.name);
      out.rows += r.rows;
      out.skipped += r.skipped;
      if (r.unreachable) out.lostTables.push(t.name);
      if (QUEUE_TABLES.includes(t.name)) out.events += r.events;
    }
    for (const ix of schema.filter((r) => r.type === "index" && r.sql)) {
      try {
        fresh.exec(ix.sql!.replace(/^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(IF\s+NOT\s+EXISTS\s+)?/i, (_m, u: string | undefined) => `CREATE ${u ?? ""}INDEX IF NOT EXISTS `));
      } catch {
        /* an index is rebuilt from the rows it covers; a broken definition is dropped */
      }
    }
  } finally {
    old.close();
  }
  return out;
}

function copyTable(old: Database.Database, fresh: Database.Database, name: string): { rows: number; skipped: number; events: number; unreachable: boolean } {
  const res = { rows: 0, skipped: 0, events: 0, unreachable: false };
  const q = quoteId(name);
  let cols: { name: string; type: string; pk: number }[];
  try {
    cols = old.prepare(`PRAGMA table_info(${q})`).all() as typeof cols;
  } catch {
    res.unreachable = true;
    return res;
  }
  const pks = cols.filter((c) => c.pk > 0);
  const rowidAlias = pks.length === 1 && pks[0]!.type.toUpperCase() === "INTEGER";
  const names = cols.map((c) => quoteId(c.name));
  const target = rowidAlias ? names : ["rowid", ...names];
  const insert = fresh.prepare(`INSERT OR IGNORE INTO ${q} (${target.join(", ")}) VALUES (${target.map(() => "?").join(", ")})`);
  const hasN = QUEUE_TABLES.includes(name);
  const put = (row: Record<string, unknown>) => {
    const v = cols.map((c) => row[c.name]);
    insert.run(...(rowidAlias ? v : [row.__rid, ...v]));
    res.rows++;
    if (hasN && typeof row.n === "number") res.events += row.n;
  };
  let chunk: Database.Statement, one: Database.Statement, nextId: Database.Statement;
  try {
    chunk = old.prepare(`SELECT rowid AS __rid, * FROM ${q} WHERE rowid > ? ORDER BY rowid LIMIT 256`);
    one = old.prepare(`SELECT rowid AS __rid, * FROM ${q} WHERE rowid = ?`);
    nextId = old.prepare(`SELECT rowid AS __rid FROM ${q} WHERE rowid > ? ORDER BY rowid LIMIT 1`);
  } catch {
    // WITHOUT ROWID (none of ours) or an unreadable definition: one plain scan, as far as it goes.
    try {
      for (const row of old.prepare(`SELECT * FROM ${q}`).iterate() as Iterable<Record<string, unknown>>) {
        const v = cols.map((c) => row[c.name]);
        fresh.prepare(`INSERT OR IGNORE INTO ${q} (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`).run(...v);
        res.rows++;
      }
    } catch {
      res.unreachable = res.rows === 0;
    }
    return res;
  }
  const MAX = Number.MAX_SAFE_INTEGER;
  let after = -MAX;
  const tx = fresh.transaction((rows: Record<string, unknown>[]) => rows.forEach(put));
  for (let guard = 0; guard < 10_000_000; guard++) {
    let rows: Record<string, unknown>[];
    try {
      rows = chunk.all(after) as Record<string, unknown>[];
    } catch {
      rows = [];
      // Row by row from `after`: find each next rowid, read that row alone.
      let id: number | undefined;
      try {
        id = (nextId.get(after) as { __rid: number } | undefined)?.__rid;
      } catch {
        id = skipBadRange(nextId, after, MAX);
        if (id === undefined) {
          if (res.rows === 0 && after === -MAX) res.unreachable = true;
          break;
        }
        res.skipped++; // at least one row lived in what was stepped over (counted as one)
      }
      if (id === undefined) break;
      try {
        const r = one.get(id) as Record<string, unknown> | undefined;
        if (r) rows = [r];
      } catch {
        res.skipped++;
      }
      if (rows.length === 0) {
        after = id;
        continue;
      }
    }
    if (rows.length === 0) break;
    try {
      tx(rows);
    } catch {
      res.skipped += rows.length;
    }
    after = rows[rows.length - 1]!.__rid as number;
  }
  return res;
}

/** The first rowid after a bad range, or undefined: probe after+1, +2, +4, … then narrow back down. */
function skipBadRange(nextId: Database.Statement, after: number, max: number): number | undefined {
  const ok = (x: number): number | undefined | "bad" => {
    try {
      return (nextId.get(x) as { __rid: number } | undefined)?.__rid;
    } catch {
      return "bad";
    }
  };
  const base = after === -max ? 0 : after;
  let lo = after;
  let hi: number | undefined;
  let found: number | undefined;
  for (let step = 1; base + step < max; step *= 2) {
    const r = ok(base + step);
    if (r === "bad") {
      lo = base + step;
      continue;
    }
    hi = base + step;
    found = r;
    break;
  }
  if (hi === undefined) return undefined;
  // Narrow: the smallest probe point in (lo, hi] that reads, keeps rows just after the bad range.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const r = ok(mid);
    if (r === "bad") lo = mid;
    else {
      hi = mid;
      found = r;
    }
  }
  return found;
}

/** Flush the WAL into the main file (clean shutdown). */
export function checkpoint(db: Database.Database): void {
  db.pragma("wal_checkpoint(TRUNCATE)");
}

/**
 * For CLI readers: read-only, never created, never migrated. Another process's writes are not
 * disturbed (readers in WAL mode take no lock a writer waits for).
 */
export function openReadOnly(dataDir: string, file = "ridgeline.db"): Database.Database {
  const db = new Database(join(dataDir, file), { readonly: true, fileMustExist: true });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

/** "no such table": a reader of a database the subsystem never wrote to. */
export function isMissingTable(e: unknown): boolean {
  return e instanceof Error && /no such table/i.test(e.message);
}

/** The last recovery recorded in the database (for `ridge status`), if any. */
export function lastRecovery(db: Database.Database): (DatabaseRecovery & { at: number }) | undefined {
  let row: { value: string } | undefined;
  try {
    row = db.prepare("SELECT value FROM meta WHERE key = 'store.recovered'").get() as { value: string } | undefined;
  } catch (e) {
    if (isMissingTable(e)) return undefined;
    throw e;
  }
  if (!row) return undefined;
  try {
    return JSON.parse(row.value) as DatabaseRecovery & { at: number };
  } catch {
    return undefined;
  }
}

