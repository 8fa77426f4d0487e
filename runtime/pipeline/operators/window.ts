/**
 * `window`: tumbling, sliding (hop) and session windows over event time, keyed by device or any
 * expression, with per-key watermarks.
 *
 * - Watermark of a key = max event time seen for it − the out-of-orderness bound. The bound is
 *   fixed, or `auto`: the chosen quantile (p99) of observed lateness (how far behind the key's
 *   newest event an event arrives), clamped to [floor, cap]; until 100 samples it is the cap.
 * - A key quiet for `idle` (processing time) has its watermark advanced with the clock, so its
 *   last windows still close when a device goes silent.
 * - A window fires once the watermark passes its end, then re-emits (same id, higher `emission`)
 *   for each event that still arrives within the allowed lateness; after that it is purged.
 * - An event is late for a window when window end + lateness <= the key's watermark before it
 *   arrived (sessions: event time + lateness <= watermark). An event late for any of its windows
 *   goes to the `late` side output; it is still counted in the windows it is not late for.
 * - A result's id is `<operator>/<key>/<start>-<end>`: a re-emission after a crash dedups downstream.
 */
import type { Event } from "../../../core/index.js";
import { aggregateInput, makeAccumulator, type Accumulator } from "../accumulator.js";
import { compileAggregate, compileExpression, type AggregateSpec, type Compiled } from "../expression.js";
import type { Carry, Envelope, Operator, Outputs } from "../operator.js";
import { QuantileSketch, type SketchState } from "../quantile-sketch.js";
import { IndexTable, keyHash } from "../index-table.js";
import type { WindowSpec } from "../config.js";

interface Win {
  start: number;
  end: number;
  accs: Accumulator[];
  fired: boolean;
  dirty: boolean;
  emits: number;
}

interface KeyState {
  key: string;
  device: string;
  maxTs: number;
  wm: number;
  lastSeen: number;
  wins: Win[];
  /** When settle() has work: the earliest end of an unfired window, the earliest purge, a fired window updated. */
  nextFire: number;
  nextPurge: number;
  dirtyFired: boolean;
}

type WinState = [start: number, end: number, fired: boolean, emits: number, accs: unknown[]];
type KeyStateJson = [key: string, device: string, maxTs: number | null, wm: number | null, lastSeen: number, wins: WinState[]];
interface WindowSnapshot {
  keys: KeyStateJson[];
  lateness: SketchState;
  bound: number;
  since: number;
}

const AUTO_MIN_SAMPLES = 100;
const SPARE_WINDOWS = 65_536;
const AUTO_RECOMPUTE_EVERY = 1024;
const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

export class WindowOperator implements Operator {
  dropped = 0;
  late = 0;
  /** Key states in first-seen order (results and snapshots follow it), their keys and key hashes, indexed. */
  private order: KeyState[] = [];
  private keyOf: string[] = [];
  private hashOf = new Int32Array(64);
  private keys = new IndexTable(64);
  /** Purged window objects, reused by newWin. */
  private spare: Win[] = [];
  private readonly aggs: [name: string, spec: AggregateSpec][];
  private readonly keyFn: Compiled | undefined;
  private readonly lateness: number;
  private readonly auto: { quantile: number; floor: number; cap: number } | undefined;
  private latenessSketch = new QuantileSketch();
  private bound: number;
  private sinceRecompute = 0;

  constructor(
    private readonly name: string,
    private readonly spec: WindowSpec,
    private readonly aggregate: Record<string, string>,
  ) {
    this.aggs = Object.entries(aggregate).map(([n, src]) => [n, compileAggregate(src)]);
    this.keyFn = spec.key.trim() === "device" ? undefined : compileExpression(spec.key).fn;
    this.lateness = spec.lateness;
    const w = spec.watermark;
    if (w === "auto") this.auto = { quantile: 0.99, floor: 0, cap: 60_000 };
    else if (typeof w === "object") this.auto = { quantile: w.quantile, floor: w.floor, cap: w.cap };
    this.bound = this.auto ? this.auto.cap : (w as number);
  }

  /** The current out-of-orderness bound (ms). */
  currentBound(): number {
    return this.bound;
  }

