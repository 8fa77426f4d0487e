/**
 * The cloud link: one MQTT (3.1.1 or 5) connection to the cloud broker, driven by the pure
 * link machine (link-machine.ts). This owner performs its effects: connecting (a fresh MQTT.js
 * client per attempt, with MQTT.js's own reconnect off so that backoff is ours, with full jitter),
 * draining the durable queue, and dispatching the downlink.
 *
 * Delivery: batches of one class and one kind, in queue order, QoS 1, a bounded window in flight.
 * Rows are deleted only when the PUBACK for their batch arrives. A lost connection rewinds the read
 * cursors, so everything unacknowledged is sent again with the same ids (at-least-once; the cloud
 * dedups by id). Alarms are read first on every send, so fresh alarms overtake a backlog.
 */
import type { IClientOptions, MqttClient } from "mqtt";

// MQTT.js is loaded on the first connect only: a gateway with no cloud configured never pays for it.
let mqttLib: typeof import("mqtt") | undefined;
import type { Clock, Random, Timer } from "../../core/clock.js";
import type { Priority } from "../../core/event.js";
import { PRIORITIES, type UplinkQueue } from "../store/queue.js";
import { encodeBatch } from "./batch-codec.js";
import type { MqttLinkConfig } from "./config.js";
import { step, type LinkEffect, type LinkInput, type LinkState, type LinkTag } from "./link-machine.js";
import { classifyConnectError, loadTlsMaterial } from "./tls-material.js";

export interface LinkLog {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

export interface LinkHooks {
  /** Every state change (for metrics). */
  onState?(tag: LinkTag): void;
  /** Published batches and acknowledged events (for metrics). */
  onSent?(priority: Priority, events: number, bytes: number): void;
  onAcked?(priority: Priority, events: number): void;
  onConnectFailure?(code: string): void;
  /** A downlink message: `suffix` is the topic below `<root>/down/`. */
  onDownlink?(suffix: string, payload: Buffer): Promise<void> | void;
  /** The link came up (subscribed): publish what waited for it. */
  onConnected?(): void;
}

export interface CloudLinkOptions {
  config: MqttLinkConfig;
  gatewayId: string;
  dataDir: string;
  queue: UplinkQueue;
  clock: Clock;
  random: Random;
  log: LinkLog;
  hooks?: LinkHooks;
}

interface Inflight {
  priority: Priority;
  first: number;
  last: number;
  events: number;
}

export class CloudLink {
  private state: LinkState = { tag: "stopped" };
  private client: MqttClient | undefined;
  /** Bumped on every new connection: callbacks from an older client are ignored. */
  private gen = 0;
  private retryTimer: Timer | undefined;
  private guardTimer: Timer | undefined;
  private paceTimer: Timer | undefined;
  private cursor: Record<Priority, number> = { alarm: 0, state: 0, telemetry: 0 };
  private inflight: Inflight[] = [];
  private inflightEvents = 0;
  private pumpScheduled = false;
  private tokens = 0;
  private tokensAt = 0;
  private lastError: { code: string; message: string; at: number } | undefined;
  private lastErrorLogged = "";
  private stateSince: number;
  private connectedAt = 0;
  private connects = 0;
  private lastAckAt: number | undefined;
  private lastDrainedAt: number | undefined;
  readonly root: string;

  constructor(private readonly o: CloudLinkOptions) {
    this.root = `${o.config.topicPrefix}/${o.gatewayId}`;
    this.stateSince = o.clock.now();
  }

  get tag(): LinkTag {
    return this.state.tag;
  }

  get connected(): boolean {
    return this.state.tag === "online" || this.state.tag === "draining";
  }

  start(): void {
    this.input({ type: "start" });
  }

