/**
 * The durable uplink queue: events bound for the cloud, in SQLite (WAL), one table per priority
 * class so that each class is a plain rowid-ordered FIFO (no secondary index on the append path).
 *
 * - Group commit: appends wait at most `groupCommitMs` or until `groupCommitEvents` are pending,
 *   then one transaction commits them all; an append's promise resolves only after that commit.
 * - Order: rowid order within a class, so events of one device in one class and kind keep their
 *   order (kinds of one commit are packed into rows apart: see commitTx).
 *   Classes send (and survive eviction) in the order alarm > state > telemetry.
 * - Limits: `maxBytes` (body + row overhead) and `maxAge` (TTL since queued). When full, the policy
 *   applies: `evict-oldest-lowest-priority` deletes the oldest rows of the lowest class first and
 *   never a higher class for a lower incoming event; `drop-newest` refuses incoming events.
 *   A real disk-full (SQLITE_FULL) shrinks the effective limit to what the disk holds and applies
 *   the same policy, so the gateway neither crashes nor grows without bound.
 * - Counters (events, bytes per class) live in `uplink_stats`, updated in the same transactions,
 *   so start-up with a million queued events needs no scan. The evicted/dropped counters and the
 *   number of events ever committed live in `meta`, written in the transaction that changed them,
 *   so they survive a restart; the latter is mirrored in the queue ledger (queue-ledger.ts) so a
 *   database that lost commits (truncated, damaged WAL) is reported as "N events lost".
 * - Age (maxAge) is measured in queue time (age-clock.ts), which wall-clock jumps do not move.
 * - Store faults never escape into the link's callbacks: a read or ack that fails reports the fault
 *   (`onStoreFault`: corruption or I/O error) and reads as empty; a commit that fails rejects its
 *   appends (the pipeline retries them with backoff). Every write transaction is IMMEDIATE.
 */