  process(batch: Envelope[], out: Outputs, now: number): void {
    for (let i = 0; i < batch.length; i++) this.one(batch[i]!, out, now);
  }

  private one(env: Envelope, out: Outputs, now: number): void {
    const e = env.e;
    const ts = e.ts;
    if (typeof ts !== "number" || !Number.isFinite(ts)) {
      this.dropped++;
      return;
    }
    const key = this.keyFn ? keyString(this.keyFn(e)) : e.device;
    const h = keyHash(key);
    const p = this.keys.find(key, h, this.keyOf, this.hashOf);
    let ks = p >= 0 ? this.order[this.keys.entry(p)] : undefined;
    if (!ks) {
      ks = { key, device: e.device, maxTs: -Infinity, wm: -Infinity, lastSeen: now, wins: [], nextFire: Infinity, nextPurge: Infinity, dirtyFired: false };
      this.addKey(ks, h, p);
    }
    if (this.auto && ks.maxTs > -Infinity) this.observeLateness(Math.max(0, ks.maxTs - ts));
    const wmBefore = ks.wm;
    const L = this.lateness;
    let late = false;
    const spec = this.spec;
    if (spec.tumbling !== undefined) {
      const size = spec.tumbling;
      const start = Math.floor(ts / size) * size;
      if (start + size + L <= wmBefore) late = true;
      else this.addTo(ks, start, start + size, e);
    } else if (spec.sliding) {
      const { size, hop } = spec.sliding;
      for (let start = Math.floor(ts / hop) * hop; start > ts - size; start -= hop) {
        if (start + size + L <= wmBefore) late = true;
        else this.addTo(ks, start, start + size, e);
      }
    } else {
      if (ts + L <= wmBefore) late = true;
      else this.addToSession(ks, ts, spec.session!.gap, e);
    }
    if (late) {
      this.late++;
      out.late.push(env);
    }
    if (ts > ks.maxTs) ks.maxTs = ts;
    ks.lastSeen = now;
    const target = ks.maxTs - this.bound;
    if (target > ks.wm) ks.wm = target;
    if (ks.dirtyFired || ks.wm >= ks.nextFire || ks.wm >= ks.nextPurge) this.settle(ks, out, env.t);
  }

  private newWin(start: number, end: number): Win {
    const w = this.spare.pop();
    if (w) {
      w.start = start;
      w.end = end;
      w.fired = w.dirty = false;
      w.emits = 0;
      for (const a of w.accs) a.reset();
      return w;
    }
    return { start, end, accs: this.aggs.map(([, s]) => makeAccumulator(s)), fired: false, dirty: false, emits: 0 };
  }

  private addTo(ks: KeyState, start: number, end: number, e: Event): void {
    let w: Win | undefined;
    for (const x of ks.wins) if (x.start === start) w = x;
    if (!w) {
      w = this.newWin(start, end);
      ks.wins.push(w);
      if (end < ks.nextFire) ks.nextFire = end;
    } else if (w.fired) ks.dirtyFired = true;
    this.accumulate(w, e);
  }

  private accumulate(w: Win, e: Event): void {
    const aggs = this.aggs;
    for (let i = 0; i < aggs.length; i++) w.accs[i]!.add(aggregateInput(aggs[i]![1], e), e.ts);
    w.dirty = true;
  }

  private addToSession(ks: KeyState, ts: number, gap: number, e: Event): void {
    const lo = ts;
    const hi = ts + gap;
    const overlapping = ks.wins.filter((w) => w.start < hi && lo < w.end);
    if (overlapping.length === 1 && overlapping[0]!.start <= lo && overlapping[0]!.end >= hi) {
      if (overlapping[0]!.fired) ks.dirtyFired = true;
      this.accumulate(overlapping[0]!, e);
      return;
    }
    let start = lo;
    let end = hi;
    for (const w of overlapping) {
      start = Math.min(start, w.start);
      end = Math.max(end, w.end);
    }
    // merge in start order so that merged accumulators are deterministic
    overlapping.sort((a, b) => a.start - b.start);
    const merged = this.newWin(start, end);
    for (const w of overlapping) for (let i = 0; i < merged.accs.length; i++) merged.accs[i]!.merge(w.accs[i]!);
    ks.wins = ks.wins.filter((w) => !overlapping.includes(w));
    ks.wins.push(merged);
    if (end < ks.nextFire) ks.nextFire = end;
    this.accumulate(merged, e);
  }

