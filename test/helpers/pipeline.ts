/**
 * Pipeline test rig: the pipeline component built from a YAML config (through the real
 * loader, so board defaults and located errors are as in production), with sinks replaced by
 * collectors that can be stalled.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import pino, { type Logger } from "pino";
import { systemClock, type Clock } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { loadConfig } from "../../runtime/config/load.js";
import { Routes } from "../../runtime/control/routes.js";
import { Metrics } from "../../runtime/metrics.js";
import { Pipeline, type PipelineOptions } from "../../runtime/pipeline/index.js";
import { Measurements, type Sink } from "../../runtime/contracts.js";
import { openDatabase } from "../../runtime/store/db.js";
import { tempDir } from "../../peers/process.js";

export interface Collector extends Sink {
  events: Event[];
  /** While stalled, accept() does not resolve. */
  stall(): void;
  resume(): void;
  /** Make accept() reject (a failing sink). */
  failing: boolean;
}

export function collector(): Collector {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const c: Collector = {
    events: [],
    failing: false,
    async accept(batch) {
      while (gate) await gate;
      if (c.failing) throw new Error("sink failing (test)");
      c.events.push(...batch);
    },
    stall() {
      gate ??= new Promise((r) => (open = r));
    },
    resume() {
      gate = undefined;
      open?.();
    },
  };
  return c;
}

/** What the rig built the pipeline with. */
export interface RigParts {
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  routes: Routes;
  db: Database.Database;
  measurements: Measurements;
}

export interface Rig {
  p: Pipeline;
  s: RigParts;
  dir: string;
  configFile: string;
  sinks: Map<string, Collector>;
  sink(name: string): Collector;
  cleanup(): Promise<void>;
}

// the rig runs no drivers (tests hand events to the pipeline as driver "gen"), but the config names it: a source from a driver that does not exist is a config error
export const BASE = `gateway: { id: test-gw }\ndrivers:\n  - sim: { name: gen }\n`;

export async function makeRig(yaml: string, opts: { clock?: Clock; dir?: string; real?: string[]; tickMs?: number; models?: PipelineOptions["models"] } = {}): Promise<Rig> {
  const td = opts.dir ? { dir: opts.dir, cleanup() {} } : tempDir("ridge-pipe-");
  const configFile = join(td.dir, "gateway.yaml");
  writeFileSync(configFile, yaml);
  const loaded = loadConfig({ file: configFile, board: "sim", data: td.dir });
  const sinks = new Map<string, Collector>();
  const sink = (name: string) => {
    let c = sinks.get(name);
    if (!c) sinks.set(name, (c = collector()));
    return c;
  };
  const s: RigParts = { clock: opts.clock ?? systemClock, log: pino({ level: "silent" }), metrics: new Metrics(false), routes: new Routes(), db: openDatabase(td.dir), measurements: new Measurements() };
  const p = new Pipeline({
    ...s,
    config: loaded.config.pipeline,
    devices: loaded.config.devices,
    loadConfig: (text) => loadConfig({ file: text === undefined ? configFile : undefined, text, board: "sim", data: td.dir }).config.pipeline,
    configFile,
    dataDir: td.dir,
    gatewayId: loaded.config.gateway.id,
    uplink: () => sink("uplink"),
    sinkOverride: (name) => (opts.real?.includes(name) ? undefined : sink(name)),
    ...(opts.tickMs ? { tickMs: opts.tickMs } : {}),
    ...(opts.models ? { models: opts.models } : {}),
  });
  return {
    p,
    s,
    dir: td.dir,
    configFile,
    sinks,
    sink,
    async cleanup() {
      for (const c of sinks.values()) c.resume();
      await p.stop().catch(() => undefined);
      s.db.close();
      td.cleanup();
    },
  };
}

/** An event for device `d` with sequence `n` at time `ts`. */
export function ev(d: string, n: number, ts: number, payload: Record<string, unknown> = {}, kind = "telemetry"): Event {
  return { id: `${d}/${n}`, ts, device: d, kind, payload };
}

export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