  async stop(): Promise<void> {
    const c = this.client;
    // Detach first so that the close below is not taken for a lost link.
    this.client = undefined;
    this.gen++;
    this.guardTimer?.cancel();
    this.input({ type: "stop" });
    if (!c) return;
    c.removeAllListeners("message");
    c.on("error", () => {});
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        c.end(true);
        resolve();
      }, 2000);
      c.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** New rows were committed to the queue. */
  notify(): void {
    if (!this.connected || this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Publish a control message (twin, command result) at QoS 1; false when offline or not acknowledged. */
  publishControl(suffix: string, payload: Buffer | string, opts: { retain?: boolean } = {}): Promise<boolean> {
    const c = this.client;
    if (!c || !this.connected) return Promise.resolve(false);
    return new Promise((resolve) => c.publish(`${this.root}/${suffix}`, payload, { qos: 1, retain: opts.retain ?? false }, (err) => resolve(!err)));
  }

  status(): Record<string, unknown> {
    return {
      state: this.state.tag,
      since: new Date(this.stateSince).toISOString(),
      url: this.o.config.url,
      version: this.o.config.version,
      ...(this.state.tag === "offline" ? { retryInMs: this.state.retryInMs, attempt: this.state.attempt } : {}),
      connects: this.connects,
      inflightBatches: this.inflight.length,
      inflightEvents: this.inflightEvents,
      lastAck: this.lastAckAt === undefined ? null : new Date(this.lastAckAt).toISOString(),
      lastDrained: this.lastDrainedAt === undefined ? null : new Date(this.lastDrainedAt).toISOString(),
      ...(this.lastError ? { lastError: { ...this.lastError, at: new Date(this.lastError.at).toISOString() } } : {}),
    };
  }

  lastDrained(): number | undefined {
    return this.lastDrainedAt;
  }

  private input(i: LinkInput): void {
    const before = this.state.tag;
    const r = step(this.state, i, { backoff: this.o.config.backoff, random: this.o.random });
    this.state = r.state;
    if (r.state.tag !== before) {
      this.stateSince = this.o.clock.now();
      this.o.log.debug({ from: before, to: r.state.tag, input: i.type }, "cloud link state");
      this.o.hooks?.onState?.(r.state.tag);
    }
    for (const e of r.effects) this.effect(e);
  }

  private effect(e: LinkEffect): void {
    switch (e.type) {
      case "connect":
        this.connect();
        break;
      case "disconnect":
        this.dropClient();
        break;
      case "schedule_retry":
        this.retryTimer?.cancel();
        this.retryTimer = this.o.clock.setTimeout(() => {
          this.retryTimer = undefined;
          this.input({ type: "retry_due" });
        }, e.delayMs);
        break;
      case "cancel_retry":
        this.retryTimer?.cancel();
        this.retryTimer = undefined;
        break;
      case "rewind":
        this.cursor = { alarm: 0, state: 0, telemetry: 0 };
        this.inflight = [];
        this.inflightEvents = 0;
        this.paceTimer?.cancel();
        this.paceTimer = undefined;
        break;
      case "on_connected":
        this.onConnected();
        break;
    }
  }

  private dropClient(): void {
    this.guardTimer?.cancel();
    this.guardTimer = undefined;
    const c = this.client;
    this.client = undefined;
    this.gen++;
    if (c) {
      c.removeAllListeners("message");
      c.on("error", () => {});
      c.end(true);
    }
  }

  private fail(gen: number, e: unknown): void {
    if (gen !== this.gen) return;
    const c = classifyConnectError(e, this.o.config);
    this.lastError = { ...c, at: this.o.clock.now() };
    this.o.hooks?.onConnectFailure?.(c.code);
    // Log once per distinct reason, not once per retry.
    const key = c.code + c.message;
    if (key !== this.lastErrorLogged) {
      this.lastErrorLogged = key;
      this.o.log.warn({ code: c.code, url: this.o.config.url }, `cloud link: ${c.message}; retrying with backoff`);
    }
    const wasUp = this.connected;
    this.dropClient();
    this.input(wasUp ? { type: "lost", reason: c.code, upForMs: this.o.clock.now() - this.connectedAt } : { type: "connect_failed", reason: c.code });
  }

  private connect(): void {
    if (!mqttLib) {
      const gen = this.gen;
      void import("mqtt").then(
        (m) => {
          mqttLib = m;
          if (gen === this.gen) this.connect();
        },
        (e: unknown) => this.fail(gen, e),
      );
      return;
    }
    this.dropClient();
    const gen = this.gen;
    const cfg = this.o.config;
    let tls;
    try {
      tls = loadTlsMaterial(cfg, this.o.dataDir, this.o.clock.now());
    } catch (e) {
      // Unreadable files are retried too: they may appear (provisioning) without a restart.
      const code = e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : "E_CLOUD_TLS_FILE";
      this.lastError = { code, message: e instanceof Error ? e.message : String(e), at: this.o.clock.now() };
      if (this.lastErrorLogged !== code + this.lastError.message) {
        this.lastErrorLogged = code + this.lastError.message;
        this.o.log.error({ code }, `cloud link: ${this.lastError.message}`);
      }
      this.o.hooks?.onConnectFailure?.(code);
      queueMicrotask(() => gen === this.gen && this.input({ type: "connect_failed", reason: code }));
      return;
    }
    for (const p of tls.problems) {
      if (this.lastErrorLogged !== p.code + p.message) this.o.log.error({ code: p.code }, `cloud link: ${p.message}`);
      this.lastErrorLogged = p.code + p.message;
      this.lastError = { code: p.code, message: p.message, at: this.o.clock.now() };
    }
    const opts: IClientOptions = {
      protocolVersion: cfg.version === "5" ? 5 : 4,
      clientId: cfg.clientId ?? this.o.gatewayId,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: cfg.connectTimeout,
      keepalive: Math.max(1, Math.round(cfg.keepalive / 1000)),
      resubscribe: false,
      ...(cfg.username !== undefined ? { username: cfg.username } : {}),
      ...(cfg.password !== undefined ? { password: cfg.password } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
      ...(cfg.servername ? { servername: cfg.servername } : {}),
      rejectUnauthorized: true,
      ...(cfg.version === "5" ? { properties: { sessionExpiryInterval: Math.round(cfg.sessionExpiry / 1000) } } : {}),
    };
    let client: MqttClient;
    try {
      client = mqttLib.connect(cfg.url, opts);
    } catch (e) {
      queueMicrotask(() => this.fail(gen, e));
      return;
    }
    this.client = client;
    let lastErr: unknown;
    this.guardTimer = this.o.clock.setTimeout(() => this.fail(gen, Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })), cfg.connectTimeout + 1000);
    client.on("connect", () => {
      if (gen !== this.gen) return;
      this.guardTimer?.cancel();
      this.guardTimer = undefined;
      this.connects++;
      this.connectedAt = this.o.clock.now();
      this.lastErrorLogged = "";
      this.o.log.info({ url: cfg.url, version: cfg.version, backlog: this.o.queue.depth() }, "cloud link up");
      this.input({ type: "connected", backlog: this.o.queue.depth() > 0 });
    });
    client.on("error", (e) => {
      lastErr = e;
    });
    client.on("close", () => {
      if (gen !== this.gen) return;
      this.fail(gen, lastErr ?? new Error(this.connected ? "connection lost" : "connection closed before CONNACK"));
    });
    client.on("message", (topic, payload) => {
      if (gen !== this.gen) return;
      const base = `${this.root}/down/`;
      if (!topic.startsWith(base)) return;
      const suffix = topic.slice(base.length);
      Promise.resolve()
        .then(() => this.o.hooks?.onDownlink?.(suffix, payload))
        .catch((e: unknown) => this.o.log.warn({ topic, err: e instanceof Error ? e.message : String(e) }, "downlink handler failed"));
    });
  }

  private onConnected(): void {
    const c = this.client;
    const gen = this.gen;
    if (!c) return;
    c.subscribe(`${this.root}/down/#`, { qos: 1 }, (err) => {
      if (gen !== this.gen) return;
      if (err) this.o.log.warn({ err: err.message }, "cloud link: downlink subscription refused");
      this.o.hooks?.onConnected?.();
    });
    this.tokens = this.o.config.batch.maxEvents;
    this.tokensAt = this.o.clock.monotonic();
    this.pump();
  }

  /** Paced backlog: a token bucket of drainRate events/s, burst of one batch; alarms are never paced. */
  private allowPaced(n: number): boolean {
    const rate = this.o.config.drainRate;
    if (rate <= 0) return true;
    const now = this.o.clock.monotonic();
    this.tokens = Math.min(this.o.config.batch.maxEvents, this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
    if (this.tokens >= Math.min(n, this.o.config.batch.maxEvents)) {
      this.tokens -= n;
      return true;
    }
    if (!this.paceTimer) {
      const wait = Math.max(1, Math.ceil(((Math.min(n, this.o.config.batch.maxEvents) - this.tokens) * 1000) / rate));
      this.paceTimer = this.o.clock.setTimeout(() => {
        this.paceTimer = undefined;
        this.pump();
      }, wait);
    }
    return false;
  }

  private pump(): void {
    const c = this.client;
    if (!c || !this.connected) return;
    const cfg = this.o.config;
    const gen = this.gen;
    outer: while (this.inflight.length < cfg.inflight) {
      for (const p of PRIORITIES) {
        if (this.o.queue.depth(p) === 0) continue;
        const rows = this.o.queue.read(p, this.cursor[p], cfg.batch.maxEvents, cfg.batch.maxBytes);
        if (rows.length === 0) continue;
        // One kind per batch (the topic names it): cut at the first row of another kind.
        const kind = rows[0]!.kind;
        let k = 1;
        while (k < rows.length && rows[k]!.kind === kind) k++;
        const batch = rows.slice(0, k);
        let n = 0;
        for (const r of batch) n += r.n;
        if (p !== "alarm" && !this.allowPaced(n)) break outer;
        const first = batch[0]!.seq;
        const last = batch[k - 1]!.seq;
        this.cursor[p] = last;
        const payload = encodeBatch(cfg.format, batch.map((r) => r.body));
        const f: Inflight = { priority: p, first, last, events: n };
        this.inflight.push(f);
        this.inflightEvents += n;
        this.o.hooks?.onSent?.(p, n, payload.length);
        c.publish(`${this.root}/up/${kind}`, payload, { qos: 1 }, (err) => this.onAck(gen, f, err));
        continue outer;
      }
      break;
    }
    this.updateBacklog();
  }

  private onAck(gen: number, f: Inflight, err: Error | undefined): void {
    if (gen !== this.gen) return;
    if (err) {
      // A refused publish (MQTT 5 reason code ≥ 0x80, or the client gave up): reconnect with backoff, resend later.
      this.o.log.warn({ err: err.message, priority: f.priority }, "cloud link: publish not acknowledged");
      this.fail(gen, Object.assign(new Error(`publish refused: ${err.message}`), { code: "E_CLOUD_PUBLISH" }));
      return;
    }
    const i = this.inflight.indexOf(f);
    if (i >= 0) this.inflight.splice(i, 1);
    this.inflightEvents -= f.events;
    const n = this.o.queue.ack(f.priority, f.first, f.last);
    this.lastAckAt = this.o.clock.now();
    if (this.o.queue.depth() === 0) this.lastDrainedAt = this.lastAckAt;
    this.o.hooks?.onAcked?.(f.priority, n);
    this.pump();
  }

  private updateBacklog(): void {
    // Draining while more than one batch waits beyond what is in flight.
    const waiting = this.o.queue.depth() - this.inflightEvents;
    this.input({ type: "backlog", pending: waiting > this.o.config.batch.maxEvents });
  }
}
