/**
 * One running topology: sources matching ingested events, operators in topological order, each
 * consuming from its bounded inbox, and sink runners. Processing is synchronous per batch and runs
 * from a microtask after the ingesting callback (then from `setImmediate` once a pump's budget is
 * spent), so a topology swap or a checkpoint always sees a consistent cut: every event is in
 * exactly one inbox, in a sink's in-flight batch, or folded into operator state.
 *
 * Backpressure (`block`): an operator runs only while every `block` inbox it feeds has room, and a
 * batch is cut to that room; when a sink stalls its inbox fills, then its producers', and finally
 * `ingest` returns false (drivers slow down). Drop policies count every drop.
 */
import { createHash } from "node:crypto";
import { canonicalJson, type Clock, type Event } from "../../core/index.js";
import type { OperatorConfig, PipelineConfig, SinkConfig, SourceConfig } from "./config.js";
import { Inbox } from "./inbox.js";
import { newOutputs, type Envelope, type Operator, type Outputs } from "./operator.js";
import type { SinkRunner } from "./sink-runner.js";
import type { PipelineStats } from "./stats.js";

const BATCH = 512;
/** Events per operator in one scheduled pass (then the sinks are fed). */
const SLICE = 128;
/** Events processed from microtasks before yielding to I/O. */
const PUMP_BUDGET = 16_384;

export interface OpNode {
  name: string;
  hash: string;
  kind: OperatorConfig["kind"];
  op: Operator;
  inbox: Inbox;
  main: Inbox[];
  late: Inbox[];
  ports: Map<string, Inbox>;
  /** Every `block` inbox this node feeds. */
  blocking: Inbox[];
  busy: Promise<void> | undefined;
  inflight: Envelope[] | undefined;
}

interface DriverSource {
  name: string;
  from: Set<string> | undefined;
  device: ((d: string) => boolean) | undefined;
  kind: Set<string> | undefined;
  targets: Inbox[];
}

export interface EngineParts {
  config: PipelineConfig;
  clock: Clock;
  stats: PipelineStats;
  /** Build (or hand over, on reload) the operator for a definition. */
  operator(name: string, def: OperatorConfig, hash: string): Operator;
  /** Build (or hand over) the runner for a sink. */
  sink(name: string, def: SinkConfig, hash: string): SinkRunner;
  /** The driver that owns a configured device (fallback when ingest is not told). */
  deviceDriver(device: string): string | undefined;
  onError(err: unknown, where: string): void;
}

export function definitionHash(def: unknown): string {
  return createHash("sha256").update(canonicalJson(def, { numbers: "finite" })).digest("hex").slice(0, 16);
}

export function operatorHash(def: OperatorConfig): string {
  const { input: _i, edge: _e, ...rest } = def;
  return definitionHash(rest);
}

export function sinkHash(def: SinkConfig): string {
  const { input: _i, edge: _e, ...rest } = def;
  return definitionHash(rest);
}

function globMatcher(patterns: string[]): (s: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes("*")));
  const res = patterns.filter((p) => p.includes("*")).map((p) => new RegExp(`^${p.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`));
  return (s) => exact.has(s) || res.some((r) => r.test(s));
}

export class Engine {
  readonly ops: OpNode[] = [];
  readonly sinks = new Map<string, SinkRunner>();
  private readonly driverSources: DriverSource[] = [];
  /** http (and other pushed) sources by name → the inboxes they feed. */
  readonly pushSources = new Map<string, Inbox[]>();
  /** The `block` inboxes fed straight from ingest. */
  private readonly ingestBlocking = new Set<Inbox>();
  private scheduled = false;
  /** Events moved by the current chain of microtask slices. */
  private spent = 0;
  private stopped = false;
  /** Events are taken (queued) before `begin()`, but nothing runs until then. */
  private begun = false;
  private waiters: (() => void)[] = [];
  private readonly clock: Clock;
  private readonly stats: PipelineStats;

