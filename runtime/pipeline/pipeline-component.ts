/**
 * The pipeline as a supervised component: builds the engine from the `pipeline` section, restores
 * the last checkpoint, runs the idle-watermark tick and periodic checkpoints, serves http sources,
 * exposes /metrics counters, `GET /pipeline` and `POST /pipeline/reload`, and swaps topologies on
 * reload (SIGHUP, the control API, `ridge pipeline reload`).
 *
 * Reload: the new config is loaded and validated first (invalid → the old topology keeps running,
 * the caller gets the located errors). Then the old engine's operator inboxes are drained, and in
 * one synchronous step the new engine is built: operators whose definition is unchanged are handed
 * over as they are (open windows, dedup sets, watermarks), sinks likewise with their queues; the old
 * engine stops. Nothing is in flight between operators at the swap, so nothing is lost or doubled.
 */
import { ConfigError, RidgeError, errorMessage, type Event, type Timer, type ConfigIssue } from "../../core/index.js";
import { isAbsolute, join } from "node:path";
import { Counter, Gauge } from "prom-client";
import type { Component } from "../component.js";
import type { Services } from "../services.js";
import { loadConfig } from "../config/load.js";
import type { OperatorConfig, PipelineConfig, SinkConfig } from "./config.js";
import { CheckpointStore } from "./checkpoint-store.js";
import { Engine, definitionHash } from "./engine.js";
import { HttpSource } from "./http-source.js";
import { Inbox } from "./inbox.js";
import { FileModelProvider, type ModelProvider } from "./model-provider.js";
import type { Operator } from "./operator.js";
import { DedupOperator } from "./operators/dedup.js";
import { FilterOperator } from "./operators/filter.js";
import { MapOperator } from "./operators/map.js";
import { ModelOperator } from "./operators/model.js";
import { RouteOperator } from "./operators/route.js";
import { WindowOperator } from "./operators/window.js";
import { SinkRunner, type ClosableSink } from "./sink-runner.js";
import { createFileSink } from "./sinks/file-sink.js";
import { createLogSink } from "./sinks/log-sink.js";
import { createMqttSink } from "./sinks/mqtt-sink.js";
import { PipelineStats } from "./stats.js";

export interface ReloadResult {
  ok: boolean;
  errors?: ConfigIssue[];
  /** Swap time in ms (validation excluded). */
  ms?: number;
  /** Operators and sinks handed over with their state. */
  kept?: string[];
  /** Operators and sinks built anew. */
  rebuilt?: string[];
}

export interface PipelineComponent extends Component {
  /** Hand one event from a driver to the pipeline; false under backpressure (slow down). `driver` names the emitting driver for `from:` sources. */
  ingest(event: Event, driver?: string): boolean;
  /** Resolves when ingest would accept again. */
  drained(): Promise<void>;
  /** Re-read the config file (or take `text`), validate, swap the topology. */
  reload(text?: string): Promise<ReloadResult>;
  /** Save operator state and queued events now. */
  checkpoint(): void;
  /** The running engine (tests, benchmarks). */
  engine(): Engine;
  /** The port an http source listens on (useful with port 0). */
  httpPort(name: string): number | undefined;
  stats: PipelineStats;
}

export interface PipelineOptions {
  /** The model source (the cloud model cache); a model it does not have comes from the operator's `file`. */
  models?: ModelProvider;
  /** Override the sink factory (tests, benchmarks). */
  sinkFactory?: (name: string, def: SinkConfig) => ClosableSink | undefined;
  /** Processing-time tick for idle watermarks (ms). */
  tickMs?: number;
}

export async function createPipelineComponent(s: Services, opts: PipelineOptions = {}): Promise<PipelineComponent> {
  return new Pipeline(s, opts);
}

class Pipeline implements PipelineComponent {
  readonly name = "pipeline";
  readonly dependsOn = ["uplink"];
  readonly stats = new PipelineStats();
  private cfg: PipelineConfig;
  private current: Engine;
  private readonly runners = new Map<string, SinkRunner>();
  private readonly http = new Map<string, { src: HttpSource; hash: string }>();
  private readonly store: CheckpointStore;
  private readonly files: FileModelProvider;
  private readonly models: ModelProvider;
  private timers: Timer[] = [];
  private reloading: Promise<ReloadResult> | undefined;
  private running = false;
  private readonly deviceDrivers = new Map<string, string>();

