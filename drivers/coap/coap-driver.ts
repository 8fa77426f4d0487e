/**
 * Plain CoAP devices: each point is polled with GET or observed (RFC 7641); payloads are decoded
 * into named event fields. Timeouts and errors are counted per device; after `downAfter`
 * consecutive failures the device is reported down (a state event) and retried with exponential
 * backoff and full jitter until it answers again.
 *
 * Backpressure (ctx.emit() → false): polls stretch, the next one starts only once ctx.drained()
 * resolved; observe notifications arriving meanwhile wait in a bounded queue (`backpressureQueue`
 * events, oldest dropped and counted as coap_backpressure_dropped), flushed in order after drained().
 */
import { EmitQueue, fullJitterDelay, isRidgeError, systemClock, systemRandom, RidgeError, errorMessage, type Clock, type Random, type Timer, type Driver, type DriverContext, type DriverHealth, type Event } from "../../core/index.js";
import type { CoapDeviceConfig, CoapDriverConfig, CoapPointConfig } from "./config.js";
import { CoapClientTransport, type CoapResult, type CoapTransport } from "./coap-transport.js";
import { decodePoint } from "./payload-decoder.js";

export interface CoapDriverDeps {
  transport?: CoapTransport;
  random?: Random;
  clock?: Clock;
  /** Events held while the pipeline pushes back (default 1000). */
  backpressureQueue?: number;
}

interface DeviceState {
  cfg: CoapDeviceConfig;
  up: boolean | undefined;
  failures: number;
  attempt: number;
  timers: Set<Timer>;
  observing: Set<string>;
  stats: { requests: number; ok: number; timeouts: number; errors: number; badPayloads: number; notifications: number };
}

export class CoapDriver implements Driver {
  readonly name: string;
  private ctx: DriverContext | undefined;
  private readonly devices: DeviceState[];
  private readonly transport: CoapTransport;
  private readonly random: Random;
  private clock: Clock = systemClock;
  private running = false;
  /** Bumped by every start(): a poll still in flight from before a restart does not reschedule. */
  private run = 0;
  private readonly clockFromDeps: boolean;
  private seq = 0;
  private bootTag = "";
  private readonly out: EmitQueue;

  constructor(
    readonly config: CoapDriverConfig,
    devices: CoapDeviceConfig[],
    deps: CoapDriverDeps = {},
  ) {
    this.name = config.name;
    this.transport = deps.transport ?? new CoapClientTransport();
    this.random = deps.random ?? systemRandom;
    if (deps.clock) this.clock = deps.clock;
    this.devices = devices.map((cfg) => ({ cfg, up: undefined, failures: 0, attempt: 0, timers: new Set(), observing: new Set(), stats: { requests: 0, ok: 0, timeouts: 0, errors: 0, badPayloads: 0, notifications: 0 } }));
    this.clockFromDeps = deps.clock !== undefined;
    this.out = new EmitQueue({
      capacity: deps.backpressureQueue ?? 1000,
      onRefused: () => this.ctx?.count("coap_backpressure_total", { driver: this.name }),
      onDropped: (n) => this.ctx?.count("coap_backpressure_dropped", { driver: this.name }, n),
    });
  }

  async start(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    this.out.open(ctx);
    if (!this.clockFromDeps) this.clock = ctx.clock;
    this.bootTag = this.clock.now().toString(36);
    this.running = true;
    this.run++;
    for (const d of this.devices) {
      if (d.cfg.psk) this.transport.setPsk(new URL(d.cfg.url).hostname, d.cfg.psk.identity, d.cfg.psk.key);
      for (const p of d.cfg.points) {
        if (p.mode === "poll") this.later(d, 0, () => this.poll(d, p));
        else this.later(d, 0, () => this.observe(d, p));
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.out.close();
    for (const d of this.devices) {
      for (const t of d.timers) t.cancel();
      d.timers.clear();
      for (const url of d.observing) this.transport.stopObserving(url);
      d.observing.clear();
      this.transport.reset(d.cfg.url);
    }
  }

  health(): DriverHealth {
    if (!this.running) return { up: false, detail: "not started" };
    const down = this.devices.filter((d) => d.up === false).map((d) => d.cfg.id);
    const held = this.out.pushedBack ? ` (pushed back, ${this.out.size} events held)` : "";
    return down.length ? { up: true, detail: `down: ${down.join(", ")}${held}` } : { up: true, detail: `${this.devices.length} devices${held}` };
  }

  status(): Record<string, unknown> {
    return { pushedBack: this.out.pushedBack, held: this.out.size, devices: Object.fromEntries(this.devices.map((d) => [d.cfg.id, { up: d.up ?? null, failures: d.failures, ...d.stats }])) };
  }

  async write(device: string, point: string): Promise<void> {
    throw new RidgeError("E_COAP_READONLY", `CoAP point ${point} on ${device} is read-only (polled/observed)`);
  }

  private later(d: DeviceState, ms: number, fn: () => void): void {
    if (!this.running) return;
    const t = this.clock.setTimeout(() => {
      d.timers.delete(t);
      if (this.running) fn();
    }, ms);
    d.timers.add(t);
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.clock.setTimeout(() => reject(new RidgeError("E_COAP_TIMEOUT", `no answer in ${this.config.timeout} ms`)), this.config.timeout);
      p.then(
        (v) => (t.cancel(), resolve(v)),
        (e: unknown) => (t.cancel(), reject(e instanceof Error ? e : new Error(String(e)))),
      );
    });
  }

