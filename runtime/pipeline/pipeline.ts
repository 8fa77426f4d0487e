/**
 * The pipeline as a supervised component: runs the engine built from the `pipeline` section
 * (topology.ts), restores the last checkpoint, runs the idle-watermark tick and periodic
 * checkpoints, keeps the http sources in step (http-sources.ts), serves `GET /pipeline` and
 * `POST /pipeline/reload`, and swaps topologies on reload (SIGHUP, the control API,
 * `ridge pipeline reload`). Drivers reach it through a `DriverIntake` each.
 *
 * Reload: the new config is loaded and validated first (invalid → the old topology keeps running,
 * the caller gets the located errors). Then the old engine's operator inboxes are drained, and in
 * one synchronous step the new engine is built, handing over what is unchanged; the old engine
 * stops. Nothing is in flight between operators at the swap, so nothing is lost or doubled.
 */
import type Database from "better-sqlite3";
import { ConfigError, RidgeError, errorMessage, type Clock, type ConfigIssue, type Event, type Logger, type Priority, type Timer } from "../../core/index.js";
import type { Component, ComponentHealth } from "../component.js";
import type { Measurements } from "../contracts.js";
import type { Routes } from "../control/routes.js";
import type { Metrics } from "../metrics.js";
import { CheckpointStore } from "./checkpoint-store.js";
import type { PipelineConfig, SinkConfig } from "./config.js";
import type { Engine } from "./engine.js";
import { HttpSources } from "./http-sources.js";
import { FileModelProvider, cacheThenFiles, type ModelProvider } from "./model-provider.js";
import { NodeFactory } from "./node-factory.js";
import { registerPipelineMetrics } from "./pipeline-metrics.js";
import type { ClosableSink } from "./sink-runner.js";
import { PipelineStats } from "./stats.js";
import { Topology } from "./topology.js";

export interface ReloadResult {
  ok: boolean;
  errors?: ConfigIssue[];
  /** Swap time in ms (validation excluded). */
  ms?: number;
  /** Operators and sinks handed over with their state. */
  kept?: string[];
  /** Operators and sinks built anew. */
  rebuilt?: string[];
  /** Changed operators that took over their open state (`fresh`: aggregates that start with this reload). */
  carried?: { operator: string; fresh: string[] }[];
  /** Changed operators that lost their state (open windows, dedup sets), and why. */
  lost?: { operator: string; reason: string }[];
}

export interface PipelineOptions {
  config: PipelineConfig;
  /** Configured devices and their drivers (for `from:` sources). */
  devices: readonly { id: string; driver: string }[];
  /** The pipeline section read again for a reload: from the config file, or from `text`; throws ConfigError. */
  loadConfig(text: string | undefined): PipelineConfig;
  /** Named in errors about the config (the file reload reads). */
  configFile: string | undefined;
  dataDir: string;
  gatewayId: string;
  /** Checkpoints live in the gateway's database. */
  db: Database.Database;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  routes: Routes;
  /** A reload is re-measured by attestation. */
  measurements: Measurements;
  /** The uplink queue's sink for a priority class (undefined: each event by its kind). */
  uplink(priority: Priority | undefined): ClosableSink;
  /** The model source (the cloud model cache); a model it does not have comes from the operator's `file`. */
  models?: ModelProvider;
  /** Override the sink factory (tests, benchmarks). */
  sinkOverride?: (name: string, def: SinkConfig) => ClosableSink | undefined;
  /** Processing-time tick for idle watermarks (ms). */
  tickMs?: number;
}

/** A labelled counter (prom-client's `Counter.labels(...)`). */
interface Count {
  inc(by?: number): void;
}

/** What a driver's `emit` is bound to: counts what the driver emits, then hands it to the running engine. */
export class DriverIntake {
  constructor(
    private readonly pipeline: Pipeline,
    private readonly driver: string,
    private readonly ingested: Count,
    private readonly pushedBack: Count,
  ) {}