  /** Fire windows the watermark has passed, re-emit updated fired windows, purge closed ones. */
  private settle(ks: KeyState, out: Outputs, t: number): void {
    const wm = ks.wm;
    const L = this.lateness;
    let purge = false;
    let nextFire = Infinity;
    let nextPurge = Infinity;
    for (const w of ks.wins) {
      if (w.end <= wm && (!w.fired || w.dirty)) {
        w.fired = true;
        w.dirty = false;
        out.main.push({ e: this.result(ks, w), t });
      }
      if (w.end + L <= wm) purge = true;
      else if (w.fired) nextPurge = Math.min(nextPurge, w.end + L);
      else nextFire = Math.min(nextFire, w.end);
    }
    ks.nextFire = nextFire;
    ks.nextPurge = nextPurge;
    ks.dirtyFired = false;
    if (purge) {
      // in place, keeping purged window objects for reuse: a round of closing windows then
      // allocates nothing that lives until the next round (old-generation promotion, GC pauses)
      const wins = ks.wins;
      let j = 0;
      for (let i = 0; i < wins.length; i++) {
        const w = wins[i]!;
        if (w.end + L > wm) wins[j++] = w;
        else if (this.spare.length < SPARE_WINDOWS) this.spare.push(w);
      }
      wins.length = j;
    }
  }

  private result(ks: KeyState, w: Win): Event {
    w.emits++;
    const payload: Record<string, unknown> = { window_start: w.start, window_end: w.end };
    for (let i = 0; i < this.aggs.length; i++) payload[this.aggs[i]![0]] = w.accs[i]!.result();
    return {
      id: `${this.name}/${ks.key}/${w.start}-${w.end}`,
      ts: w.start,
      device: ks.device,
      kind: this.spec.kind,
      payload,
      meta: { window: this.name, key: ks.key, emission: String(w.emits) },
    };
  }

  private observeLateness(ms: number): void {
    this.latenessSketch.add(ms);
    if (++this.sinceRecompute >= AUTO_RECOMPUTE_EVERY || this.latenessSketch.count === AUTO_MIN_SAMPLES) this.recomputeBound();
  }

  private recomputeBound(): void {
    const a = this.auto!;
    this.sinceRecompute = 0;
    if (this.latenessSketch.count < AUTO_MIN_SAMPLES) return;
    const q = this.latenessSketch.quantile(a.quantile) ?? a.cap;
    this.bound = Math.round(Math.min(a.cap, Math.max(a.floor, q)));
  }

  /** Idle keys: advance the watermark with processing time so quiet devices' windows still close. */
  tick(now: number, out: Outputs, t = 0): void {
    const idle = this.spec.idle;
    const gone = new Set<KeyState>();
    for (const ks of this.order) {
      const quiet = now - ks.lastSeen;
      if (quiet < idle) continue;
      if (ks.wins.length === 0) {
        if (quiet > idle * 10) gone.add(ks);
        continue;
      }
      const target = ks.maxTs - this.bound + quiet;
      if (target > ks.wm) {
        ks.wm = target;
        this.settle(ks, out, t);
      }
    }
    if (gone.size) this.reindex(this.order.filter((ks) => !gone.has(ks)));
  }

  /** Fire every open window (end of a bounded stream; tests and `drain`). */
  flushAll(out: Outputs, t = 0): void {
    for (const ks of this.order) {
      ks.wm = Infinity;
      this.settle(ks, out, t);
    }
  }

  /** Append a new key state; `p`: where `find` said its key would go. */
  private addKey(ks: KeyState, h: number, p: number): void {
    const i = this.order.length;
    if (i >= this.hashOf.length) {
      this.order.push(ks);
      this.reindex(this.order);
      return;
    }
    this.order.push(ks);
    this.keyOf.push(ks.key);
    this.hashOf[i] = h;
    this.keys.put(p, i, h);
  }

