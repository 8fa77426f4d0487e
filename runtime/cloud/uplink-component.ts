/**
 * The `uplink` component: the durable queue (always, even with no cloud configured), the cloud
 * link (when `cloud.mqtt` is set), the downlink dispatch, the device twin and the model cache.
 * It provides the pipeline's `uplink` sink: a batch is accepted once it is committed to the queue.
 */
import type { Component } from "../component.js";
import type { Services, Sink } from "../services.js";
import { RidgeError, errorMessage, type Event, type Priority } from "../../core/index.js";
import { PRIORITIES, UplinkQueue, type EvictReason, type StoreFault } from "../store/queue.js";
import { lastRecovery } from "../store/db.js";
import { cloudConfig, type CloudConfig } from "./config.js";
import { CloudLink } from "./cloud-link.js";
import { LINK_STATE_CODE, type LinkTag } from "./link-machine.js";
import { createDownlinkRegistry, type DownlinkRegistry } from "./downlink.js";
import { TwinSync } from "./twin-sync.js";
import { TwinStore } from "../store/twin-store.js";
import { ModelCache } from "../store/model-cache.js";
import { ModelFetcher } from "./model-fetcher.js";
import { cacheModelProvider } from "./model-provider.js";
import type { ManifestVerifier } from "./model-manifest.js";
import type { ModelProvider } from "../pipeline/index.js";

export interface UplinkComponent extends Component {
  readonly queue: UplinkQueue;
  readonly link: CloudLink | undefined;
  readonly twin: TwinSync;
  readonly models: ModelCache;
  readonly sink: Sink;
  readonly fetcher: ModelFetcher;
  /** For the pipeline's `model` operator: `createPipelineComponent(s, { models: uplink.modelProvider })`. */
  readonly modelProvider: ModelProvider;
  /**
   * Set by the composition root: the database is corrupt (found while in use). The link is already
   * stopped; the owner closes the database and reopens it through recovery (move aside, salvage).
   */
  onStoreCorrupt: ((f: StoreFault) => void) | undefined;
}

function isRegistry(d: unknown): d is DownlinkRegistry {
  return !!d && typeof (d as { dispatch?: unknown }).dispatch === "function";
}