  /** False under backpressure (the driver slows down until `drained()`). */
  emit(e: Event): boolean {
    this.ingested.inc();
    const ok = this.pipeline.engine().ingest(e, this.driver);
    if (!ok) this.pushedBack.inc();
    return ok;
  }
}

export class Pipeline implements Component {
  readonly name = "pipeline";
  readonly dependsOn = ["uplink"];
  readonly stats = new PipelineStats();
  private cfg: PipelineConfig;
  private current: Engine;
  private readonly topology: Topology;
  private readonly http: HttpSources;
  private readonly store: CheckpointStore;
  private readonly files: FileModelProvider;
  private timers: Timer[] = [];
  private reloading: Promise<ReloadResult> | undefined;
  private running = false;

  constructor(private readonly o: PipelineOptions) {
    this.cfg = o.config;
    const deviceDrivers = new Map(o.devices.map((d) => [d.id, d.driver]));
    this.store = new CheckpointStore(o.db);
    this.files = new FileModelProvider(o.dataDir);
    const models = o.models ? cacheThenFiles(o.models, this.files) : this.files;
    const factory = new NodeFactory({ models, uplink: o.uplink, log: o.log, dataDir: o.dataDir, gatewayId: o.gatewayId, ...(o.sinkOverride ? { sinkOverride: o.sinkOverride } : {}) });
    this.topology = new Topology({ factory, clock: o.clock, log: o.log, stats: this.stats, deviceDriver: (d) => deviceDrivers.get(d), current: () => this.current });
    this.http = new HttpSources(() => this.current);
    this.loadModelFiles(this.cfg);
    this.current = this.topology.build(this.cfg, undefined, this.store.load());
    registerPipelineMetrics(o.metrics, this.stats, () => this.current.depths());
    o.routes.add("POST", "/pipeline/reload", async (req) => {
      let text: string | undefined;
      const body = (await req.body()).toString("utf8").trim();
      if (body) {
        const j = (await req.json()) as { config?: unknown };
        if (typeof j?.config === "string") text = j.config;
      }
      const r = await this.reload(text);
      return { status: r.ok ? 200 : 400, body: r };
    });
    o.routes.add("GET", "/pipeline", () => ({ body: this.status() }));
  }

  /** The running engine (drivers' intakes, tests, benchmarks). */
  engine(): Engine {
    return this.current;
  }

  private loadModelFiles(cfg: PipelineConfig): void {
    for (const [name, op] of Object.entries(cfg.operators))
      if (op.kind === "model" && op.spec.file) {
        try {
          this.files.load(op.spec.name, op.spec.file);
        } catch (e) {
          // with a model cache wired, a missing fallback file is only worth a warning
          if (this.o.models) {
            this.o.log.warn({ operator: name, file: op.spec.file, err: errorMessage(e) }, "model file not readable; relying on the model cache");
            continue;
          }
          throw new ConfigError([{ file: this.o.configFile ?? "(config)", line: 1, col: 1, path: `pipeline.operators.${name}.model.file`, message: `cannot read model file ${op.spec.file}: ${errorMessage(e)}`, code: "E_PIPELINE_MODEL_FILE" }]);
        }
      }
  }

  /** The port an http source listens on (tests with port 0). */
  httpPort(name: string): number | undefined {
    return this.http.port(name);
  }