import type Database from "better-sqlite3";
import { existsSync, rmSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { RidgeError, type Clock, type Event, type Priority } from "../../core/index.js";
import { AgeClock, systemBootInfo, type AgeAnchor, type BootInfo } from "./age-clock.js";
import { isCorruptionError, isIoError, sqliteCode } from "./db.js";
import { LedgerWriter, eventsMissing, readLedger } from "./queue-ledger.js";

/** Send order: highest priority first. Eviction walks this list backwards. */
export const PRIORITIES: readonly Priority[] = ["alarm", "state", "telemetry"];
const TABLE: Record<Priority, string> = { alarm: "uplink_rows_alarm", state: "uplink_rows_state", telemetry: "uplink_rows_telemetry" };
/** Per-event overhead counted against maxBytes beside its JSON body (line break, row and b-tree share). */
export const EVENT_OVERHEAD = 16;
/** Events of one class and kind committed together are packed into rows of at most this many (JSON lines). */
export const EVENTS_PER_ROW = 100;
const BYTES_PER_ROW = 64 * 1024;

export type EvictReason = "limit" | "ttl" | "disk-full";

export interface QueueOptions {
  maxBytes: number;
  maxAge: number;
  whenFull: "evict-oldest-lowest-priority" | "drop-newest";
  groupCommitMs: number;
  groupCommitEvents: number;
  clock: Clock;
  /** Every eviction or drop, for metrics and logs. */
  onEvict?(info: { priority: Priority; events: number; bytes: number; reason: EvictReason; dropped: boolean }): void;
  /** After each commit that added events. */
  onCommit?(added: number): void;
  /** Bytes kept in `<db>.reserve` and released on a full disk (default 2 MiB). */
  reserveBytes?: number;
  /** Boot id and time since boot for event age (default: /proc). */
  boot?: BootInfo;
  /** A read, ack, commit or expiry failed on the database itself (not a full disk). */
  onStoreFault?(f: StoreFault): void;
}

export interface StoreFault {
  /** corrupt: moved aside and salvaged; io: a failing disk; busy: another process held the lock past the busy timeout. Both retried. */
  kind: "corrupt" | "io" | "busy";
  code: string;
  message: string;
  op: string;
  at: number;
}

/** Events the database should hold but does not (found at open against the queue ledger). */
export interface QueueLoss {
  events: number;
  reason: string;
  at: number;
}

/**
 * A reserve file beside the database: on ENOSPC it is deleted so that SQLite has room to checkpoint
 * its WAL and record deletions, then written again (best effort) once space was freed.
 */
class DiskReserve {
  constructor(
    private readonly path: string | undefined,
    private readonly bytes: number,
  ) {}
  present(): boolean {
    return !this.path || existsSync(this.path);
  }
  release(): void {
    if (this.path) rmSync(this.path, { force: true });
  }
  restore(): void {
    if (!this.path || this.bytes <= 0) return;
    try {
      if (existsSync(this.path) && statSync(this.path).size >= this.bytes) return;
      // Only when the disk has room for it twice over: the reserve must not cause the next ENOSPC.
      const fs = statfsSync(dirname(this.path));
      if (fs.bavail * fs.bsize < 2 * this.bytes) return;
      writeFileSync(this.path, Buffer.alloc(this.bytes));
    } catch {
      // No room for the reserve now: leave none rather than a partial file.
      rmSync(this.path, { force: true });
    }
  }
}

/** One stored row: `n` consecutive events of one class and kind, as JSON lines (no trailing newline). */
export interface QueuedRow {
  seq: number;
  kind: string;
  n: number;
  bytes: number;
  body: string;
}

/** The events of stored rows (tests, tools). */
export function rowEvents(rows: readonly QueuedRow[]): Event[] {
  return rows.flatMap((r) => r.body.split("\n").map((l) => JSON.parse(l) as Event));
}

export interface ClassStats {
  events: number;
  bytes: number;
  /** When the oldest event was queued, as wall-clock ms now minus its age; undefined when empty. */
  oldestAt: number | undefined;
  /** Age of the oldest event in queue time (jump-free); 0 when empty. */
  oldestAgeMs: number;
}

export interface QueueStats {
  events: number;
  bytes: number;
  byPriority: Record<Priority, ClassStats>;
  evicted: Record<EvictReason, number>;
  dropped: number;
  maxBytes: number;
  /** The limit actually enforced: maxBytes, or less after the disk filled up. */
  effectiveMaxBytes: number;
  /** Events ever committed (survives restarts). */
  appended: number;
  /** The last store fault, and commits failed in a row (0 once one succeeds). */
  fault: StoreFault | undefined;
  failedCommits: number;
  ioErrors: number;
  /** Found missing at open, if any. */
  lostAtOpen: QueueLoss | undefined;
}

/** The priority class of an event appended without one: by kind, else telemetry. */
export function priorityOf(e: Event): Priority {
  if (e.kind === "alarm") return "alarm";
  if (e.kind === "state") return "state";
  return "telemetry";
}

/** Told after a commit that added rows: there is something to send (the cloud link's pump). */
export interface QueueReader {
  notify(): void;
}

interface Pending {
  events: readonly Event[];
  /** The class every event of the batch goes to; undefined: each by its kind. */
  priority: Priority | undefined;
  resolve(): void;
  reject(e: unknown): void;
}

interface Row {
  prio: Priority;
  kind: string;
  body: string;
  bytes: number;
}

/**
 * A full disk: SQLITE_FULL / ENOSPC, or a write-side I/O error while the volume really has (almost)
 * no room left. Any other I/O error is a failing disk, reported as such and retried, never evicted for.
 */
export function isDiskFull(e: unknown, dir?: string): boolean {
  const c = sqliteCode(e);
  if (c === "SQLITE_FULL" || c === "ENOSPC") return true;
  if (c !== "SQLITE_IOERR_WRITE" && c !== "SQLITE_IOERR_SHMSIZE" && c !== "SQLITE_IOERR_FSYNC") return false;
  if (!dir) return false;
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize < 4 * 1024 * 1024;
  } catch {
    return false;
  }
}

const SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)";

