/**
 * The composition root: the one place that builds the gateway's components from the loaded config
 * and board and hands each what it needs as constructor arguments, then gives them all to the
 * supervisor. One event's walk: driver → its `DriverIntake` (pipeline.ts) → the engine → a sink
 * runner → the uplink queue (the sink's priority class) → the cloud link's publish.
 * Subsystems that are not configured are never imported (start-up time and memory on small boards).
 */
import { mkdirSync } from "node:fs";
import type Database from "better-sqlite3";
import type { Logger } from "pino";
import { systemClock, systemRandom, errorCode, errorMessage, type Clock, type Random, type Timer, type Driver, type DriverContext } from "../core/index.js";
import type { Board } from "../boards/index.js";
import type { Component } from "./component.js";
import type { GatewayConfig } from "./config/schema.js";
import { loadConfig, type LoadedConfig } from "./config/load.js";
import { Measurements } from "./contracts.js";
import { ConsoleFeed, pipelineGraph, tapLogStream } from "./console/index.js";
import { ControlServer } from "./control/server.js";
import { CloudDownWatch } from "./control/cloud-down.js";
import { socketPathFor } from "./control/client.js";
import { Routes } from "./control/routes.js";
import { driverKinds } from "./drivers.js";
import { createLogger } from "./log.js";
import { Metrics } from "./metrics.js";
import { openDatabase, checkpoint } from "./store/db.js";
import { QueueComponent, UplinkSink, type StoreFault } from "./store/index.js";
import { Supervisor } from "./supervisor.js";
import { VERSION } from "./version.js";
import { LinkComponent, ModelComponent, TwinComponent, cloudConfig, createDownlinkRegistry, offlineCloud, type DownlinkRegistry } from "./cloud/index.js";
import { DriverIntake, Pipeline } from "./pipeline/index.js";

export interface GatewayOptions {
  loaded: LoadedConfig;
  clock?: Clock;
  random?: Random;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** The database was found corrupt while in use: move it aside and salvage it before starting. */
  recoverStore?: { code: string; message: string };
  /**
   * The process owner's restart hook, in place before any component starts: an update resumed at
   * start (pending after a power cut) asks for its restart while start-up is still running.
   */
  onRestartRequest?: (reason: string) => void;
}

const DRIVER_DOWN_RESTART_MS = 30_000;

/** A driver as a supervised component: started with its context, restarted when its peer stays gone. */
class DriverComponent implements Component {
  readonly name: string;
  readonly dependsOn = ["pipeline"];
  private watch: Timer | undefined;
  private downSince: number | undefined;

  constructor(
    readonly driver: Driver,
    private readonly context: DriverContext,
    private readonly clock: Clock,
    private readonly onFail: (err: unknown) => void,
  ) {
    this.name = `driver:${driver.name}`;
  }

