/**
 * The `uplink` component: the durable uplink queue's lifecycle. Always there, even with no cloud
 * configured, so events are kept while no cloud is configured or reachable. It builds the queue
 * from `cloud.queue`, reports store faults and evictions (metrics, logs once per burst), expires
 * events older than `maxAge`, reports a recovery done at open, serves `GET /uplink`, and closes the
 * queue (the last commit) when stopped. Reading the queue is the cloud link's job (cloud-link.ts).
 */
import type Database from "better-sqlite3";
import { RidgeError, errorMessage, type Clock, type Logger, type Priority, type Timer } from "../../core/index.js";
import type { Component, ComponentHealth } from "../component.js";
import type { QueueConfig } from "../cloud/config.js";
import type { Routes } from "../control/routes.js";
import type { Metrics } from "../metrics.js";
import { lastRecovery } from "./db.js";
import { PRIORITIES, UplinkQueue, type EvictReason, type QueueStats, type StoreFault } from "./queue.js";

export interface QueueComponentOptions {
  db: Database.Database;
  config: QueueConfig;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  routes: Routes;
  /**
   * The database is corrupt (found while in use), called once and not inside the queue call that
   * found it: the owner stops the link, closes the database and reopens it through recovery.
   */
  onCorrupt(f: StoreFault): void;
}

const REPORT_RECOVERY_MS = 120_000;

export class QueueComponent implements Component {
  readonly name = "uplink";
  readonly queue: UplinkQueue;
  private readonly recovery: ReturnType<typeof lastRecovery>;
  private corruptReported = false;
  private lastIoLog = -Infinity;
  private burst = { at: -Infinity, events: 0 };
  private ttlTimer: Timer | undefined;
  private scrape: QueueStats | undefined;

  constructor(private readonly o: QueueComponentOptions) {
    const m = o.metrics;
    const evictedTotal = m.counter("ridge_queue_evicted_total", "Queued events evicted (limit, ttl, disk-full)", ["priority", "reason"]);
    const droppedTotal = m.counter("ridge_queue_dropped_total", "Incoming events refused because the queue was full", ["priority", "reason"]);
    const appendedTotal = m.counter("ridge_queue_appended_total", "Events committed to the uplink queue", []);
    const storeFaults = m.counter("ridge_store_faults_total", "Database operations that failed: corrupt (moved aside and salvaged) or io (retried)", ["kind", "op"]);
    const cfg = o.config;
    this.queue = new UplinkQueue(o.db, {
      maxBytes: cfg.maxBytes,
      maxAge: cfg.maxAge,
      whenFull: cfg.whenFull,
      groupCommitMs: cfg.groupCommit.every,
      groupCommitEvents: cfg.groupCommit.events,
      clock: o.clock,
      onEvict: (i) => {
        (i.dropped ? droppedTotal : evictedTotal).inc({ priority: i.priority, reason: i.reason }, i.events);
        this.logEviction(i);
      },
      onStoreFault: (f) => {
        storeFaults.inc({ kind: f.kind, op: f.op });
        this.storeFault(f);
      },
      onCommit: (n) => appendedTotal.inc(n),
    });
    this.recovery = lastRecovery(o.db);
    this.reportRecovery();
    this.registerGauges();
    o.routes.add("GET", "/uplink", () => ({ body: this.status() }));
  }

  /** "Logged once per burst": the first eviction after a quiet minute is logged, with a running count. */
  private logEviction(i: { priority: Priority; events: number; reason: EvictReason; dropped: boolean }): void {
    const now = this.o.clock.now();
    if (now - this.burst.at > 60_000) {
      this.burst = { at: now, events: 0 };
      this.o.log.warn(
        { priority: i.priority, reason: i.reason, events: i.events, policy: this.o.config.whenFull },
        `uplink queue full (${i.reason}): ${i.dropped ? "dropping incoming" : "evicting oldest"} ${i.priority} events; further evictions in this burst are counted in ridge_queue_evicted_total`,
      );
    }
    this.burst.at = now;
    this.burst.events += i.events;
  }

