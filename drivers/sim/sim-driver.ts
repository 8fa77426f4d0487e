/**
 * Simulated devices: a load source for `npm start`, tests and benchmarks. Emits `rateHz` readings
 * per device per second in small ticks, with occasional out-of-order and duplicate events, and
 * slows down when the pipeline pushes back (emit → false).
 */
import { SeededRandom, type Timer, type Driver, type DriverContext, type DriverHealth, type Event } from "../../core/index.js";
import type { SimDriverConfig } from "./config.js";
import { TrailTracker, signalValue } from "./trail.js";

const TICK_MS = 10;

export class SimDriver implements Driver {
  readonly name: string;
  private ctx: DriverContext | undefined;
  private timer: Timer | undefined;
  private running = false;
  private readonly rnd: SeededRandom;
  private trackers: TrailTracker[] = [];
  private signalState: number[][] = [];
  private seq: number[] = [];
  private next = 0; // round-robin device cursor
  private credit = 0; // fractional events owed
  private lastTick = 0;
  private held: { at: number; event: Event }[] = []; // delayed (out-of-order) events
  private emitted = 0;
  private paused = 0;
  private epoch = "";

  constructor(readonly config: SimDriverConfig) {
    this.name = config.name;
    this.rnd = new SeededRandom(config.seed);
  }

  async start(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    // A per-run epoch keeps event ids unique across restarts without persisting a counter.
    this.epoch = ctx.clock.now().toString(36);
    const n = this.config.devices;
    this.trackers = Array.from({ length: n }, (_, i) => new TrailTracker(new SeededRandom(this.config.seed * 1_000_003 + i)));
    this.signalState = Array.from({ length: n }, () => this.config.signals.map((s) => s.min));
    this.seq = new Array<number>(n).fill(0);
    this.running = true;
    this.lastTick = ctx.clock.monotonic();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  health(): DriverHealth {
    return { up: this.running, ...(this.running ? {} : { detail: "stopped" }) };
  }

  status(): Record<string, unknown> {
    return { devices: this.config.devices, rateHz: this.config.rateHz, emitted: this.emitted, pausedByBackpressure: this.paused };
  }

  private schedule(): void {
    if (!this.running || !this.ctx) return;
    this.timer = this.ctx.clock.setTimeout(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    const ctx = this.ctx;
    if (!this.running || !ctx) return;
    const now = ctx.clock.monotonic();
    const dt = Math.min(1000, now - this.lastTick);
    this.lastTick = now;
    this.credit += (dt / 1000) * this.config.devices * this.config.rateHz;
    let ok = true;
    while (this.credit >= 1 && ok) {
      this.credit -= 1;
      ok = this.produce(ctx);
    }
    if (!ok) {
      // Backpressure: owe nothing for the time we are held back (the devices "slow down").
      this.paused++;
      this.credit = 0;
      void ctx.drained().then(() => {
        this.lastTick = ctx.clock.monotonic();
        this.schedule();
      });
      return;
    }
    this.schedule();
  }

  private produce(ctx: DriverContext): boolean {
    const i = this.next;
    this.next = (this.next + 1) % this.config.devices;
    const device = `${this.config.prefix}${i + 1}`;
    const seq = ++this.seq[i]!;
    const ts = ctx.clock.now();
    const dtSec = 1 / this.config.rateHz;
    let payload: Record<string, unknown>;
    if (this.config.scenario === "trail") payload = { ...this.trackers[i]!.step(dtSec, this.config.outliers) };
    else {
      const st = this.signalState[i]!;
      payload = {};
      this.config.signals.forEach((s, k) => {
        st[k] = signalValue(s.shape, ts, s.period, s.min, s.max, st[k]!, this.rnd);
        payload[s.field] = Math.round(st[k]! * 1000) / 1000;
      });
    }
    const event: Event = { id: `${device}/${this.epoch}-${seq}`, ts, device, kind: "telemetry", payload };
    let ok = true;
    // Release events held back earlier: they arrive after newer ones (out of order, up to 2 s late).
    while (this.held.length && this.held[0]!.at <= ts) ok = this.send(ctx, this.held.shift()!.event) && ok;
    if (this.rnd.next() < this.config.outOfOrder && this.held.length < 256) {
      const at = ts + 100 + Math.floor(this.rnd.next() * 1900);
      this.held.push({ at, event });
      this.held.sort((a, b) => a.at - b.at);
      return ok;
    }
    ok = this.send(ctx, event) && ok;
    if (this.rnd.next() < this.config.duplicates) ok = this.send(ctx, event) && ok;
    return ok;
  }

  private send(ctx: DriverContext, e: Event): boolean {
    this.emitted++;
    return ctx.emit(e);
  }
}