  async start(): Promise<void> {
    await this.driver.start(this.context);
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

/** What the gateway was built from and with (read by `ridge run`, tests). */
export interface GatewayParts {
  readonly config: GatewayConfig;
  readonly board: Board;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly routes: Routes;
  /** The one SQLite database (WAL): queue, twin, model index, OTA state, audit trail, checkpoints. */
  readonly db: Database.Database;
}

export class Gateway {
  readonly startedAt: number;
  private readonly startMono: number;
  readonly supervisor: Supervisor;
  readonly downlink: DownlinkRegistry = createDownlinkRegistry();
  readonly measurements = new Measurements();
  /** Configured drivers by name (commands and twin writes go through Driver.write). */
  readonly drivers = new Map<string, Driver>();
  pipeline: Pipeline | undefined;
  control: ControlServer | undefined;
  /** How long the cloud link has been down (`ridge status`: degraded past control.cloudDownDegradedAfter). */
  private cloudDown: CloudDownWatch | undefined;
  /** Set by the process owner (`ridge run`): a component asks to restart into another runtime (OTA). */
  onRestartRequest: ((reason: string) => void) | undefined;
  /** Set by the process owner (`ridge run`): the database turned out corrupt while in use; stop, recover it, start again. */
  onStoreCorrupt: ((f: StoreFault) => void) | undefined;
  private closed = false;

  private constructor(
    readonly parts: GatewayParts,
    private readonly configFile: string | undefined,
  ) {
    this.supervisor = new Supervisor(parts.clock, parts.random, parts.log);
    this.startedAt = parts.clock.now();
    this.startMono = parts.clock.monotonic();
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const { config, board, dataDir, file } = opts.loaded;
    const clock = opts.clock ?? systemClock;
    const random = opts.random ?? systemRandom;
    const log = opts.log ?? createLogger(config.log.level, { gateway: config.gateway.id }, { format: config.log.format });
    mkdirSync(dataDir, { recursive: true });
    // quick_check at every start: a damaged page found now is salvaged now, not crash-looped on later.
    const db: Database.Database = openDatabase(dataDir, "ridgeline.db", { quickCheck: true, ...(opts.recoverStore ? { forceRecover: opts.recoverStore } : {}) });
    const gw = new Gateway({ config, board, dataDir, clock, random, log, metrics: new Metrics(), routes: new Routes(), db }, file);
    gw.onRestartRequest = opts.onRestartRequest;
    try {
      await gw.wire();
      await gw.supervisor.startAll();
    } catch (e) {
      await gw.supervisor.stopAll(2000).catch(() => undefined);
      db.close();
      throw e;
    }
    return gw;
  }

  private async wire(): Promise<void> {
    const { config, board, dataDir, clock, random, log, metrics, routes, db } = this.parts;
    const sup = this.supervisor;
    const downlink = this.downlink;
    const measurements = this.measurements;
    const cloud = config.cloud ?? cloudConfig.parse({});
    const restarts = metrics.counter("ridge_component_restarts_total", "Component restarts after a failure", ["component"]);
    sup.onRestart = (name) => restarts.inc({ component: name });
    const child = (component: string) => log.child({ component });

    // The store-and-forward queue: always there, so events are kept while no cloud is configured or reachable.
    const queue = new QueueComponent({
      db,
      config: cloud.queue,
      clock,
      log: child("uplink"),
      metrics,
      routes,
      onCorrupt: (f) => {
        void link?.stop().catch(() => undefined);
        if (this.onStoreCorrupt) this.onStoreCorrupt(f);
        else log.error({ code: f.code }, "the database is corrupt and nothing owns its recovery in this process; it is recovered at the next start");
      },
    });
    sup.add(queue);
    // The cloud link reads the queue (only with cloud.mqtt); the twin and the model fetcher use it when it is up.
    const link = cloud.mqtt
      ? new LinkComponent({
          config: cloud.mqtt,
          gatewayId: config.gateway.id,
          dataDir,
          queue: queue.queue,
          clock,
          random,
          log: child("cloud"),
          metrics,
          downlink,
          onConnected: () => {
            twin.sync.onConnected();
            models.kick();
          },
        })
      : undefined;
    if (link) sup.add(link);
    if (link) (this.cloudDown = new CloudDownWatch(clock, () => link.up, config.control.cloudDownDegradedAfter)).start();
    const cloudPort = link ?? offlineCloud;
    const twin = new TwinComponent({ db, config, drivers: this.drivers, clock, log: child("twin"), routes, downlink, cloud: cloudPort });
    sup.add(twin);
    const models = await ModelComponent.create({
      config: cloud.models,
      dataDir,
      db,
      board: { name: board.name, arch: process.arch },
      clock,
      log: child("models"),
      routes,
      downlink,
      cloud: cloudPort,
      measurements,
      onActiveChanged: (active) => twin.sync.reportGateway({ models: active }),
    });
    sup.add(models);

    // Pipeline: drivers emit into it; its uplink sinks append to the queue; it scores with the cached models.
    const file = this.configFile;
    const pipeline = new Pipeline({
      config: config.pipeline,
      devices: config.devices,
      loadConfig: (text) => loadConfig({ file: text === undefined ? file : undefined, text, board: board.name, data: dataDir }).config.pipeline,
      configFile: file,
      dataDir,
      gatewayId: config.gateway.id,
      db,
      clock,
      log: child("pipeline"),
      metrics,
      routes,
      measurements,
      uplink: (priority) => new UplinkSink(queue.queue, priority, twin),
      models: models.provider,
    });
    this.pipeline = pipeline;
    sup.add(pipeline);

    // The web console's feed: each device's last values (seen on the driver's emit), the log's warnings and errors, an hour of samples.
    const feed = new ConsoleFeed(clock, () => {
      const st = queue.status() as { queued?: number; queuedBytes?: number };
      return { events: st.queued ?? 0, bytes: st.queuedBytes ?? 0 };
    });
    tapLogStream(log, feed);

    // Drivers, created lazily by kind; each emits through its own intake.
    const ingested = metrics.counter("ridge_events_ingested_total", "Events emitted by drivers into the pipeline", ["driver"]);
    const pushedBack = metrics.counter("ridge_events_backpressure_total", "Driver emits answered with backpressure", ["driver"]);
    metrics.gauge("ridge_driver_up", "1 when the driver reports healthy", ["driver"], (g) => {
      for (const [name, d] of this.drivers) g.set({ driver: name }, safeUp(d) ? 1 : 0);
    });
    for (const entry of config.drivers) {
      const kind = driverKinds[entry.kind];
      const devices = config.devices.filter((dv) => dv.driver === entry.name);
      const driver = await kind.create(entry.config as never, devices as never[]);
      this.drivers.set(entry.name, driver);
      const name = driver.name;
      const intake = new DriverIntake(pipeline, name, ingested.labels({ driver: name }), pushedBack.labels({ driver: name }));
      const dlog = log.child({ driver: name });
      const fail = (err: unknown) => sup.fail(`driver:${name}`, err);
      const context: DriverContext = {
        emit: (e) => {
          feed.observe(name, e);
          return intake.emit(e);
        },
        drained: () => pipeline.drained(),
        clock,
        log: dlog,
        count(metric, labels, by = 1) {
          // `coap_timeouts_total` and `coap_timeouts` name the same counter (never `_total_total`),
          // and the driver label is this driver's name, once
          const base = metric.replace(/_total$/, "");
          const keys = Object.keys(labels).filter((k) => k !== "driver").sort();
          try {
            metrics.counter(`ridge_${base}_total`, `Driver counter ${base}`, ["driver", ...keys]).inc({ ...labels, driver: name }, by);
          } catch (err) {
            dlog.debug({ metric, err: errorMessage(err) }, "metric label mismatch");
          }
        },
        dataDir,
        fail,
      };
      sup.add(new DriverComponent(driver, context, clock, (err) => sup.fail(`driver:${entry.name}`, err)), { restartable: true });
    }

    // OTA and attestation only when configured (their modules are not loaded otherwise).
    if (config.ota) {
      const c = await (await import("./update/index.js")).createUpdateComponent({
        config,
        board,
        dataDir,
        db,
        clock,
        random,
        log: child("ota"),
        metrics,
        routes,
        downlink,
        uplink: queue.queue,
        drivers: this.drivers,
        cloudUp: () => link?.up ?? false,
        measurements,
        requestRestart: (reason) => {
          log.info({ reason }, "restart requested");
          if (this.onRestartRequest) this.onRestartRequest(reason);
          else log.error({ reason }, "nothing owns this process's restarts; staying up");
        },
      });
      if (c) sup.add(c);
    } else {
      // Started by `ridge boot` without `ota:`: still give the start's boot attempt back once up.
      const c = (await import("./update/confirm.js")).createSlotConfirmComponent({ board, dataDir, db, clock, log: child("boot-confirm") });
      if (c) sup.add(c);
    }
    if (config.attest) {
      const c = await (await import("./attestation/index.js")).createAttestationComponent({
        config,
        configFile: file,
        board,
        dataDir,
        clock,
        log: child("attestation"),
        metrics,
        routes,
        downlink,
        uplink: queue.queue,
        measurements,
      });
      if (c) sup.add(c);
    }

    this.addCoreRoutes();
    this.control = new ControlServer({
      socketPath: socketPathFor(dataDir, config.control.socket),
      http: config.control.http,
      routes,
      log,
      clock,
      console: { feed, graph: () => pipelineGraph(config.pipeline), slot: process.env.RIDGE_SLOT },
    });
    sup.add(this.control);
  }

  private addCoreRoutes(): void {
    const { metrics, routes } = this.parts;
    metrics.gauge("ridge_uptime_seconds", "Seconds since the gateway started", [], (g) => g.set(this.uptimeSec()));
    metrics.gauge("ridge_component_up", "1 when the component is up and healthy", ["component"], (g) => {
      for (const [name, st] of Object.entries(this.supervisor.status())) g.set({ component: name }, st.state === "up" && st.health.up ? 1 : 0);
    });
    routes.add("GET", "/status", () => ({ body: this.status() }));
    routes.add("GET", "/healthz", () => {
      const ok = this.supervisor.healthy();
      return { status: ok ? 200 : 503, body: { ok } };
    });
    routes.add("GET", "/metrics", async () => ({ body: await metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8" }));
  }

  uptimeSec(): number {
    return Math.round((this.parts.clock.monotonic() - this.startMono) / 100) / 10;
  }

  status(): Record<string, unknown> {
    const p = this.parts;
    const components = this.supervisor.status();
    const cloudDown = this.cloudDown?.degraded();
    return {
      version: VERSION,
      gateway: p.config.gateway.id,
      board: p.board.name,
      arch: p.board.arch,
      dataDir: p.dataDir,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSec: this.uptimeSec(),
      healthy: this.supervisor.healthy() && !cloudDown,
      ...(cloudDown ? { degraded: [cloudDown] } : {}),
      memory: memoryMiB(),
      components,
      ...(components.uplink ? { queue: components.uplink } : {}),
    };
  }

  /** Stop everything in reverse order within the deadline; the store is flushed last. */
  async stop(deadlineMs = this.parts.config.shutdown.deadline): Promise<{ timedOut: string[] }> {
    if (this.closed) return { timedOut: [] };
    this.closed = true;
    this.cloudDown?.stop();
    const r = await this.supervisor.stopAll(deadlineMs);
    try {
      checkpoint(this.parts.db);
      this.parts.db.close();
    } catch (e) {
      this.parts.log.error({ code: errorCode(e), err: errorMessage(e) }, "closing the database failed");
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