export async function createUplinkComponent(s: Services): Promise<UplinkComponent> {
  const cfg: CloudConfig = s.config.cloud ?? cloudConfig.parse({});
  const log = s.log.child({ component: "uplink" });
  const gatewayId = s.config.gateway.id;

  const m = s.metrics;
  const evictedTotal = m.counter("ridge_queue_evicted_total", "Queued events evicted (limit, ttl, disk-full)", ["priority", "reason"]);
  const droppedTotal = m.counter("ridge_queue_dropped_total", "Incoming events refused because the queue was full", ["priority", "reason"]);
  const appendedTotal = m.counter("ridge_queue_appended_total", "Events committed to the uplink queue", []);
  const sentTotal = m.counter("ridge_uplink_sent_events_total", "Events published to the cloud (redeliveries included)", ["priority"]);
  const sentBytes = m.counter("ridge_uplink_sent_bytes_total", "Batch payload bytes published to the cloud", []);
  const ackedTotal = m.counter("ridge_uplink_acked_events_total", "Events acknowledged by the cloud broker (PUBACK) and deleted", ["priority"]);
  const connectFailures = m.counter("ridge_uplink_connect_failures_total", "Failed cloud connection attempts and lost links", ["code"]);
  const publishRefused = m.counter("ridge_uplink_publish_refused_total", "Publishes the cloud broker refused (MQTT 5 PUBACK reason code >= 0x80)", ["priority", "code", "reason"]);
  const oversizeSkipped = m.counter("ridge_uplink_oversize_skipped_total", "Events skipped because no PUBLISH the broker accepts can hold them", ["priority", "reason"]);
  const storeFaults = m.counter("ridge_store_faults_total", "Database operations that failed: corrupt (moved aside and salvaged) or io (retried)", ["kind", "op"]);

  let component: UplinkComponent | undefined;
  let corruptReported = false;
  let lastIoLog = -Infinity;
  const onStoreFault = (f: StoreFault) => {
    storeFaults.inc({ kind: f.kind, op: f.op });
    if (f.kind !== "corrupt") {
      // A failing disk, or another process holding the lock past the busy timeout: the pipeline
      // retries the commit with backoff, the link sends again what was not acked; logged at most once a minute.
      if (s.clock.now() - lastIoLog > 60_000) {
        lastIoLog = s.clock.now();
        const what = f.kind === "io" ? "I/O error on the database" : "the database stayed locked by another process";
        log.error({ code: f.code, op: f.op }, `uplink queue: ${what} (${f.code}: ${f.message}); retrying with backoff, the gateway reports unhealthy until a commit succeeds`);
      }
      return;
    }
    if (corruptReported) return;
    corruptReported = true;
    log.error({ code: f.code, op: f.op }, `uplink queue: the database is corrupt (${f.code} during ${f.op}: ${f.message}); stopping the cloud link, moving the database aside and salvaging what is readable`);
    // Not inside the queue call that found it (the link's pump or ack callback).
    queueMicrotask(() => {
      void link?.stop().catch(() => undefined);
      if (component?.onStoreCorrupt) component.onStoreCorrupt(f);
      else log.error({}, "nothing owns store recovery in this process; the database is recovered at the next start");
    });
  };

  // "Logged once per burst": the first eviction after a quiet minute is logged, with a running count.
  let burst = { at: -Infinity, events: 0 };
  const onEvict = (i: { priority: Priority; events: number; bytes: number; reason: EvictReason; dropped: boolean }) => {
    (i.dropped ? droppedTotal : evictedTotal).inc({ priority: i.priority, reason: i.reason }, i.events);
    const now = s.clock.now();
    if (now - burst.at > 60_000) {
      burst = { at: now, events: 0 };
      log.warn({ priority: i.priority, reason: i.reason, events: i.events, policy: cfg.queue.whenFull }, `uplink queue full (${i.reason}): ${i.dropped ? "dropping incoming" : "evicting oldest"} ${i.priority} events; further evictions in this burst are counted in ridge_queue_evicted_total`);
    }
    burst.at = now;
    burst.events += i.events;
  };

  let link: CloudLink | undefined;
  const queue = new UplinkQueue(s.db, {
    maxBytes: cfg.queue.maxBytes,
    maxAge: cfg.queue.maxAge,
    whenFull: cfg.queue.whenFull,
    groupCommitMs: cfg.queue.groupCommit.every,
    groupCommitEvents: cfg.queue.groupCommit.events,
    clock: s.clock,
    onEvict,
    onStoreFault,
    onCommit: (n) => {
      appendedTotal.inc(n);
      link?.notify();
    },
  });

  const rec = lastRecovery(s.db);
  // openDatabase records a move-aside in the fresh database; report it at the start that did it.
  if (rec && s.clock.now() - rec.at < 120_000)
    log.error(
      { movedTo: rec.movedTo, code: rec.code, salvagedEvents: rec.salvagedEvents, lostEvents: rec.lostEvents, skippedRows: rec.skippedRows, lostTables: rec.lostTables },
      `the database was corrupt (${rec.code}: ${rec.message}); it was moved to ${rec.movedTo}; ${rec.salvagedEvents ?? 0} queued events salvaged into a fresh one, ${rec.lostEvents ?? "an unknown number of"} lost`,
    );
  const lostAtOpen = queue.stats().lostAtOpen;
  if (lostAtOpen && s.clock.now() - lostAtOpen.at < 120_000) log.error({ lostEvents: lostAtOpen.events }, `uplink queue: ${lostAtOpen.events} committed events are missing from the database: ${lostAtOpen.reason}`);
  m.gauge("ridge_store_salvaged_events", "Uplink events salvaged from the last corrupt database", [], (g) => g.set(rec?.salvagedEvents ?? 0));
  m.gauge("ridge_store_lost_events", "Uplink events lost to the last database corruption or truncation (expected by the queue ledger, not found)", ["cause"], (g) => {
    g.set({ cause: "corrupt" }, rec?.lostEvents ?? 0);
    g.set({ cause: "missing" }, queue.stats().lostAtOpen?.events ?? 0);
  });
  m.gauge("ridge_store_failed_commits", "Uplink queue commits failed in a row (0 once one succeeds)", [], (g) => g.set(queue.stats().failedCommits));

  m.gauge("ridge_queue_events", "Events waiting in the uplink queue", ["priority"], (g) => {
    for (const p of PRIORITIES) g.set({ priority: p }, queue.depth(p));
  });
  m.gauge("ridge_queue_bytes", "Bytes waiting in the uplink queue", ["priority"], (g) => {
    const st = queue.stats();
    for (const p of PRIORITIES) g.set({ priority: p }, st.byPriority[p].bytes);
  });
  m.gauge("ridge_queue_oldest_age_seconds", "Age of the oldest queued event", ["priority"], (g) => {
    const st = queue.stats();
    for (const p of PRIORITIES) g.set({ priority: p }, st.byPriority[p].oldestAgeMs / 1000);
  });
  m.gauge("ridge_queue_limit_bytes", "The byte limit enforced on the uplink queue (lower than configured after a disk-full)", [], (g) => g.set(queue.stats().effectiveMaxBytes));
  m.gauge("ridge_uplink_link_state", "Cloud link state: 1 for the current state", ["state"], (g) => {
    const tag: LinkTag = link?.tag ?? "offline";
    for (const t of Object.keys(LINK_STATE_CODE)) g.set({ state: t }, t === tag ? 1 : 0);
  });
  m.gauge("ridge_uplink_last_drain_timestamp_seconds", "When the queue was last emptied by acknowledgements", [], (g) => g.set((link?.lastDrained() ?? 0) / 1000));

  // The downlink: the lead's Services.downlink when it is a registry (createDownlinkRegistry), else our own.
  const registry: DownlinkRegistry = isRegistry(s.downlink) ? s.downlink : createDownlinkRegistry();
  if (!isRegistry(s.downlink)) log.warn({}, "Services.downlink has no dispatch(): only the uplink's own downlink handlers are reachable");

  const twinStore = new TwinStore(s.db, s.clock);
  const twin = new TwinSync({ store: twinStore, config: s.config, drivers: s.drivers, log, clock: s.clock, gatewayId, publish: (suffix, payload) => link?.publishControl(suffix, payload) ?? Promise.resolve(false) });
  twin.register(registry);

  // Manifest signatures through the shared attest/crypto (Ed25519, ECDSA P-256, SM2-SM3), loaded only when models are configured.
  let verifier: ManifestVerifier | undefined;
  if (cfg.models.trustedKeys.length > 0) {
    const attest = await import("../../attest/index.js");
    verifier = { verify: (alg, key, msg, sig) => attest.isSigAlg(alg) && attest.verify(alg, key, msg, sig) };
  }
  const models = new ModelCache(s.dataDir, s.db, { keep: cfg.models.keep, clock: s.clock });
  const fetcher = new ModelFetcher({
    cache: models,
    trustedKeys: cfg.models.trustedKeys,
    retryMs: cfg.models.retry,
    clock: s.clock,
    log,
    board: { name: s.board.name, arch: process.arch },
    online: () => link?.connected ?? false,
    ...(verifier ? { verifier } : {}),
    onActivated: (name, version, data) => {
      twin.reportGateway({ models: models.activeVersions() });
      for (const h of s.measureHooks) h({ kind: "model", name: `${name}@${version}`, data });
    },
  });
  fetcher.register(registry);

  if (cfg.mqtt) {
    link = new CloudLink({
      config: cfg.mqtt,
      gatewayId,
      dataDir: s.dataDir,
      queue,
      clock: s.clock,
      random: s.random,
      log,
      hooks: {
        onSent: (p, n, bytes) => {
          sentTotal.inc({ priority: p }, n);
          sentBytes.inc(bytes);
        },
        onAcked: (p, n) => ackedTotal.inc({ priority: p }, n),
        onConnectFailure: (code) => connectFailures.inc({ code }),
        onPublishRefused: (p, rc, reason) => publishRefused.inc({ priority: p, code: `0x${rc.toString(16).padStart(2, "0")}`, reason }),
        onOversize: (p, reason) => oversizeSkipped.inc({ priority: p, reason }),
        onDownlink: async (suffix, payload) => {
          if (!(await registry.dispatch(suffix, payload))) log.debug({ suffix }, "downlink message with no handler");
        },
        onConnected: () => {
          twin.onConnected();
          fetcher.kick();
        },
      },
    });
  }

  const sink: Sink = {
    async accept(batch: Event[]) {
      await queue.append(batch);
      // Committed: from here on nothing may reject (the pipeline would send the batch again).
      try {
        twin.observe(batch);
      } catch (e) {
        log.warn({ err: errorMessage(e) }, "twin: recording reported state from state events failed");
      }
    },
  };
  s.sinks.set("uplink", sink);

  s.routes.add("GET", "/uplink", () => ({ body: status() }));
  s.routes.add("GET", "/twin", (req) => {
    const device = req.query.get("device");
    if (!device) return { body: { devices: twinStore.devices() } };
    return { body: twinStore.document(device) };
  });
  s.routes.add("GET", "/models", () => ({ body: { active: models.activeVersions(), models: models.list() } }));

  let ttlTimer: { cancel(): void } | undefined;
  const ttlEvery = Math.max(1000, Math.min(60_000, Math.floor(cfg.queue.maxAge / 10)));
  const expireLoop = () => {
    try {
      const n = queue.expire();
      if (n) log.info({ events: n, maxAgeMs: cfg.queue.maxAge }, "uplink queue: expired events older than maxAge");
    } catch (e) {
      log.error({ err: errorMessage(e) }, "uplink queue: expiry failed");
    }
    ttlTimer = s.clock.setTimeout(expireLoop, ttlEvery);
  };

  function status(): Record<string, unknown> {
    const st = queue.stats();
    const now = s.clock.now();
    const byPriority: Record<string, unknown> = {};
    for (const p of PRIORITIES) {
      const c = st.byPriority[p];
      byPriority[p] = { events: c.events, bytes: c.bytes, oldestAgeMs: c.oldestAgeMs };
    }
    const ago = (iso: unknown) => (typeof iso === "string" ? `${Math.round((now - Date.parse(iso)) / 1000)} s ago` : "never");
    const linkStatus = link?.status();
    return {
      // Flat summary (shown by `ridge status`); details below (`ridge status --json`, GET /uplink).
      link: link?.tag ?? "offline (no cloud.mqtt)",
      queued: st.events,
      queuedBytes: st.bytes,
      ...Object.fromEntries(PRIORITIES.map((p) => {
        const c = st.byPriority[p];
        return [`queue.${p}`, `${c.events} ev/${c.bytes} B/oldest ${Math.round(c.oldestAgeMs / 1000)} s`];
      })),
      evicted: st.evicted.limit + st.evicted.ttl + st.evicted["disk-full"],
      dropped: st.dropped,
      lastDrain: ago(linkStatus?.lastDrained),
      ...(rec ? { "store.salvaged": rec.salvagedEvents, "store.lost": rec.lostEvents ?? "unknown" } : {}),
      ...(st.lostAtOpen ? { "store.missing": st.lostAtOpen.events } : {}),
      ...(st.failedCommits ? { "store.failedCommits": st.failedCommits } : {}),
      twinVersion: twinStore.gatewayVersion(),
      models: Object.entries(models.activeVersions()).map(([n, v]) => `${n}@${v}`).join(",") || "none",
      queue: { events: st.events, bytes: st.bytes, maxBytes: st.maxBytes, effectiveMaxBytes: st.effectiveMaxBytes, byPriority, evicted: st.evicted, dropped: st.dropped, policy: cfg.queue.whenFull },
      linkDetail: linkStatus ?? { state: "offline", reason: "no cloud.mqtt configured" },
      twin: { version: twinStore.gatewayVersion(), devices: twinStore.devices().length, unpublished: twinStore.unpublishedCount() },
      activeModels: models.activeVersions(),
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

  component = {
    name: "uplink",
    onStoreCorrupt: undefined,
    queue,
    link,
    twin,
    models,
    sink,
    fetcher,
    modelProvider: cacheModelProvider(models),
    async start() {
      expireLoop();
      fetcher.start();
      link?.start();
    },
    async stop() {
      ttlTimer?.cancel();
      fetcher.stop();
      await link?.stop();
      try {
        queue.close();
      } catch (e) {
        throw new RidgeError("E_QUEUE_CLOSE", `uplink queue: the last commit failed: ${errorMessage(e)}`, { cause: e });
      }
    },
    health: () => {
      const st = queue.stats();
      // Commits that keep failing (a dead disk) or a corrupt store: not healthy, whatever the link does.
      if (st.failedCommits > 0) return { up: false, detail: `uplink queue: ${st.failedCommits} commits failed in a row (${st.fault?.code ?? "?"})` };
      if (corruptReported) return { up: false, detail: "uplink queue: corrupt database, recovering" };
      return { up: true, detail: `link ${link?.tag ?? "offline (no cloud configured)"}, ${queue.depth()} queued` };
    },
    status,
  };
  return component;
}