  private reindex(order: KeyState[]): void {
    let cap = 64;
    while (cap < order.length * 2) cap *= 2;
    this.order = order;
    this.keyOf = order.map((ks) => ks.key);
    this.hashOf = new Int32Array(cap);
    this.keys = new IndexTable(cap);
    for (let i = 0; i < order.length; i++) {
      const h = (this.hashOf[i] = keyHash(this.keyOf[i]!));
      this.keys.insert(i, h);
    }
  }

  watermark(key: string): number | undefined {
    const p = this.keys.find(key, keyHash(key), this.keyOf, this.hashOf);
    return p >= 0 ? this.order[this.keys.entry(p)]!.wm : undefined;
  }

  snapshot(): WindowSnapshot {
    const keys: KeyStateJson[] = [];
    for (const ks of this.order)
      keys.push([ks.key, ks.device, num(ks.maxTs), num(ks.wm), ks.lastSeen, ks.wins.map((w) => [w.start, w.end, w.fired, w.emits, w.accs.map((a) => a.state())])]);
    return { keys, lateness: this.latenessSketch.toJSON(), bound: this.bound, since: this.sinceRecompute };
  }

  /**
   * A reload changed this window's definition. Open windows carry over when its shape (tumbling,
   * sliding, session sizes) and key are the same: watermark, lateness, idle and result kind may
   * change; aggregates of the same name and source keep their state; a new or changed one starts
   * with this reload's events (`fresh`). Otherwise the windows are lost, and the reload says so.
   */
  carryFrom(prev: Operator): Carry {
    if (!(prev instanceof WindowOperator)) return { ok: false, reason: "it was not a window" };
    const a = prev.spec;
    const b = this.spec;
    if (a.tumbling !== b.tumbling || JSON.stringify(a.sliding) !== JSON.stringify(b.sliding) || JSON.stringify(a.session) !== JSON.stringify(b.session))
      return { ok: false, reason: "its window shape (tumbling, sliding or session size) changed" };
    if (a.key.trim() !== b.key.trim()) return { ok: false, reason: `its key changed (${a.key} → ${b.key})` };
    const at = new Map(prev.aggs.map(([n], i) => [n, i]));
    const fresh: string[] = [];
    const from = this.aggs.map(([n]) => {
      const i = at.get(n);
      if (i === undefined || prev.aggregate[n] !== this.aggregate[n]) {
        fresh.push(n);
        return -1;
      }
      return i;
    });
    const order = prev.order.map((ks) => ({ ...ks, wins: ks.wins.map((w) => ({ ...w, accs: from.map((i, j) => (i >= 0 ? w.accs[i]! : makeAccumulator(this.aggs[j]![1]))) })) }));
    this.reindex(order);
    this.latenessSketch = prev.latenessSketch;
    if (this.auto && prev.auto) this.bound = Math.min(Math.max(prev.bound, this.auto.floor), this.auto.cap);
    this.sinceRecompute = prev.sinceRecompute;
    return { ok: true, fresh };
  }

  restore(state: unknown): void {
    const s = state as WindowSnapshot;
    const order: KeyState[] = [];
    for (const [key, device, maxTs, wm, lastSeen, wins] of s.keys) {
      const ks: KeyState = {
        key,
        device,
        maxTs: maxTs ?? -Infinity,
        wm: wm ?? -Infinity,
        lastSeen,
        nextFire: -Infinity,
        nextPurge: -Infinity,
        dirtyFired: false,
        wins: wins.map(([start, end, fired, emits, accs]) => ({ start, end, fired, emits, dirty: false, accs: this.aggs.map(([, sp], i) => makeAccumulator(sp, accs[i])) })),
      };
      order.push(ks);
    }
    this.reindex(order);
    this.latenessSketch = QuantileSketch.from(s.lateness);
    this.bound = s.bound;
    this.sinceRecompute = s.since;
  }

  status(): Record<string, unknown> {
    let open = 0;
    for (const ks of this.order) open += ks.wins.length;
    return { keys: this.order.length, openWindows: open, boundMs: this.bound };
  }
}

function keyString(v: unknown): string {
  if (v === undefined || v === null) return "null";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}