  private storeFault(f: StoreFault): void {
    const log = this.o.log;
    if (f.kind !== "corrupt") {
      // A failing disk, or another process holding the lock past the busy timeout: the pipeline
      // retries the commit with backoff, the link sends again what was not acked; logged at most once a minute.
      if (this.o.clock.now() - this.lastIoLog > 60_000) {
        this.lastIoLog = this.o.clock.now();
        const what = f.kind === "io" ? "I/O error on the database" : "the database stayed locked by another process";
        log.error({ code: f.code, op: f.op }, `uplink queue: ${what} (${f.code}: ${f.message}); retrying with backoff, the gateway reports unhealthy until a commit succeeds`);
      }
      return;
    }
    if (this.corruptReported) return;
    this.corruptReported = true;
    log.error({ code: f.code, op: f.op }, `uplink queue: the database is corrupt (${f.code} during ${f.op}: ${f.message}); stopping the cloud link, moving the database aside and salvaging what is readable`);
    // Not inside the queue call that found it (the link's pump or ack callback).
    queueMicrotask(() => this.o.onCorrupt(f));
  }

  /** openDatabase records a move-aside in the fresh database; reported at the start that did it. */
  private reportRecovery(): void {
    const rec = this.recovery;
    const now = this.o.clock.now();
    if (rec && now - rec.at < REPORT_RECOVERY_MS)
      this.o.log.error(
        { movedTo: rec.movedTo, code: rec.code, salvagedEvents: rec.salvagedEvents, lostEvents: rec.lostEvents, skippedRows: rec.skippedRows, lostTables: rec.lostTables },
        `the database was corrupt (${rec.code}: ${rec.message}); it was moved to ${rec.movedTo}; ${rec.salvagedEvents ?? 0} queued events salvaged into a fresh one, ${rec.lostEvents ?? "an unknown number of"} lost`,
      );
    const lost = this.queue.stats().lostAtOpen;
    if (lost && now - lost.at < REPORT_RECOVERY_MS) this.o.log.error({ lostEvents: lost.events }, `uplink queue: ${lost.events} committed events are missing from the database: ${lost.reason}`);
  }

  /**
   * The queue's stats once per scrape: every gauge's collect runs in the same synchronous turn, and
   * `stats()` reads each class's head row, so the gauges share one snapshot until the turn ends.
   */
  private scrapeStats(): QueueStats {
    if (!this.scrape) {
      this.scrape = this.queue.stats();
      queueMicrotask(() => (this.scrape = undefined));
    }
    return this.scrape;
  }

  private registerGauges(): void {
    const m = this.o.metrics;
    const q = this.queue;
    const stats = () => this.scrapeStats();
    const rec = this.recovery;
    m.gauge("ridge_store_salvaged_events", "Uplink events salvaged from the last corrupt database", [], (g) => g.set(rec?.salvagedEvents ?? 0));
    m.gauge("ridge_store_lost_events", "Uplink events lost to the last database corruption or truncation (expected by the queue ledger, not found)", ["cause"], (g) => {
      g.set({ cause: "corrupt" }, rec?.lostEvents ?? 0);
      g.set({ cause: "missing" }, stats().lostAtOpen?.events ?? 0);
    });
    m.gauge("ridge_store_failed_commits", "Uplink queue commits failed in a row (0 once one succeeds)", [], (g) => g.set(stats().failedCommits));
    m.gauge("ridge_queue_events", "Events waiting in the uplink queue", ["priority"], (g) => {
      for (const p of PRIORITIES) g.set({ priority: p }, q.depth(p));
    });
    m.gauge("ridge_queue_bytes", "Bytes waiting in the uplink queue", ["priority"], (g) => {
      const st = stats();
      for (const p of PRIORITIES) g.set({ priority: p }, st.byPriority[p].bytes);
    });
    m.gauge("ridge_queue_oldest_age_seconds", "Age of the oldest queued event", ["priority"], (g) => {
      const st = stats();
      for (const p of PRIORITIES) g.set({ priority: p }, st.byPriority[p].oldestAgeMs / 1000);
    });
    m.gauge("ridge_queue_limit_bytes", "The byte limit enforced on the uplink queue (lower than configured after a disk-full)", [], (g) => g.set(stats().effectiveMaxBytes));
  }