export class UplinkQueue {
  private pending: Pending[] = [];
  private pendingCount = 0;
  private timer: { cancel(): void } | undefined;
  private readonly counts: Record<Priority, { events: number; bytes: number }> = {
    alarm: { events: 0, bytes: 0 },
    state: { events: 0, bytes: 0 },
    telemetry: { events: 0, bytes: 0 },
  };
  private evicted: Record<EvictReason, number> = { limit: 0, ttl: 0, "disk-full": 0 };
  private dropped = 0;
  private appended = 0;
  private readonly age: AgeClock;
  private readonly dbDir: string | undefined;
  private fault: StoreFault | undefined;
  private failedCommits = 0;
  private ioErrors = 0;
  private lostAtOpen: QueueLoss | undefined;
  private ledgerAt = -Infinity;
  private ledgerDirty = false;
  private readonly ledger: LedgerWriter | undefined;
  private readonly lastSeq: Record<Priority, number> = { alarm: 0, state: 0, telemetry: 0 };
  private effectiveMax: number;
  private closed = false;
  private reader: QueueReader | undefined;
  private readonly st: {
    insert: Record<Priority, Database.Statement>;
    read: Record<Priority, Database.Statement>;
    head: Record<Priority, Database.Statement>;
    rangeSum: Record<Priority, Database.Statement>;
    rangeDelete: Record<Priority, Database.Statement>;
    setStats: Database.Statement;
    setMeta: Database.Statement;
  };
  private readonly commitTx: (rows: Row[]) => number;

  private readonly reserve: DiskReserve;

  constructor(
    readonly db: Database.Database,
    private readonly opts: QueueOptions,
  ) {
    this.effectiveMax = opts.maxBytes;
    this.reserve = new DiskReserve(db.memory ? undefined : `${db.name}.reserve`, opts.reserveBytes ?? 2 * 1024 * 1024);
    this.dbDir = db.memory ? undefined : dirname(db.name);
    this.ledger = db.memory ? undefined : new LedgerWriter(db.name);
    this.reserve.restore();
    const existed = !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(TABLE.telemetry);
    db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    // `at`: wall-clock ms at queueing (shown); `qt`: queue time at queueing (age-clock.ts; ages and expiry).
    for (const p of PRIORITIES) {
      db.exec(`CREATE TABLE IF NOT EXISTS ${TABLE[p]} (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL, qt INTEGER)`);
      const cols = db.prepare(`PRAGMA table_info(${TABLE[p]})`).all() as { name: string }[];
      // A database from before queue time: its rows age by wall clock (qt NULL reads as `at`).
      if (!cols.some((c) => c.name === "qt")) db.exec(`ALTER TABLE ${TABLE[p]} ADD COLUMN qt INTEGER`);
    }
    db.exec("CREATE TABLE IF NOT EXISTS uplink_stats (prio TEXT PRIMARY KEY, events INTEGER NOT NULL, bytes INTEGER NOT NULL)");
    const meta = (k: string): string | undefined => (db.prepare("SELECT value FROM meta WHERE key = ?").get(k) as { value: string } | undefined)?.value;
    this.age = new AgeClock(opts.clock, opts.boot ?? systemBootInfo(opts.clock), parseJson<AgeAnchor>(meta("uplink.ageclock")));
    const saved = parseJson<{ evicted?: Partial<Record<EvictReason, number>>; dropped?: number }>(meta("uplink.counters"));
    if (saved) {
      for (const r of ["limit", "ttl", "disk-full"] as const) this.evicted[r] = Number(saved.evicted?.[r] ?? 0) || 0;
      this.dropped = Number(saved.dropped ?? 0) || 0;
    }
    const dbAppended = meta("uplink.appended");
    const per = <T>(f: (p: Priority, t: string) => T): Record<Priority, T> => ({ alarm: f("alarm", TABLE.alarm), state: f("state", TABLE.state), telemetry: f("telemetry", TABLE.telemetry) });
    this.st = {
      insert: per((_p, t) => db.prepare(`INSERT INTO ${t} (seq, at, kind, n, bytes, body, qt) VALUES (?, ?, ?, ?, ?, ?, ?)`)),
      read: per((_p, t) => db.prepare(`SELECT seq, kind, n, bytes, body FROM ${t} WHERE seq > ? ORDER BY seq LIMIT ?`)),
      head: per((_p, t) => db.prepare(`SELECT seq, at, qt, n, bytes FROM ${t} ORDER BY seq LIMIT ?`)),
      rangeSum: per((_p, t) => db.prepare(`SELECT coalesce(sum(n), 0) AS n, coalesce(sum(bytes), 0) AS b FROM ${t} WHERE seq BETWEEN ? AND ?`)),
      rangeDelete: per((_p, t) => db.prepare(`DELETE FROM ${t} WHERE seq BETWEEN ? AND ?`)),
      setStats: db.prepare("INSERT OR REPLACE INTO uplink_stats (prio, events, bytes) VALUES (?, ?, ?)"),
      setMeta: db.prepare(SET_META),
    };
    this.loadStats();
    this.appended = dbAppended !== undefined && Number.isFinite(Number(dbAppended)) ? Number(dbAppended) : existed ? this.depth() : 0;
    this.checkLedger(dbAppended === undefined && !existed);
    // Sequence numbers only grow while the process lives (an emptied table would otherwise reuse
    // rowid 1, behind the link's read cursor); after a restart cursors start from zero anyway.
    for (const p of PRIORITIES) this.lastSeq[p] = (db.prepare(`SELECT coalesce(max(seq), 0) AS m FROM ${TABLE[p]}`).get() as { m: number }).m;
    this.commitTx = db.transaction((rows: Row[]) => {
      const at = this.opts.clock.now();
      const qt = this.age.now();
      let added = 0;
      const touched = new Set<Priority>();
      // Pack the events of one class and kind into rows, in their order. Kinds of one class are
      // packed apart even when they interleave (window results among raw events): a batch holds
      // one kind, so alternating rows became one tiny PUBLISH each. Within a commit (at most
      // groupCommitMs of events) that moves an event of one kind past one of another kind; the
      // order of a device's events of one kind, which the cloud relies on, is kept.
      const open = new Map<string, { prio: Priority; kind: string; bodies: string[]; bytes: number }>();
      const put = (key: string) => {
        const c = open.get(key);
        if (!c) return;
        open.delete(key);
        const p = c.prio;
        this.st.insert[p].run(++this.lastSeq[p], at, c.kind, c.bodies.length, c.bytes, c.bodies.join("\n"), qt);
        added += c.bodies.length;
        this.counts[p].events += c.bodies.length;
        this.counts[p].bytes += c.bytes;
        touched.add(p);
      };
      for (const r of rows) {
        const key = `${r.prio}\u0000${r.kind}`;
        let c = open.get(key);
        if (c && (c.bodies.length >= EVENTS_PER_ROW || c.bytes + r.bytes > BYTES_PER_ROW)) {
          put(key);
          c = undefined;
        }
        if (!c) open.set(key, (c = { prio: r.prio, kind: r.kind, bodies: [], bytes: 0 }));
        c.bodies.push(r.body);
        c.bytes += r.bytes;
      }
      for (const key of [...open.keys()]) put(key);
      for (const p of touched) this.saveStats(p);
      this.st.setMeta.run("uplink.appended", String(this.appended + added));
      this.saveCounters();
      this.st.setMeta.run("uplink.ageclock", JSON.stringify(this.age.snapshot()));
      return added;
    }).immediate;
  }

