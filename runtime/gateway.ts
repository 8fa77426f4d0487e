/**
 * The composition root: builds the services from the loaded config and board, wires drivers into
 * the pipeline and the pipeline into the uplink queue, and hands every component to the supervisor.
 * Subsystems that are not configured are never imported (start-up time and memory on small boards).
 */
import { mkdirSync } from "node:fs";
import type Database from "better-sqlite3";
import type { Logger } from "pino";
import { systemClock, systemRandom, errorCode, errorMessage, type Clock, type Random, type Timer, type Driver, type DriverContext } from "../core/index.js";
import type { Component } from "./component.js";
import type { LoadedConfig } from "./config/load.js";
import { ControlServer } from "./control/server.js";
import { socketPathFor } from "./control/client.js";
import { Routes } from "./control/routes.js";
import { driverKinds } from "./drivers.js";
import { createLogger } from "./log.js";
import { Metrics } from "./metrics.js";
import type { Services, Sink } from "./services.js";
import { openDatabase, checkpoint } from "./store/db.js";
import type { StoreFault } from "./store/queue.js";
import { Supervisor } from "./supervisor.js";
import { VERSION } from "./version.js";
import { createDownlinkRegistry, createUplinkComponent, type DownlinkRegistry } from "./cloud/index.js";
import { createPipelineComponent, type PipelineComponent } from "./pipeline/index.js";

export interface GatewayOptions {
  loaded: LoadedConfig;
  clock?: Clock;
  random?: Random;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** The database was found corrupt while in use: move it aside and salvage it before starting. */
  recoverStore?: { code: string; message: string };
}

const DRIVER_DOWN_RESTART_MS = 30_000;

/** A driver as a supervised component: its context feeds the pipeline and reports failures. */
class DriverComponent implements Component {
  readonly name: string;
  readonly dependsOn = ["pipeline"];
  private watch: Timer | undefined;
  private downSince: number | undefined;

  constructor(
    readonly driver: Driver,
    private readonly makeContext: (d: Driver) => DriverContext,
    private readonly clock: Clock,
    private readonly onFail: (err: unknown) => void,
  ) {
    this.name = `driver:${driver.name}`;
  }

  async start(): Promise<void> {
    await this.driver.start(this.makeContext(this.driver));
    this.downSince = undefined;
    this.scheduleWatch();
  }

  /** A driver whose peer stays gone for a while is restarted (fresh sockets, fresh port). */
  private scheduleWatch(): void {
    this.watch = this.clock.setTimeout(() => {
      const h = this.driver.health();
      const now = this.clock.monotonic();
      if (h.up) this.downSince = undefined;
      else if (this.downSince === undefined) this.downSince = now;
      else if (now - this.downSince >= DRIVER_DOWN_RESTART_MS) {
        this.onFail(new Error(`driver down for ${Math.round((now - this.downSince) / 1000)} s: ${h.detail ?? "no detail"}`));
        return;
      }
      this.scheduleWatch();
    }, 5000);
  }

  async stop(): Promise<void> {
    this.watch?.cancel();
    this.watch = undefined;
    await this.driver.stop();
  }

  health() {
    return this.driver.health();
  }

  status() {
    return { kind: "driver", ...(this.driver.status?.() ?? {}) };
  }
}

export class Gateway {
  readonly startedAt: number;
  private readonly startMono: number;
  pipeline: PipelineComponent | undefined;
  control: ControlServer | undefined;
  /** Set by the process owner (`ridge run`): a component asks to restart into another runtime (OTA). */
  onRestartRequest: ((reason: string) => void) | undefined;
  /** Set by the process owner (`ridge run`): the database turned out corrupt while in use; stop, recover it, start again. */
  onStoreCorrupt: ((f: StoreFault) => void) | undefined;
  private closed = false;