  async start(): Promise<void> {
    this.running = true;
    await this.http.sync(this.cfg);
    // a quarter of the shortest window idle timeout (re-read every tick, so a reload takes effect)
    const tickMs = () => this.o.tickMs ?? Math.max(50, Math.min(1000, ...Object.values(this.cfg.operators).map((op) => (op.kind === "window" ? op.spec.idle / 4 : 1000))));
    const clock = this.o.clock;
    const tick = () => {
      if (!this.running) return;
      this.current.tick();
      this.timers[0] = clock.setTimeout(tick, tickMs());
    };
    const every = this.cfg.checkpoint.every;
    const cp = () => {
      if (!this.running) return;
      try {
        this.checkpoint();
      } catch (e) {
        this.o.log.error({ err: errorMessage(e) }, "pipeline checkpoint failed");
      }
      this.timers[1] = clock.setTimeout(cp, every);
    };
    this.timers = [clock.setTimeout(tick, tickMs()), clock.setTimeout(cp, every)];
    this.current.begin();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) t.cancel();
    await this.http.stop();
    await this.current.drainOperators();
    // give sinks a moment to take what is queued; whatever is left is checkpointed
    await this.topology.idle(2000);
    this.checkpoint();
    this.current.stop();
    await this.topology.close();
  }

  /** Save operator state and queued events now. */
  checkpoint(): void {
    this.store.save(this.topology.addRetiring(this.current.snapshot()), this.o.clock.now());
  }

  health(): ComponentHealth {
    const failing = this.topology.failing();
    return failing.length ? { up: true, detail: `sink${failing.length > 1 ? "s" : ""} ${failing.join(", ")} failing; batches kept and retried` } : { up: true };
  }

  /** Hand one event to the pipeline; false under backpressure (slow down). `driver` names the emitting driver for `from:` sources. */
  ingest(event: Event, driver?: string): boolean {
    return this.current.ingest(event, driver);
  }

  /** Resolves when ingest would accept again. */
  drained(): Promise<void> {
    return this.current.drained();
  }

  /** Re-read the config file (or take `text`), validate, swap the topology. */
  reload(text?: string): Promise<ReloadResult> {
    // one reload at a time; a second caller waits for the first and then runs its own
    const run = async (): Promise<ReloadResult> => {
      let cfg: PipelineConfig;
      try {
        cfg = this.o.loadConfig(text);
        this.loadModelFiles(cfg);
      } catch (e) {
        this.stats.reloads.rejected++;
        if (e instanceof ConfigError) return { ok: false, errors: e.issues };
        return { ok: false, errors: [{ file: this.o.configFile ?? "(config)", line: 1, col: 1, path: "(root)", message: errorMessage(e), code: e instanceof RidgeError ? e.code : "E_CONFIG_READ" }] };
      }
      const t0 = performance.now();
      const old = this.current;
      for (;;) {
        await old.drainOperators();
        if (old.operatorsQuiet()) break;
      }
      // from here to the swap, nothing awaits: no event can slip between the two engines
      this.cfg = cfg;
      this.current = this.topology.build(cfg, old);
      old.stop();
      if (this.running) this.current.begin();
      const ms = performance.now() - t0;
      await this.http.sync(cfg).catch((e: unknown) => this.o.log.error({ err: errorMessage(e) }, "pipeline http source failed to start after reload"));
      this.stats.reloads.ok++;
      this.stats.lastReloadMs = ms;
      this.o.measurements.changed({ kind: "config", name: "pipeline", data: new TextEncoder().encode(JSON.stringify(cfg)) });
      const built = this.topology.lastBuild;
      this.o.log.info({ ms: Number(ms.toFixed(2)), ...built }, "pipeline reloaded");
      for (const l of built.lost) this.o.log.warn({ node: l.operator, reason: l.reason }, `pipeline reload: operator ${l.operator} starts empty: ${l.reason}`);
      return { ok: true, ms, kept: built.kept, rebuilt: built.rebuilt, carried: built.carried, lost: built.lost };
    };
    const p = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = p.finally(() => {
      if (this.reloading === p) this.reloading = undefined;
    });
    return p;
  }

  status(): Record<string, unknown> {
    const ops: Record<string, unknown> = {};
    for (const n of this.current.ops) ops[n.name] = { kind: n.kind, ...(n.op.status?.() ?? {}) };
    return { ...this.stats.summary(), operators: ops, queued: this.current.depths(), http: this.http.ports() };
  }
}
