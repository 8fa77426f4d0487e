/**
 * Builds engines and hands state over between them. On a reload, operators whose definition is
 * unchanged are handed over as they are (open windows, dedup sets, watermarks), sinks likewise with
 * their queues; changed or removed sinks retire: they finish what they were given, then close. At
 * start, operator state and queued events come back from the last checkpoint.
 */
import { errorMessage, type Clock, type Event, type Logger } from "../../core/index.js";
import type { CheckpointStore } from "./checkpoint-store.js";
import type { PipelineConfig } from "./config.js";
import { Engine } from "./engine.js";
import { Inbox } from "./inbox.js";
import type { NodeFactory } from "./node-factory.js";
import type { Carry } from "./operator.js";
import { SinkRunner } from "./sink-runner.js";
import type { PipelineStats } from "./stats.js";

export type Checkpoint = ReturnType<CheckpointStore["load"]>;
export type Snapshot = ReturnType<Engine["snapshot"]>;

/** What a build kept, built anew, carried over from a changed definition, or lost (the reload's answer). */
export interface BuildReport {
  kept: string[];
  rebuilt: string[];
  /** Changed operators that took over their predecessor's state; `fresh`: parts that start empty. */
  carried: { operator: string; fresh: string[] }[];
  /** Changed operators whose state could not carry over, and why. */
  lost: { operator: string; reason: string }[];
}

export interface TopologyOptions {
  factory: NodeFactory;
  clock: Clock;
  log: Logger;
  stats: PipelineStats;
  /** The driver a configured device belongs to (for `from:` sources). */
  deviceDriver(device: string): string | undefined;
  /** The running engine (a sink runner wakes it when it has room again). */
  current(): Engine;
}

export class Topology {
  private readonly runners = new Map<string, SinkRunner>();
  /** Sink runners replaced or removed by a reload, until they have delivered what they hold. */
  private readonly retiring = new Set<SinkRunner>();
  /** What the last build kept and built anew (the reload's answer). */
  lastBuild: BuildReport = { kept: [], rebuilt: [], carried: [], lost: [] };

  constructor(private readonly o: TopologyOptions) {}

  /** Build an engine; hand over operators and sinks from `prev` whose definitions are unchanged. */
  build(cfg: PipelineConfig, prev: Engine | undefined, restore?: Checkpoint): Engine {
    const o = this.o;
    const prevOps = new Map(prev?.ops.map((n) => [n.name, n]));
    const restored = new Map(restore?.ops.map((op) => [op.name, op]));
    const used = new Set<string>();
    const kept: string[] = [];
    const rebuilt: string[] = [];
    const carried: BuildReport["carried"] = [];
    const lost: BuildReport["lost"] = [];
    const engine = new Engine({
      config: cfg,
      clock: o.clock,
      stats: o.stats,
      deviceDriver: (d) => o.deviceDriver(d),
      onError: (err, where) => o.log.error({ node: where, err: errorMessage(err) }, "pipeline operator failed on a batch"),
      operator: (name, def, hash) => {
        const p = prevOps.get(name);
        if (p && p.hash === hash) {
          kept.push(name);
          return p.op;
        }
        rebuilt.push(name);
        const op = o.factory.operator(name, def);
        if (p && p.kind === def.kind && p.op.snapshot) {
          // changed, not removed: its state goes over where the change allows, or the answer says it is lost
          const c: Carry = op.carryFrom ? op.carryFrom(p.op) : { ok: false, reason: "its definition changed" };
          if (c.ok) carried.push({ operator: name, fresh: c.fresh });
          else lost.push({ operator: name, reason: c.reason });
          return op;
        }
        if (p && p.op.snapshot) lost.push({ operator: name, reason: `its kind changed (${p.kind} → ${def.kind})` });
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
        const runner = new SinkRunner(name, hash, new Inbox(name, def.edge.capacity, def.edge.policy), o.factory.sink(name, def), def.batch, {
          clock: o.clock,
          stats: o.stats,
          log: o.log,
          wake: () => o.current().schedule(),
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
    if (restore) for (const q of restore.queued) if (!engine.requeue(q.name, q.events)) o.log.warn({ node: q.name, events: q.events.length }, "checkpointed events for a node that no longer exists were dropped");
    this.lastBuild = { kept, rebuilt, carried, lost };
    return engine;
  }

  private retire(r: SinkRunner): void {
    this.retiring.add(r);
    r.kick();
    void r.idle().then(() => {
      this.retiring.delete(r);
      return r.close();
    });
  }

  /**
   * A replaced sink still delivering what it was given: its events are checkpointed too, under the
   * sink's name and ahead of what the sink's current definition holds (they came first).
   */
  addRetiring(snap: Snapshot): Snapshot {
    for (const r of [...this.retiring].reverse()) {
      // newest first: each is put ahead of the later ones
      const events: Event[] = r.pending().map((x) => x.e);
      if (events.length === 0) continue;
      const q = snap.queued.find((x) => x.name === r.name);
      if (q) q.events = [...events, ...q.events];
      else snap.queued.push({ name: r.name, events });
    }
    return snap;
  }

  failing(): string[] {
    return [...this.runners.values()].filter((r) => r.failing()).map((r) => r.name);
  }

  /** Give sinks up to `ms` to take what is queued (whatever is left is checkpointed by the caller). */
  async idle(ms: number): Promise<void> {
    await Promise.race([Promise.all([...this.runners.values()].map((r) => r.idle())), new Promise((r) => setTimeout(r, ms))]);
  }

  async close(): Promise<void> {
    for (const r of this.runners.values()) await r.close();
  }
}