  private expireLoop(): void {
    const maxAge = this.o.config.maxAge;
    try {
      const n = this.queue.expire();
      if (n) this.o.log.info({ events: n, maxAgeMs: maxAge }, "uplink queue: expired events older than maxAge");
    } catch (e) {
      this.o.log.error({ err: errorMessage(e) }, "uplink queue: expiry failed");
    }
    this.ttlTimer = this.o.clock.setTimeout(() => this.expireLoop(), Math.max(1000, Math.min(60_000, Math.floor(maxAge / 10))));
  }

  async start(): Promise<void> {
    this.expireLoop();
  }

  async stop(): Promise<void> {
    this.ttlTimer?.cancel();
    this.ttlTimer = undefined;
    try {
      this.queue.close();
    } catch (e) {
      throw new RidgeError("E_QUEUE_FINAL_COMMIT", `uplink queue: the last commit failed: ${errorMessage(e)}`, { cause: e });
    }
  }

  health(): ComponentHealth {
    const st = this.queue.stats();
    // Commits that keep failing (a dead disk) or a corrupt store: not healthy, whatever the link does.
    if (st.failedCommits > 0) return { up: false, detail: `uplink queue: ${st.failedCommits} commits failed in a row (${st.fault?.code ?? "?"})` };
    if (this.corruptReported) return { up: false, detail: "uplink queue: corrupt database, recovering" };
    return { up: true, detail: `${this.queue.depth()} queued` };
  }

  status(): Record<string, unknown> {
    const st = this.queue.stats();
    const rec = this.recovery;
    const byPriority: Record<string, unknown> = {};
    for (const p of PRIORITIES) {
      const c = st.byPriority[p];
      byPriority[p] = { events: c.events, bytes: c.bytes, oldestAgeMs: c.oldestAgeMs };
    }
    return {
      // Flat summary (shown by `ridge status`); details below (`ridge status --json`, GET /uplink).
      queued: st.events,
      queuedBytes: st.bytes,
      ...Object.fromEntries(
        PRIORITIES.map((p) => {
          const c = st.byPriority[p];
          return [`queue.${p}`, `${c.events} ev/${c.bytes} B/oldest ${Math.round(c.oldestAgeMs / 1000)} s`];
        }),
      ),
      evicted: st.evicted.limit + st.evicted.ttl + st.evicted["disk-full"],
      dropped: st.dropped,
      ...(rec ? { "store.salvaged": rec.salvagedEvents, "store.lost": rec.lostEvents ?? "unknown" } : {}),
      ...(st.lostAtOpen ? { "store.missing": st.lostAtOpen.events } : {}),
      ...(st.failedCommits ? { "store.failedCommits": st.failedCommits } : {}),
      queue: { events: st.events, bytes: st.bytes, maxBytes: st.maxBytes, effectiveMaxBytes: st.effectiveMaxBytes, byPriority, evicted: st.evicted, dropped: st.dropped, policy: this.o.config.whenFull },
      ...(rec ? { databaseRecovered: rec } : {}),
      store: {
        ...(rec ? { salvagedEvents: rec.salvagedEvents, lostEvents: rec.lostEvents, movedTo: rec.movedTo, recoveredAt: new Date(rec.at).toISOString() } : {}),
        ...(st.lostAtOpen ? { missingEvents: st.lostAtOpen.events, missingReason: st.lostAtOpen.reason } : {}),
        failedCommits: st.failedCommits,
        ioErrors: st.ioErrors,
        ...(st.fault ? { lastFault: st.fault } : {}),
      },
    };
  }
}