  private constructor(
    readonly services: Services,
    readonly supervisor: Supervisor,
    readonly downlinkRegistry: DownlinkRegistry,
  ) {
    this.startedAt = services.clock.now();
    this.startMono = services.clock.monotonic();
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const { config, board, dataDir, file } = opts.loaded;
    const clock = opts.clock ?? systemClock;
    const random = opts.random ?? systemRandom;
    const log = opts.log ?? createLogger(config.log.level, { gateway: config.gateway.id });
    mkdirSync(dataDir, { recursive: true });
    // quick_check at every start: a damaged page found now is salvaged now, not crash-looped on later.
    const db: Database.Database = openDatabase(dataDir, "ridgeline.db", { quickCheck: true, ...(opts.recoverStore ? { forceRecover: opts.recoverStore } : {}) });
    const metrics = new Metrics();
    const routes = new Routes();
    const drivers = new Map<string, Driver>();
    const downlink = createDownlinkRegistry();
    const sinks = new Map<string, Sink>();
    const services: Services = { config, configFile: file, board, dataDir, clock, random, log, metrics, db, routes, drivers, downlink, sinks, measureHooks: [] };
    const supervisor = new Supervisor(clock, random, log);
    const gw = new Gateway(services, supervisor, downlink);
    try {
      await gw.wire();
      await supervisor.startAll();
    } catch (e) {
      await supervisor.stopAll(2000).catch(() => undefined);
      db.close();
      throw e;
    }
    return gw;
  }

  private async wire(): Promise<void> {
    const s = this.services;
    const { config } = s;
    const sup = this.supervisor;
    const restarts = s.metrics.counter("ridge_component_restarts_total", "Component restarts after a failure", ["component"]);
    sup.onRestart = (name) => restarts.inc({ component: name });

    // Store-and-forward queue: always there, so events are kept while no cloud is configured or reachable.
    const uplink = await createUplinkComponent(s);
    uplink.onStoreCorrupt = (f) => {
      if (this.onStoreCorrupt) this.onStoreCorrupt(f);
      else s.log.error({ code: f.code }, "the database is corrupt and nothing owns its recovery in this process; it is recovered at the next start");
    };
    sup.add(uplink);
    // Pipeline: drivers emit into it; it writes to sinks (uplink and local ones) and scores with the cached models.
    this.pipeline = await createPipelineComponent(s, { models: uplink.modelProvider });
    sup.add(this.pipeline);

    // Drivers, created lazily by kind.
    const ingested = s.metrics.counter("ridge_events_ingested_total", "Events emitted by drivers into the pipeline", ["driver"]);
    const pushedBack = s.metrics.counter("ridge_events_backpressure_total", "Driver emits answered with backpressure", ["driver"]);
    s.metrics.gauge("ridge_driver_up", "1 when the driver reports healthy", ["driver"], (g) => {
      for (const [name, d] of s.drivers) g.set({ driver: name }, safeUp(d) ? 1 : 0);
    });
    const pipeline = this.pipeline;
    const makeContext = (d: Driver): DriverContext => {
      const dlog = s.log.child({ driver: d.name });
      const counter = ingested.labels({ driver: d.name });
      const bp = pushedBack.labels({ driver: d.name });
      return {
        emit(e) {
          counter.inc();
          const ok = pipeline.ingest(e, d.name);
          if (!ok) bp.inc();
          return ok;
        },
        drained: () => pipeline.drained(),
        clock: s.clock,
        log: dlog,
        count(metric, labels, by = 1) {
          const keys = Object.keys(labels).sort();
          try {
            s.metrics.counter(`ridge_${metric}_total`, `Driver counter ${metric}`, ["driver", ...keys]).inc({ driver: d.name, ...labels }, by);
          } catch (err) {
            dlog.debug({ metric, err: errorMessage(err) }, "metric label mismatch");
          }
        },
        dataDir: s.dataDir,
        fail: (err) => sup.fail(`driver:${d.name}`, err),
      };
    };
    for (const entry of config.drivers) {
      const kind = driverKinds[entry.kind];
      const devices = config.devices.filter((dv) => dv.driver === entry.name);
      const driver = await kind.create(entry.config as never, devices as never[]);
      (s.drivers as Map<string, Driver>).set(entry.name, driver);
      sup.add(new DriverComponent(driver, makeContext, s.clock, (err) => sup.fail(`driver:${entry.name}`, err)), { restartable: true });
    }

    // OTA and attestation only when configured (their modules are not loaded otherwise).
    if (config.ota) {
      const c = await (await import("./update/index.js")).createUpdateComponent(s, {
        requestRestart: (reason) => {
          s.log.info({ reason }, "restart requested");
          if (this.onRestartRequest) this.onRestartRequest(reason);
          else s.log.error({ reason }, "nothing owns this process's restarts; staying up");
        },
      });
      if (c) sup.add(c);
    } else {
      // Started by `ridge boot` without `ota:`: still give the start's boot attempt back once up.
      const c = (await import("./update/confirm.js")).createSlotConfirmComponent(s);
      if (c) sup.add(c);
    }
    if (config.attest) {
      const c = await (await import("./attestation/index.js")).createAttestationComponent(s);
      if (c) sup.add(c);
    }

    this.addCoreRoutes();
    this.control = new ControlServer({ socketPath: socketPathFor(s.dataDir, config.control.socket), http: config.control.http, routes: s.routes, log: s.log });
    sup.add(this.control);
  }