  constructor(private readonly parts: EngineParts) {
    this.clock = parts.clock;
    this.stats = parts.stats;
    const cfg = parts.config;
    const inboxes = new Map<string, Inbox>();
    for (const [name, def] of Object.entries(cfg.operators)) inboxes.set(name, new Inbox(name, def.edge.capacity, def.edge.policy));
    for (const [name, def] of Object.entries(cfg.sinks)) {
      const runner = parts.sink(name, def, sinkHash(def));
      this.sinks.set(name, runner);
      inboxes.set(name, runner.inbox);
    }
    // who reads each output: "<name>" or "<name>.late"
    const readers = new Map<string, Inbox[]>();
    const addReader = (ref: string, ib: Inbox) => {
      const l = readers.get(ref) ?? [];
      if (!l.includes(ib)) l.push(ib);
      readers.set(ref, l);
    };
    for (const [name, def] of Object.entries(cfg.operators)) for (const r of def.input) addReader(r, inboxes.get(name)!);
    for (const [name, def] of Object.entries(cfg.sinks)) for (const r of def.input) addReader(r, inboxes.get(name)!);

    for (const [name, def] of Object.entries(cfg.sources) as [string, SourceConfig][]) {
      const targets = readers.get(name) ?? [];
      for (const t of targets) if (t.policy === "block") this.ingestBlocking.add(t);
      if (def.http) this.pushSources.set(name, targets);
      else
        this.driverSources.push({
          name,
          from: def.from ? new Set(def.from) : undefined,
          device: def.device ? globMatcher(def.device) : undefined,
          kind: def.kind ? new Set(def.kind) : undefined,
          targets,
        });
    }
    for (const name of topoOrder(cfg)) {
      const def = cfg.operators[name]!;
      const hash = operatorHash(def);
      const ports = new Map<string, Inbox>();
      if (def.kind === "route") for (const c of def.spec) for (const t of c.to) ports.set(t, inboxes.get(t)!);
      const main = readers.get(name) ?? [];
      const late = readers.get(`${name}.late`) ?? [];
      const blocking = [...new Set([...main, ...late, ...ports.values()])].filter((i) => i.policy === "block");
      this.ops.push({ name, hash, kind: def.kind, op: parts.operator(name, def, hash), inbox: inboxes.get(name)!, main, late, ports, blocking, busy: undefined, inflight: undefined });
      parts.stats.node(name);
    }
  }

  /** Hand one event to the matching sources. False: slow down (a `block` inbox is full). */
  ingest(e: Event, driver?: string): boolean {
    const env: Envelope = { e, t: this.clock.monotonic() };
    let matched = false;
    let ok = true;
    const drv = driver ?? e.meta?.driver ?? this.parts.deviceDriver(e.device);
    for (let i = 0; i < this.driverSources.length; i++) {
      const s = this.driverSources[i]!;
      // an event whose driver is unknown passes `from` (the gateway names it when it can)
      if (s.from && drv !== undefined && !s.from.has(drv)) continue;
      if (s.kind && !s.kind.has(e.kind)) continue;
      if (s.device && !s.device(e.device)) continue;
      matched = true;
      if (!this.offer(s.name, s.targets, env)) ok = false;
    }
    this.stats.ingested++;
    if (!matched) this.stats.unmatched++;
    this.schedule();
    return ok;
  }

  /** Hand events from a pushed source (http). */
  ingestFrom(source: string, events: Event[]): boolean {
    const targets = this.pushSources.get(source) ?? [];
    const t = this.clock.monotonic();
    let ok = true;
    // a request was admitted whole (accepting() before, bounded by maxBody): no hard cap, nothing refused after a 202
    for (const e of events) if (!this.offer(source, targets, { e, t }, false)) ok = false;
    this.stats.ingested += events.length;
    if (targets.length === 0) this.stats.unmatched += events.length;
    this.schedule();
    return ok;
  }

  /** Would a pushed source's events be taken without pushing back? */
  accepting(source: string): boolean {
    return (this.pushSources.get(source) ?? []).every((i) => i.policy !== "block" || !i.full);
  }

  private offer(from: string, targets: Inbox[], env: Envelope, hardCap = true): boolean {
    let ok = true;
    for (let j = 0; j < targets.length; j++) {
      const ib = targets[j]!;
      if (ib.policy === "block") {
        if (hardCap && ib.length >= ib.capacity * 2) {
          // the producer ignored backpressure: refuse rather than grow without bound
          this.stats.overflow++;
          this.stats.drop(from, ib.name, 1);
          ok = false;
          continue;
        }
        ib.push(env);
        if (ib.length >= ib.capacity) ok = false;
      } else {
        const before = ib.dropped;
        ib.push(env);
        if (ib.dropped !== before) this.stats.drop(from, ib.name, 1);
      }
    }
    return ok;
  }