  /** The ledger says more was committed than this database knows: report the difference once. */
  private checkLedger(fresh: boolean): void {
    if (this.db.memory) return;
    const ledger = readLedger(this.db.name);
    if (ledger) {
      const missing = eventsMissing(ledger, this.appended);
      if (missing > 0) {
        const reason = fresh ? "the database was empty or replaced (truncated to 0 bytes?)" : "the database lost its last commits (damaged or truncated WAL?)";
        this.lostAtOpen = { events: missing, reason, at: this.opts.clock.now() };
        this.db.prepare(SET_META).run("store.lost", JSON.stringify(this.lostAtOpen));
      }
      if (ledger.appended > this.appended) {
        this.appended = ledger.appended;
        this.db.prepare(SET_META).run("uplink.appended", String(this.appended));
      }
    }
    if (!this.lostAtOpen) this.lostAtOpen = parseJson<QueueLoss>((this.db.prepare("SELECT value FROM meta WHERE key = 'store.lost'").get() as { value: string } | undefined)?.value);
    this.saveLedger();
  }

  /**
   * After every commit (the ledger's `appended` must not lag behind a commit that could vanish);
   * after deletions (acks, evictions) at most once a second: `depth` only caps the reported loss.
   */
  private saveLedger(deletion = false): void {
    if (this.db.memory) return;
    const now = this.opts.clock.monotonic();
    if (deletion && now - this.ledgerAt < 1000) {
      this.ledgerDirty = true;
      return;
    }
    this.ledgerAt = now;
    this.ledgerDirty = false;
    try {
      this.ledger?.write({ appended: this.appended, depth: this.depth() });
    } catch {
      /* best effort: a ledger that lags only under-reports a later loss */
    }
  }