  constructor(
    private readonly s: Services,
    private readonly opts: PipelineOptions,
  ) {
    this.cfg = s.config.pipeline;
    for (const d of s.config.devices) this.deviceDrivers.set(d.id, d.driver);
    this.store = new CheckpointStore(s.db);
    this.files = new FileModelProvider(s.dataDir);
    // the cache (when wired) first, the operator's `file` as the fallback
    const cache = opts.models;
    const files = this.files;
    this.models = cache
      ? {
          current: (name) => cache.current(name) ?? files.current(name),
          onSwitch: (cb) => {
            const a = cache.onSwitch(cb);
            const b = files.onSwitch(cb);
            return () => {
              a();
              b();
            };
          },
        }
      : files;
    this.loadModelFiles(this.cfg);
    this.current = this.build(this.cfg, undefined, this.store.load());
    this.registerMetrics();
    s.routes.add("POST", "/pipeline/reload", async (req) => {
      let text: string | undefined;
      const body = (await req.body()).toString("utf8").trim();
      if (body) {
        const j = (await req.json()) as { config?: unknown };
        if (typeof j?.config === "string") text = j.config;
      }
      const r = await this.reload(text);
      return { status: r.ok ? 200 : 400, body: r };
    });
    s.routes.add("GET", "/pipeline", () => ({ body: this.status() }));
  }

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
          if (this.opts.models) {
            this.s.log.warn({ operator: name, file: op.spec.file, err: errorMessage(e) }, "model file not readable; relying on the model cache");
            continue;
          }
          throw new ConfigError([{ file: this.s.configFile ?? "(config)", line: 1, col: 1, path: `pipeline.operators.${name}.model.file`, message: `cannot read model file ${op.spec.file}: ${errorMessage(e)}`, code: "E_PIPELINE_MODEL_FILE" }]);
        }
      }
  }

  private makeOperator(name: string, def: OperatorConfig): Operator {
    switch (def.kind) {
      case "filter":
        return new FilterOperator(def.spec);
      case "map":
        return new MapOperator(def.spec);
      case "dedup":
        return new DedupOperator(def.spec);
      case "window":
        return new WindowOperator(name, def.spec, def.aggregate);
      case "route":
        return new RouteOperator(def.spec);
      case "model":
        return new ModelOperator(def.spec, this.models);
    }
  }

  private makeSink(name: string, def: SinkConfig): ClosableSink {
    const custom = this.opts.sinkFactory?.(name, def);
    if (custom) return custom;
    switch (def.kind) {
      case "uplink": {
        const s = this.s;
        const priority = def.spec.priority;
        return {
          accept(batch) {
            const up = s.sinks.get("uplink");
            if (!up) return Promise.reject(new RidgeError("E_PIPELINE_NO_UPLINK", "no uplink sink is registered"));
            return up.accept(priority ? batch.map((e) => ({ ...e, meta: { ...e.meta, priority } })) : batch);
          },
        };
      }
      case "log":
        return createLogSink(name, def.spec.level, this.s.log);
      case "file":
        return createFileSink({ path: isAbsolute(def.spec.path) ? def.spec.path : join(this.s.dataDir, def.spec.path), rotateBytes: def.spec.rotate.size, keep: def.spec.rotate.keep, fsync: def.spec.fsync });
      case "mqtt":
        return createMqttSink({ ...def.spec, clientId: `ridge-${this.s.config.gateway.id}-${name}`.slice(0, 64) });
    }
  }

  /** Build an engine; hand over operators and sinks from `prev` whose definitions are unchanged. */
  private build(cfg: PipelineConfig, prev: Engine | undefined, restore?: ReturnType<CheckpointStore["load"]>): Engine {
    const prevOps = new Map(prev?.ops.map((n) => [n.name, n]));
    const restored = new Map(restore?.ops.map((o) => [o.name, o]));
    const used = new Set<string>();
    const kept: string[] = [];
    const rebuilt: string[] = [];
    const engine = new Engine({
      config: cfg,
      clock: this.s.clock,
      stats: this.stats,
      deviceDriver: (d) => this.deviceDrivers.get(d),
      onError: (err, where) => this.s.log.error({ node: where, err: errorMessage(err) }, "pipeline operator failed on a batch"),
      operator: (name, def, hash) => {
        const p = prevOps.get(name);
        if (p && p.hash === hash) {
          kept.push(name);
          return p.op;
        }
        rebuilt.push(name);
        const op = this.makeOperator(name, def);
        const r = restored.get(name);
        if (r && r.hash === hash && op.restore) op.restore(r.state);
        return op;
      },
      sink: (name, def, hash) => {
        used.add(name);
        const old = this.runners.get(name);
        if (old && old.hash === hash) {
          old.inbox.capacity = def.edge.capacity;
          old.inbox.policy = def.edge.policy;
          kept.push(name);
          return old;
        }
        rebuilt.push(name);
        const runner = new SinkRunner(name, hash, new Inbox(name, def.edge.capacity, def.edge.policy), this.makeSink(name, def), def.batch, {
          clock: this.s.clock,
          stats: this.stats,
          log: this.s.log,
          wake: () => this.current.schedule(),
        });
        if (old) this.retire(old); // the old definition finishes what it was given, then closes
        this.runners.set(name, runner);
        return runner;
      },
    });
    for (const [name, r] of this.runners)
      if (!used.has(name)) {
        this.runners.delete(name);
        this.retire(r);
      }
    if (restore) for (const q of restore.queued) if (!engine.requeue(q.name, q.events)) this.s.log.warn({ node: q.name, events: q.events.length }, "checkpointed events for a node that no longer exists were dropped");
    this.lastBuild = { kept, rebuilt };
    return engine;
  }
  private lastBuild: { kept: string[]; rebuilt: string[] } = { kept: [], rebuilt: [] };

  private async syncHttpSources(): Promise<void> {
    const wanted = new Map<string, { cfg: NonNullable<PipelineConfig["sources"][string]["http"]>; hash: string }>();
    for (const [name, src] of Object.entries(this.cfg.sources)) if (src.http) wanted.set(name, { cfg: src.http, hash: definitionHash(src.http) });
    for (const [name, h] of [...this.http]) {
      const w = wanted.get(name);
      if (!w || w.hash !== h.hash) {
        await h.src.stop();
        this.http.delete(name);
      }
    }
    for (const [name, w] of wanted) {
      const target = {
        accepting: () => this.current.accepting(name),
        ingest: (events: Event[]) => void this.current.ingestFrom(name, events),
      };
      const have = this.http.get(name);
      if (have) have.src.retarget(target);
      else {
        const src = new HttpSource(name, w.cfg, target);
        try {
          await src.start();
        } catch (e) {
          throw new RidgeError("E_PIPELINE_HTTP_LISTEN", `pipeline source ${name} cannot listen on ${w.cfg.listen}: ${errorMessage(e)}`, { cause: e });
        }
        this.http.set(name, { src, hash: w.hash });
      }
    }
  }

  /** The port an http source listens on (tests with port 0). */
  httpPort(name: string): number | undefined {
    return this.http.get(name)?.src.port;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.syncHttpSources();
    // a quarter of the shortest window idle timeout (re-read every tick, so a reload takes effect)
    const tickMs = () => this.opts.tickMs ?? Math.max(50, Math.min(1000, ...Object.values(this.cfg.operators).map((o) => (o.kind === "window" ? o.spec.idle / 4 : 1000))));
    const tick = () => {
      if (!this.running) return;
      this.current.tick();
      this.timers[0] = this.s.clock.setTimeout(tick, tickMs());
    };
    const every = this.cfg.checkpoint.every;
    const cp = () => {
      if (!this.running) return;
      try {
        this.checkpoint();
      } catch (e) {
        this.s.log.error({ err: errorMessage(e) }, "pipeline checkpoint failed");
      }
      this.timers[1] = this.s.clock.setTimeout(cp, every);
    };
    this.timers = [this.s.clock.setTimeout(tick, tickMs()), this.s.clock.setTimeout(cp, every)];
    this.current.begin();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) t.cancel();
    for (const h of this.http.values()) await h.src.stop();
    this.http.clear();
    await this.current.drainOperators();
    // give sinks a moment to take what is queued; whatever is left is checkpointed
    await Promise.race([Promise.all([...this.runners.values()].map((r) => r.idle())), new Promise((r) => setTimeout(r, 2000))]);
    this.checkpoint();
    this.current.stop();
    for (const r of this.runners.values()) await r.close();
  }

  checkpoint(): void {
    const snap = this.current.snapshot();
    // a replaced sink still delivering what it was given: its events are checkpointed too, under
    // the sink's name and ahead of what the sink's current definition holds (they came first)
    for (const r of [...this.retiring].reverse()) {
      // newest first: each is put ahead of the later ones
      const events = r.pending().map((x) => x.e);
      if (events.length === 0) continue;
      const q = snap.queued.find((x) => x.name === r.name);
      if (q) q.events = [...events, ...q.events];
      else snap.queued.push({ name: r.name, events });
    }
    this.store.save(snap, this.s.clock.now());
  }

  /** Sink runners replaced or removed by a reload, until they have delivered what they hold. */
  private readonly retiring = new Set<SinkRunner>();

  private retire(r: SinkRunner): void {
    this.retiring.add(r);
    r.kick();
    void r.idle().then(() => {
      this.retiring.delete(r);
      return r.close();
    });
  }

  health() {
    const failing = [...this.runners.values()].filter((r) => r.failing()).map((r) => r.name);
    return failing.length ? { up: true, detail: `sink${failing.length > 1 ? "s" : ""} ${failing.join(", ")} failing; batches kept and retried` } : { up: true };
  }

  ingest(event: Event, driver?: string): boolean {
    return this.current.ingest(event, driver);
  }

  drained(): Promise<void> {
    return this.current.drained();
  }

  reload(text?: string): Promise<ReloadResult> {
    // one reload at a time; a second caller waits for the first and then runs its own
    const run = async (): Promise<ReloadResult> => {
      let cfg: PipelineConfig;
      try {
        const loaded = loadConfig({ file: text === undefined ? this.s.configFile : undefined, text, board: this.s.board.name, data: this.s.dataDir });
        cfg = loaded.config.pipeline;
        this.loadModelFiles(cfg);
      } catch (e) {
        this.stats.reloads.rejected++;
        if (e instanceof ConfigError) return { ok: false, errors: e.issues };
        return { ok: false, errors: [{ file: this.s.configFile ?? "(config)", line: 1, col: 1, path: "(root)", message: errorMessage(e), code: e instanceof RidgeError ? e.code : "E_CONFIG_READ" }] };
      }
      const t0 = performance.now();
      const old = this.current;
      for (;;) {
        await old.drainOperators();
        if (old.operatorsQuiet()) break;
      }
      // from here to the swap, nothing awaits: no event can slip between the two engines
      this.cfg = cfg;
      this.current = this.build(cfg, old);
      old.stop();
      if (this.running) this.current.begin();
      const ms = performance.now() - t0;
      await this.syncHttpSources().catch((e: unknown) => this.s.log.error({ err: errorMessage(e) }, "pipeline http source failed to start after reload"));
      this.stats.reloads.ok++;
      this.stats.lastReloadMs = ms;
      const data = new TextEncoder().encode(JSON.stringify(cfg));
      for (const h of this.s.measureHooks) h({ kind: "config", name: "pipeline", data });
      this.s.log.info({ ms: Number(ms.toFixed(2)), ...this.lastBuild }, "pipeline reloaded");
      return { ok: true, ms, kept: this.lastBuild.kept, rebuilt: this.lastBuild.rebuilt };
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
    return { ...this.stats.summary(), operators: ops, queued: this.current.depths(), http: Object.fromEntries([...this.http].map(([n, h]) => [n, { port: h.src.port }])) };
  }

  private registerMetrics(): void {
    const reg = this.s.metrics.registry;
    const stats = this.stats;
    const self = this;
    if (reg.getSingleMetric("ridge_pipeline_events_total")) return;
    new Counter({
      name: "ridge_pipeline_events_total",
      help: "Events into and out of each pipeline node, and those it dropped (filtered, duplicate) or sent late",
      labelNames: ["node", "dir"],
      registers: [reg],
      collect() {
        this.reset();
        for (const [node, s] of stats.nodes) {
          this.inc({ node, dir: "in" }, s.in);
          this.inc({ node, dir: "out" }, s.out);
          this.inc({ node, dir: "dropped" }, s.dropped);
          this.inc({ node, dir: "late" }, s.late);
        }
      },
    });
    new Counter({
      name: "ridge_pipeline_edge_dropped_total",
      help: "Events dropped by an inbox's policy (drop-oldest, drop-newest) or refused when a block inbox overflowed",
      labelNames: ["from", "to"],
      registers: [reg],
      collect() {
        this.reset();
        for (const d of stats.edgeDrops.values()) this.inc({ from: d.from, to: d.to }, d.n);
      },
    });
    new Gauge({
      name: "ridge_pipeline_queue_depth",
      help: "Events waiting in each node's inbox (sinks: including the batch in flight)",
      labelNames: ["node"],
      registers: [reg],
      collect() {
        this.reset();
        for (const [node, d] of Object.entries(self.current.depths())) this.set({ node }, d);
      },
    });
    new Gauge({
      name: "ridge_pipeline_operator_seconds_per_event",
      help: "Average processing time per event of each operator",
      labelNames: ["node"],
      registers: [reg],
      collect() {
        this.reset();
        for (const [node, s] of stats.nodes) if (s.in) this.set({ node }, s.busyMs / 1000 / s.in);
      },
    });
    new Gauge({
      name: "ridge_pipeline_latency_seconds",
      help: "End-to-end latency from ingest to sink (HDR histogram quantiles)",
      labelNames: ["quantile"],
      registers: [reg],
      collect() {
        for (const q of [50, 99, 99.9]) this.set({ quantile: String(q / 100) }, stats.latencyUs(q) / 1e6);
      },
    });
    new Counter({
      name: "ridge_pipeline_reloads_total",
      help: "Pipeline reloads by result",
      labelNames: ["result"],
      registers: [reg],
      collect() {
        this.reset();
        this.inc({ result: "ok" }, stats.reloads.ok);
        this.inc({ result: "rejected" }, stats.reloads.rejected);
      },
    });
  }
}