  private addCoreRoutes(): void {
    const s = this.services;
    s.metrics.gauge("ridge_uptime_seconds", "Seconds since the gateway started", [], (g) => g.set(this.uptimeSec()));
    s.metrics.gauge("ridge_component_up", "1 when the component is up and healthy", ["component"], (g) => {
      for (const [name, st] of Object.entries(this.supervisor.status())) g.set({ component: name }, st.state === "up" && st.health.up ? 1 : 0);
    });
    s.routes.add("GET", "/status", () => ({ body: this.status() }));
    s.routes.add("GET", "/healthz", () => {
      const ok = this.supervisor.healthy();
      return { status: ok ? 200 : 503, body: { ok } };
    });
    s.routes.add("GET", "/metrics", async () => ({ body: await s.metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8" }));
    s.routes.add("GET", "/", () => ({ body: statusPage(this.status()), contentType: "text/html; charset=utf-8" }));
  }

  uptimeSec(): number {
    return Math.round((this.services.clock.monotonic() - this.startMono) / 100) / 10;
  }

  status(): Record<string, unknown> {
    const s = this.services;
    const components = this.supervisor.status();
    return {
      version: VERSION,
      gateway: s.config.gateway.id,
      board: s.board.name,
      arch: s.board.arch,
      dataDir: s.dataDir,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSec: this.uptimeSec(),
      healthy: this.supervisor.healthy(),
      memory: memoryMiB(),
      components,
      ...(components.uplink ? { queue: components.uplink } : {}),
    };
  }

  /** Route a downlink message (from the cloud link) to whoever registered its prefix. */
  dispatchDownlink(suffix: string, payload: Buffer): Promise<boolean> {
    return this.downlinkRegistry.dispatch(suffix, payload);
  }

  /** Stop everything in reverse order within the deadline; the store is flushed last. */
  async stop(deadlineMs = this.services.config.shutdown.deadline): Promise<{ timedOut: string[] }> {
    if (this.closed) return { timedOut: [] };
    this.closed = true;
    const r = await this.supervisor.stopAll(deadlineMs);
    try {
      checkpoint(this.services.db);
      this.services.db.close();
    } catch (e) {
      this.services.log.error({ code: errorCode(e), err: errorMessage(e) }, "closing the database failed");
    }
    return r;
  }
}

function memoryMiB(): Record<string, number> {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), heapTotal: mib(m.heapTotal), external: mib(m.external) };
}

function safeUp(d: Driver): boolean {
  try {
    return d.health().up;
  } catch {
    return false;
  }
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** A small page for a person on site with a laptop on the control port. */
function statusPage(st: Record<string, unknown>): string {
  const comps = st.components as Record<string, { state: string; health: { up: boolean; detail?: string }; restarts: number }>;
  const rows = Object.entries(comps)
    .map(([n, c]) => `<tr><td>${esc(n)}</td><td>${esc(c.state)}</td><td>${c.health.up ? "up" : "down"}</td><td>${esc(c.health.detail ?? "")}</td><td>${c.restarts}</td></tr>`)
    .join("");
  return `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Ridgeline ${esc(String(st.gateway))}</title>
<style>body{font:14px system-ui;margin:2em}td,th{padding:2px 10px;text-align:left}</style>
<h1>${esc(String(st.gateway))}</h1><p>Ridgeline ${esc(String(st.version))} on board ${esc(String(st.board))} (${esc(String(st.arch))}), up ${st.uptimeSec} s, ${st.healthy ? "healthy" : "<b>degraded</b>"}</p>
<table><tr><th>component</th><th>state</th><th>health</th><th>detail</th><th>restarts</th></tr>${rows}</table>
<p><a href="/status">status JSON</a> · <a href="/metrics">metrics</a></p>`;
}