  private saveCounters(): void {
    this.st.setMeta.run("uplink.counters", JSON.stringify({ evicted: this.evicted, dropped: this.dropped }));
  }

  /** Classify a database error; report it unless it is a full disk (handled by the limits). */
  private storeFault(e: unknown, op: string): StoreFault | undefined {
    const code = sqliteCode(e);
    const kind = isCorruptionError(e) ? "corrupt" : isIoError(e) ? "io" : code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED") ? "busy" : undefined;
    if (!kind) return undefined;
    const f: StoreFault = { kind, code, message: e instanceof Error ? e.message : String(e), op, at: this.opts.clock.now() };
    if (kind === "io") this.ioErrors++;
    this.fault = f;
    try {
      this.opts.onStoreFault?.(f);
    } catch {
      /* the owner's handler must not turn a reported fault into a thrown one */
    }
    return f;
  }

  private loadStats(): void {
    const rows = this.db.prepare("SELECT prio, events, bytes FROM uplink_stats").all() as { prio: string; events: number; bytes: number }[];
    const have = new Set(rows.map((r) => r.prio));
    for (const r of rows) if (r.prio in this.counts) this.counts[r.prio as Priority] = { events: r.events, bytes: r.bytes };
    // A class without a stats row (first start, or a database from before the stats table): count once.
    for (const p of PRIORITIES) {
      if (have.has(p)) continue;
      const s = this.db.prepare(`SELECT coalesce(sum(n), 0) AS n, coalesce(sum(bytes), 0) AS b FROM ${TABLE[p]}`).get() as { n: number; b: number };
      this.counts[p] = { events: s.n, bytes: s.b };
      this.saveStats(p);
    }
  }

  private saveStats(p: Priority): void {
    this.st.setStats.run(p, this.counts[p].events, this.counts[p].bytes);
  }

  private totalBytes(): number {
    return this.counts.alarm.bytes + this.counts.state.bytes + this.counts.telemetry.bytes;
  }

  /** The one reader told after each commit that added rows (set once by the composition root). */
  readBy(reader: QueueReader): void {
    this.reader = reader;
  }