  private backoff(d: DeviceState): number {
    const delay = fullJitterDelay({ base: this.config.backoff.min, cap: this.config.backoff.max }, d.attempt, this.random);
    d.attempt = Math.min(d.attempt + 1, 30);
    // a floor so a device that is down is never hammered
    return Math.max(this.config.backoff.min / 10, delay);
  }

  private nextDelay(d: DeviceState, p: CoapPointConfig): number {
    return d.up === false ? this.backoff(d) : p.every;
  }

  private emit(e: Omit<Event, "id">): void {
    if (!this.ctx || !this.running) return;
    this.out.emit({ id: `${e.device}/${this.bootTag}-${++this.seq}`, ...e });
  }

  private count(d: DeviceState, metric: string, extra: Record<string, string> = {}): void {
    this.ctx?.count(metric, { driver: this.name, device: d.cfg.id, ...extra });
  }

  private markUp(d: DeviceState): void {
    d.failures = 0;
    d.attempt = 0;
    if (d.up !== true) {
      d.up = true;
      this.emit({ ts: this.clock.now(), device: d.cfg.id, kind: "state", payload: { online: true }, meta: { driver: this.name, url: d.cfg.url } });
    }
  }

  private fail(d: DeviceState, p: CoapPointConfig, e: unknown): void {
    const timeout = isRidgeError(e, "E_COAP_TIMEOUT");
    if (timeout) {
      d.stats.timeouts++;
      this.count(d, "coap_timeouts_total");
      // drop the origin's socket and requests instead of letting them retransmit for a minute
      this.transport.reset(d.cfg.url);
    } else {
      d.stats.errors++;
      this.count(d, "coap_errors_total");
    }
    d.failures++;
    if (d.failures >= this.config.downAfter && d.up !== false) {
      d.up = false;
      this.ctx?.log.warn({ device: d.cfg.id, url: d.cfg.url, path: p.path, err: timeout ? "timeout" : errorMessage(e) }, "CoAP device stopped answering");
      this.emit({ ts: this.clock.now(), device: d.cfg.id, kind: "state", payload: { online: false, reason: timeout ? "timeout" : errorMessage(e) }, meta: { driver: this.name, url: d.cfg.url } });
    }
  }

  private deliver(d: DeviceState, p: CoapPointConfig, r: CoapResult): void {
    if (!r.code.startsWith("2.")) {
      d.stats.errors++;
      this.count(d, "coap_error_responses_total", { code: r.code });
      return;
    }
    const v = decodePoint(p.decoder, r.payload, p.field);
    if (!v.ok) {
      d.stats.badPayloads++;
      this.count(d, "coap_bad_payloads_total");
      this.ctx?.log.debug({ device: d.cfg.id, path: p.path, reason: v.reason }, "undecodable CoAP payload");
      return;
    }
    this.emit({ ts: this.clock.now(), device: d.cfg.id, kind: "telemetry", payload: { [p.name]: v.value }, meta: { driver: this.name, path: p.path } });
  }

  private async poll(d: DeviceState, p: CoapPointConfig): Promise<void> {
    const run = this.run;
    d.stats.requests++;
    try {
      const r = await this.withTimeout(this.transport.get(d.cfg.url + p.path));
      d.stats.ok++;
      this.markUp(d);
      this.deliver(d, p, r);
    } catch (e) {
      this.fail(d, p, e);
    }
    // stretch the poll: while the pipeline pushes back, the next one waits for drained()
    if (this.out.pushedBack && !(await this.out.whenAccepting())) return;
    if (run !== this.run) return;
    this.later(d, this.nextDelay(d, p), () => void this.poll(d, p));
  }

  private async observe(d: DeviceState, p: CoapPointConfig): Promise<void> {
    const url = d.cfg.url + p.path;
    d.stats.requests++;
    try {
      await this.withTimeout(
        this.transport.observe(url, (r) => {
          if (!this.running) return;
          d.stats.notifications++;
          this.markUp(d);
          this.deliver(d, p, r);
        }),
      );
      d.observing.add(url);
      d.stats.ok++;
      this.markUp(d);
    } catch (e) {
      this.transport.stopObserving(url);
      this.fail(d, p, e);
      this.later(d, this.backoff(d), () => void this.observe(d, p));
    }
  }
}