  /** True when ingest would accept without pushing back. */
  accepts(): boolean {
    for (const ib of this.ingestBlocking) if (ib.full) return false;
    return true;
  }

  drained(): Promise<void> {
    if (this.accepts() || this.stopped) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** Start processing (the component started, or a reload swapped this engine in). */
  begin(): void {
    this.begun = true;
    this.schedule();
  }

  /**
   * Run the pump once the current callback returns. Scheduled work runs from microtasks in slices
   * of one pass (at most SLICE events per operator, the sinks kicked after each), so events a
   * driver callback ingested reach the sinks before the loop moves on: a V8 GC task or other I/O
   * callbacks between ingest and processing would otherwise add their whole duration to every
   * queued event's latency, and a window result would wait for the whole burst behind it. A sink's
   * acknowledgement (a microtask queued by the kick) runs before the next slice, so each slice's
   * results are delivered at once. After PUMP_BUDGET events the chain continues from `setImmediate`,
   * so a long burst never holds the loop away from I/O.
   */
  schedule(): void {
    if (this.scheduled || this.stopped || !this.begun) return;
    this.scheduled = true;
    queueMicrotask(this.runSlice);
  }

  private readonly runSlice = (): void => {
    this.scheduled = false;
    if (this.stopped || !this.begun) return;
    const moved = this.pump(1, false, SLICE);
    if (moved === 0) {
      this.spent = 0;
      return;
    }
    this.spent += moved;
    if (this.spent < PUMP_BUDGET) return this.schedule();
    this.scheduled = true;
    setImmediate(this.runYielded);
  };

  private readonly runYielded = (): void => {
    this.spent = 0;
    this.runSlice();
  };

  /**
   * Run operators until nothing can move or `budget` events were taken (whole passes: every
   * operator gets its turn in a pass), then feed the sinks. Returns the events taken.
   */
  pump(budget = PUMP_BUDGET, ignoreBlock = false, batchSize = BATCH): number {
    if (this.stopped || (!this.begun && !ignoreBlock)) return 0;
    let progress = true;
    let moved = 0;
    const now = this.clock.now();
    while (progress && moved < budget) {
      progress = false;
      for (const node of this.ops) {
        if (node.busy || node.inbox.length === 0) continue;
        let room = batchSize;
        if (!ignoreBlock) for (const ib of node.blocking) room = Math.min(room, ib.room());
        if (room <= 0) continue;
        const batch = node.inbox.take(Math.min(room, node.inbox.length));
        this.runBatch(node, batch, now);
        progress = true;
        moved += batch.length;
      }
    }
    for (const r of this.sinks.values()) r.kick();
    this.resolveWaiters();
    return moved;
  }

  private runBatch(node: OpNode, batch: Envelope[], now: number): void {
    const st = this.stats.node(node.name);
    const out = newOutputs();
    const d0 = node.op.dropped;
    const l0 = node.op.late;
    const t0 = performance.now();
    let r: void | Promise<void>;
    try {
      r = node.op.process(batch, out, now);
    } catch (err) {
      this.parts.onError(err, node.name);
      r = undefined;
    }
    st.in += batch.length;
    if (r && typeof (r as Promise<void>).then === "function") {
      node.inflight = batch;
      node.busy = (r as Promise<void>)
        .catch((err: unknown) => this.parts.onError(err, node.name))
        .then(() => {
          node.busy = undefined;
          node.inflight = undefined;
          st.busyMs += performance.now() - t0;
          st.batches++;
          this.finish(node, st, out, d0, l0);
          this.schedule();
        });
      return;
    }
    st.busyMs += performance.now() - t0;
    st.batches++;
    this.finish(node, st, out, d0, l0);
  }

  private finish(node: OpNode, st: { out: number; dropped: number; late: number }, out: Outputs, d0: number, l0: number): void {
    st.dropped += node.op.dropped - d0;
    st.late += node.op.late - l0;
    this.deliver(node, out);
    st.out += out.main.length + out.late.length;
    for (const p of out.ports.values()) st.out += p.length;
  }

  private deliver(node: OpNode, out: Outputs): void {
    // a single reader may take the output array itself (no copy); shared arrays are copied
    if (out.main.length) for (const ib of node.main) this.pushCounted(node.name, ib, out.main, node.main.length === 1);
    if (out.late.length) for (const ib of node.late) this.pushCounted(`${node.name}.late`, ib, out.late, node.late.length === 1);
    for (const [t, envs] of out.ports) {
      const ib = node.ports.get(t);
      if (ib) this.pushCounted(node.name, ib, envs);
    }
  }

  private pushCounted(from: string, ib: Inbox, envs: Envelope[], adopt = false): void {
    const before = ib.dropped;
    ib.pushAll(envs, adopt);
    if (ib.dropped !== before) this.stats.drop(from, ib.name, ib.dropped - before);
  }

  private resolveWaiters(): void {
    if (this.waiters.length === 0 || !this.accepts()) return;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  /** Processing-time housekeeping of every operator (idle watermarks). */
  tick(): void {
    const now = this.clock.now();
    const t = this.clock.monotonic();
    for (const node of this.ops) {
      if (!node.op.tick) continue;
      const out = newOutputs();
      try {
        node.op.tick(now, out);
      } catch (err) {
        this.parts.onError(err, node.name);
      }
      for (const e of out.main) e.t = t;
      const st = this.stats.node(node.name);
      st.out += out.main.length;
      this.deliver(node, out);
    }
    this.schedule();
  }

  /**
   * Move every event out of operator inboxes (ignoring `block`, since this is bounded by what is
   * queued), waiting for async operators. Afterwards only sink inboxes hold events.
   */
  async drainOperators(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      const busy = this.ops.map((n) => n.busy).filter((b): b is Promise<void> => b !== undefined);
      if (busy.length) {
        await Promise.all(busy);
        continue;
      }
      this.pump(Number.MAX_SAFE_INTEGER, true);
      if (this.ops.every((n) => n.inbox.length === 0 && !n.busy)) return;
    }
  }

  /** True when no operator holds queued or in-flight events. */
  operatorsQuiet(): boolean {
    return this.ops.every((n) => n.inbox.length === 0 && !n.busy);
  }

  /** A consistent copy of operator state and every queued or unacknowledged event. */
  snapshot(): { ops: { name: string; hash: string; state: unknown }[]; queued: { name: string; events: Event[] }[] } {
    const ops = this.ops.filter((n) => n.op.snapshot).map((n) => ({ name: n.name, hash: n.hash, state: n.op.snapshot!() }));
    const queued: { name: string; events: Event[] }[] = [];
    for (const n of this.ops) {
      const evs = [...(n.inflight ?? []), ...n.inbox.peekAll()].map((x) => x.e);
      if (evs.length) queued.push({ name: n.name, events: evs });
    }
    for (const [name, r] of this.sinks) {
      const evs = r.pending().map((x) => x.e);
      if (evs.length) queued.push({ name, events: evs });
    }
    return { ops, queued };
  }

  /** Put restored events back into the inbox of the node that had them. */
  requeue(name: string, events: Event[]): boolean {
    const t = this.clock.monotonic();
    const envs = events.map((e) => ({ e, t }));
    const node = this.ops.find((n) => n.name === name);
    if (node) node.inbox.unshiftAll(envs);
    else {
      const sink = this.sinks.get(name);
      if (!sink) return false;
      sink.inbox.unshiftAll(envs);
    }
    this.schedule();
    return true;
  }

  stop(): void {
    this.stopped = true;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  depths(): Record<string, number> {
    const d: Record<string, number> = {};
    for (const n of this.ops) d[n.name] = n.inbox.length;
    for (const [name, r] of this.sinks) d[name] = r.inbox.length + (r.inflight?.length ?? 0);
    return d;
  }
}

/** Operators in an order where every operator comes after those it reads from. */
function topoOrder(cfg: PipelineConfig): string[] {
  const deps = new Map<string, Set<string>>();
  for (const [name, def] of Object.entries(cfg.operators)) {
    const d = deps.get(name) ?? new Set<string>();
    for (const r of def.input) {
      const base = r.split(".")[0]!;
      if (base in cfg.operators) d.add(base);
    }
    deps.set(name, d);
    if (def.kind === "route")
      for (const c of def.spec)
        for (const t of c.to)
          if (t in cfg.operators) {
            const td = deps.get(t) ?? new Set<string>();
            td.add(name);
            deps.set(t, td);
          }
  }
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (n: string, path: Set<string>) => {
    if (seen.has(n) || path.has(n)) return;
    path.add(n);
    for (const d of deps.get(n) ?? []) visit(d, path);
    path.delete(n);
    seen.add(n);
    out.push(n);
  };
  for (const n of Object.keys(cfg.operators)) visit(n, new Set());
  return out;
}