  /**
   * Queue events, all in class `priority` when given (an uplink sink's configured class), else each
   * by its kind; resolves once they are committed (or counted as dropped by the full-queue policy).
   */
  append(events: readonly Event[], priority?: Priority): Promise<void> {
    if (this.closed) return Promise.reject(new RidgeError("E_QUEUE_CLOSED", "the uplink queue is closed"));
    if (events.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ events, priority, resolve, reject });
      this.pendingCount += events.length;
      if (this.pendingCount >= this.opts.groupCommitEvents) this.flush();
      else this.timer ??= this.opts.clock.setTimeout(() => this.flush(), this.opts.groupCommitMs);
    });
  }

  /** Commit everything pending now. */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const waiters = this.pending;
    if (waiters.length === 0) return;
    this.pending = [];
    this.pendingCount = 0;
    const rows: Row[] = [];
    for (const w of waiters)
      for (const e of w.events) {
        const body = JSON.stringify(e);
        rows.push({ prio: w.priority ?? priorityOf(e), kind: e.kind, body, bytes: body.length + EVENT_OVERHEAD });
      }
    let added = 0;
    try {
      added = this.commitRows(rows);
    } catch (e) {
      this.failedCommits++;
      const f = this.storeFault(e, "commit");
      const err = f ? new RidgeError(f.kind === "corrupt" ? "E_STORE_CORRUPT" : f.kind === "busy" ? "E_STORE_BUSY" : "E_STORE_IO", `uplink queue: the commit failed (${f.code}: ${f.message})`, { cause: e }) : e;
      for (const w of waiters) w.reject(err);
      return;
    }
    this.failedCommits = 0;
    for (const w of waiters) w.resolve();
    // a commit that added nothing (everything dropped) only changed the depth: throttled like a deletion
    this.saveLedger(added === 0);
    if (added) {
      this.opts.onCommit?.(added);
      this.reader?.notify();
    }
  }

  /** Admit rows within the limits (evicting or dropping per policy), then commit; disk-full shrinks the limit and retries. */
  private commitRows(rows: Row[]): number {
    for (let attempt = 0; ; attempt++) {
      let admitted: Row[] = rows;
      try {
        admitted = this.admit(rows);
        if (admitted.length === 0) {
          this.persistCounters();
          return 0;
        }
        const added = this.commitTx(admitted);
        this.appended += added;
        return added;
      } catch (e) {
        if (!isDiskFull(e, this.dbDir)) throw e;
        // The transaction rolled back; the in-memory counters were bumped inside it: reload them.
        this.reloadCounts();
        if (attempt >= 4) {
          this.countDrop(admitted, "disk-full");
          return 0;
        }
        this.relieveDisk(admitted.reduce((a, r) => a + r.bytes, 0));
        rows = admitted;
      }
    }
  }

  /**
   * SQLITE_FULL: what the disk holds now becomes the ceiling (less a margin for the next commits),
   * the WAL is checkpointed so its file is reused from the start instead of growing, and the oldest
   * rows of the lowest class are evicted to get under the new ceiling.
   */
  private relieveDisk(need: number): void {
    const total = this.totalBytes();
    this.effectiveMax = Math.max(0, Math.floor(Math.min(this.effectiveMax, total) * 0.9) - need);
    // The reserve file gives SQLite the room a checkpoint and a delete need on a full disk.
    this.reserve.release();
    try {
      this.db.pragma("wal_checkpoint(RESTART)");
    } catch {
      /* a busy or failing checkpoint: the eviction below may still fit in the WAL */
    }
    try {
      this.evictTo(this.effectiveMax, "alarm", "disk-full");
    } catch (e) {
      if (!isDiskFull(e, this.dbDir)) throw e;
      this.reloadCounts();
    }
    this.reserve.restore();
  }

  private reloadCounts(): void {
    const rows = this.db.prepare("SELECT prio, events, bytes FROM uplink_stats").all() as { prio: string; events: number; bytes: number }[];
    for (const r of rows) if (r.prio in this.counts) this.counts[r.prio as Priority] = { events: r.events, bytes: r.bytes };
  }

  /** Decide which incoming rows fit, evicting older rows per policy; the rest are counted as dropped. */
  private admit(rows: Row[]): Row[] {
    const incoming = rows.reduce((a, r) => a + r.bytes, 0);
    const limit = this.effectiveMax;
    if (this.totalBytes() + incoming <= limit) return rows;
    const keep = new Set<Row>();
    const reason: EvictReason = limit < this.opts.maxBytes ? "disk-full" : "limit";
    // Highest priority first, newest first within a class: the newest alarms are the last to go.
    const byRank = [...rows].map((r, i) => ({ r, i })).sort((a, b) => PRIORITIES.indexOf(a.r.prio) - PRIORITIES.indexOf(b.r.prio) || b.i - a.i);
    let planned = 0;
    for (const { r } of byRank) {
      if (this.totalBytes() + planned + r.bytes > limit && this.opts.whenFull === "evict-oldest-lowest-priority") {
        const want = this.totalBytes() + planned + r.bytes - limit;
        // Evict in chunks of at least 1% of the limit so a full queue does not evict row by row.
        this.evictUpTo(Math.max(want, Math.floor(limit / 100)), r.prio, reason);
      }
      if (this.totalBytes() + planned + r.bytes <= limit) {
        keep.add(r);
        planned += r.bytes;
      }
    }
    const out = rows.filter((r) => keep.has(r));
    const lost = rows.filter((r) => !keep.has(r));
    if (lost.length) this.countDrop(lost, reason);
    return out;
  }

  private countDrop(rows: Row[], reason: EvictReason): void {
    const by = new Map<Priority, { events: number; bytes: number }>();
    for (const r of rows) {
      const x = by.get(r.prio) ?? { events: 0, bytes: 0 };
      x.events++;
      x.bytes += r.bytes;
      by.set(r.prio, x);
    }
    this.dropped += rows.length;
    for (const [priority, x] of by) this.opts.onEvict?.({ priority, ...x, reason, dropped: true });
  }

  /** Drops with nothing committed: persist the counters on their own (best effort on a full disk). */
  private persistCounters(): void {
    try {
      this.db.transaction(() => this.saveCounters()).immediate();
    } catch (e) {
      if (!isDiskFull(e, this.dbDir)) throw e;
    }
  }

  /** Evict oldest rows of classes no higher than `floor`, lowest class first, until `bytes` are freed. */
  private evictUpTo(bytes: number, floor: Priority, reason: EvictReason): number {
    let freed = 0;
    for (let i = PRIORITIES.length - 1; i >= PRIORITIES.indexOf(floor) && freed < bytes; i--) {
      const p = PRIORITIES[i]!;
      while (freed < bytes && this.counts[p].events > 0) {
        const head = this.st.head[p].all(64) as { seq: number; at: number; bytes: number }[];
        if (head.length === 0) break;
        let last = head[0]!.seq;
        let b = 0;
        for (const h of head) {
          last = h.seq;
          b += h.bytes;
          if (freed + b >= bytes) break;
        }
        freed += this.deleteRange(p, head[0]!.seq, last, reason);
      }
    }
    return freed;
  }

  private evictTo(limit: number, floor: Priority, reason: EvictReason): void {
    const over = this.totalBytes() - limit;
    if (over > 0) this.evictUpTo(over, floor, reason);
  }

  /** Delete rows seq in [first, last] of a class; returns the bytes freed. With a reason, they count as evicted. */
  private deleteRange(p: Priority, first: number, last: number, reason?: EvictReason): number {
    const before = this.evicted;
    const tx = this.db.transaction(() => {
      const s = this.st.rangeSum[p].get(first, last) as { n: number; b: number };
      if (s.n === 0) return s;
      this.st.rangeDelete[p].run(first, last);
      this.counts[p].events -= s.n;
      this.counts[p].bytes -= s.b;
      this.saveStats(p);
      if (reason) {
        this.evicted = { ...before, [reason]: before[reason] + s.n };
        this.saveCounters();
      }
      return s;
    });
    let s: { n: number; b: number };
    try {
      s = tx.immediate();
    } catch (e) {
      this.evicted = before;
      this.reloadCounts();
      throw e;
    }
    if (s.n > 0) this.saveLedger(true);
    if (reason && s.n > 0) this.opts.onEvict?.({ priority: p, events: s.n, bytes: s.b, reason, dropped: false });
    return s.b;
  }

  /**
   * Rows of one class after `afterSeq`, in order, holding up to about `maxEvents` events and
   * `maxBytes` (at least one row). With `oneKind`, only the rows up to the first of another kind
   * (a batch holds one kind: reading on loaded up to `maxBytes` of bodies not sent now for every
   * batch, half the gateway's CPU while window results interleaved with raw events in `bench e2e`).
   */
  read(p: Priority, afterSeq: number, maxEvents: number, maxBytes = Infinity, oneKind = false): QueuedRow[] {
    const out: QueuedRow[] = [];
    let events = 0;
    let bytes = 0;
    try {
      for (const r of this.st.read[p].iterate(afterSeq, maxEvents) as IterableIterator<QueuedRow>) {
        if (oneKind && out.length > 0 && r.kind !== out[0]!.kind) break;
        if (out.length > 0 && (events + r.n > maxEvents || bytes + r.bytes > maxBytes)) break;
        out.push(r);
        events += r.n;
        bytes += r.bytes;
        if (events >= maxEvents) break;
      }
    } catch (e) {
      // Reported (the owner stops the link and recovers the store); nothing to send meanwhile.
      if (!this.storeFault(e, "read")) throw e;
      return [];
    }
    return out;
  }

  /** The cloud acknowledged rows [first, last] of a class: delete them; returns the events deleted (0 when the store failed: they are sent again). */
  ack(p: Priority, first: number, last: number): number {
    const before = this.counts[p].events;
    try {
      this.deleteRange(p, first, last);
    } catch (e) {
      if (!this.storeFault(e, "ack")) throw e;
      return 0;
    }
    return before - this.counts[p].events;
  }

  /** Expire events queued before now - maxAge; returns how many. Also puts the disk reserve back when there is room. */
  expire(): number {
    this.reserve.restore();
    // After a disk-full the limit grows back slowly (10% per call) while the reserve fits again;
    // if the disk is still short, the next SQLITE_FULL shrinks it once more.
    if (this.effectiveMax < this.opts.maxBytes && this.reserve.present()) this.effectiveMax = Math.min(this.opts.maxBytes, Math.ceil(this.effectiveMax * 1.1) + 1);
    try {
      return this.expireOld();
    } catch (e) {
      this.storeFault(e, "expire");
      throw e;
    }
  }

  private expireOld(): number {
    const qnow = this.age.now();
    const cutoff = qnow - this.opts.maxAge;
    const wallCutoff = this.opts.clock.now() - this.opts.maxAge;
    let n = 0;
    for (const p of PRIORITIES) {
      for (;;) {
        const head = this.st.head[p].all(1000) as { seq: number; at: number; qt: number | null; bytes: number }[];
        const old = head.filter((h) => (h.qt === null ? h.at < wallCutoff : h.qt < cutoff));
        if (old.length === 0) break;
        // Rows are queued in time order, so the expired ones are a prefix of the table.
        const last = old[old.length - 1]!.seq;
        const before = this.counts[p].events;
        this.deleteRange(p, head[0]!.seq, last, "ttl");
        n += before - this.counts[p].events;
        if (old.length < head.length) break;
      }
    }
    if (this.ledgerDirty) this.saveLedger();
    // The anchor moves forward so that a restart continues queue time from here.
    this.db.transaction(() => this.st.setMeta.run("uplink.ageclock", JSON.stringify(this.age.snapshot()))).immediate();
    return n;
  }

  depth(p?: Priority): number {
    return p ? this.counts[p].events : this.counts.alarm.events + this.counts.state.events + this.counts.telemetry.events;
  }

  stats(): QueueStats {
    const byPriority = {} as Record<Priority, ClassStats>;
    const qnow = this.age.now();
    const wall = this.opts.clock.now();
    for (const p of PRIORITIES) {
      let h: { at: number; qt: number | null } | undefined;
      try {
        h = this.counts[p].events > 0 ? (this.st.head[p].get(1) as { at: number; qt: number | null } | undefined) : undefined;
      } catch {
        h = undefined; // a damaged store: counts only (the fault is reported by the operation that hit it)
      }
      const ageMs = h ? Math.max(0, h.qt === null ? wall - h.at : qnow - h.qt) : 0;
      byPriority[p] = { events: this.counts[p].events, bytes: this.counts[p].bytes, oldestAt: h ? wall - ageMs : undefined, oldestAgeMs: ageMs };
    }
    return {
      events: this.depth(),
      bytes: this.totalBytes(),
      byPriority,
      evicted: { ...this.evicted },
      dropped: this.dropped,
      maxBytes: this.opts.maxBytes,
      effectiveMaxBytes: this.effectiveMax,
      appended: this.appended,
      fault: this.fault,
      failedCommits: this.failedCommits,
      ioErrors: this.ioErrors,
      lostAtOpen: this.lostAtOpen,
    };
  }

  /** Commit what is pending and refuse further appends. */
  close(): void {
    this.flush();
    if (this.ledgerDirty) this.saveLedger();
    this.closed = true;
  }
}

/** Told what an uplink sink committed (the twin records reported state from state events); never throws. */
export interface CommitWatcher {
  observe(batch: readonly Event[]): void;
}

/**
 * The pipeline's `uplink` sink: hands each batch to the queue in the sink's configured priority
 * class (`uplink: { priority }`; by kind when unset) and accepts it once committed. The event is
 * queued as it is: the class is a column of the queue, not a field that travels to the cloud.
 */
export class UplinkSink {
  constructor(
    private readonly queue: UplinkQueue,
    readonly priority: Priority | undefined,
    private readonly watcher?: CommitWatcher,
  ) {}

  async accept(batch: readonly Event[]): Promise<void> {
    const out = this.priority ? batch.map((e) => promote(e, this.priority!)) : batch;
    await this.queue.append(out, this.priority);
    // Committed: from here on nothing may reject (the pipeline would send the batch again).
    this.watcher?.observe(out);
  }
}

const RANK: Record<string, number> = { telemetry: 0, state: 1, alarm: 2 };

/**
 * An event routed to an uplink sink of class `p` travels as that class: kind and topic too
 * (`up/alarm`), not only the queue's class. Only upwards: a telemetry or state event on an alarm
 * sink becomes an alarm, an alarm on a telemetry sink stays an alarm; other kinds (ota, attest) keep theirs.
 */
function promote(e: Event, p: Priority): Event {
  const have = RANK[e.kind];
  return have !== undefined && have < RANK[p]! ? { ...e, kind: p } : e;
}

function parseJson<T>(v: string | undefined): T | undefined {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    return undefined;
  }
}
