/**
 * The cloud link: one MQTT (3.1.1 or 5) connection to the cloud broker, driven by the pure
 * link machine (link-machine.ts). This owner performs its effects: connecting (a fresh MQTT.js
 * client per attempt, with MQTT.js's own reconnect off so that backoff is ours, with full jitter),
 * draining the durable queue, and dispatching the downlink.
 *
 * Delivery: batches of one class and one kind, in queue order, QoS 1, a bounded window in flight.
 * Rows are deleted only when the PUBACKs for every batch holding their events have arrived (per
 * class, in publish order). A lost connection rewinds the read cursors, so everything
 * unacknowledged is sent again with the same ids (at-least-once; the cloud dedups by id). Alarms
 * are read first on every send, so fresh alarms overtake a backlog.
 *
 * Broker limits:
 * - Size. A batch is cut so that its encoded PUBLISH fits the broker's Maximum Packet Size (MQTT 5
 *   CONNACK property 0x27, §3.2.2.3.6) when announced, and `batch.maxBytes` of payload always; the
 *   cursor can stop inside a stored row. A broker that does not announce its limit closes the
 *   connection on a packet that is too large (MQTT 5 §3.1.2.11.4, or DISCONNECT 0x95; MQTT 3.1.1
 *   has no other way). Without an announced limit, a publish larger than any the broker
 *   acknowledged is a probe, sent with nothing else in flight; a connection lost right after it
 *   halves the packet ceiling, down to a single event, and only the probe is sent again. A single event
 *   larger than an announced limit, or one the broker dropped the connection on twice when sent
 *   alone, is skipped: counted, logged, reported in status (the queue has no place to park it).
 *   A PUBACK that does not come within `ackTimeout` is read the same way for a probe of several
 *   events (some brokers drop an oversize publish without answering), else as a dead connection
 *   (never as a reason to skip an event: a stalled broker looks the same). A packet the client
 *   cannot parse (mosquitto 2.0.11 answers an oversize payload with PUBACK 0x95, which §3.4.2.1
 *   does not allow, and MQTT.js then parses nothing more) ends the connection at once.
 * - Refusal. A PUBACK with a reason code ≥ 0x80 (MQTT 5 §3.4.2.1: 0x87 Not authorized, 0x97 Quota
 *   exceeded, …) holds that class for a full-jitter backoff (the publish gate in link-machine.ts)
 *   without reconnecting; 0x95 Packet too large halves the ceiling instead. MQTT 3.1.1 has no
 *   negative PUBACK: a broker drops a denied publish silently, hence a warning at the first connect.
 */
import type { IClientOptions, MqttClient } from "mqtt";

// MQTT.js is loaded on the first connect only: a gateway with no cloud configured never pays for it.
let mqttLib: typeof import("mqtt") | undefined;
import type { Clock, Logger, Random, Timer, Priority } from "../../core/index.js";
import { PRIORITIES, type UplinkQueue } from "../store/queue.js";
import { fitBatch, maxPayloadFor, publishPacketSize } from "./batch-codec.js";
import type { MqttLinkConfig } from "./config.js";
import { OPEN_GATE, gateStep, linkStep, type GateEffect, type GateInput, type GateState, type LinkEffect, type LinkInput, type LinkState, type LinkTag } from "./link-machine.js";
import { classifyConnectError, loadTlsMaterial } from "./tls-material.js";

export interface LinkHooks {
  /** Every state change (for metrics). */
  onState?(tag: LinkTag): void;
  /** Published batches and acknowledged events (for metrics). */
  onSent?(priority: Priority, events: number, bytes: number): void;
  onAcked?(priority: Priority, events: number): void;
  onConnectFailure?(code: string): void;
  /** A publish the broker refused (MQTT 5 PUBACK reason code ≥ 0x80): `reason` is the spec's name. */
  onPublishRefused?(priority: Priority, reasonCode: number, reason: string): void;
  /** An event skipped because no PUBLISH the broker takes can hold it. */
  onOversize?(priority: Priority, reason: OversizeReason): void;
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
  log: Logger;
  hooks?: LinkHooks;
}

/**
 * Why an event was skipped: `announced` larger than the broker's CONNACK Maximum Packet Size;
 * `closed` the broker closed the connection each time it was sent alone; `refused` PUBACK 0x95 when
 * sent alone.
 */
export type OversizeReason = "announced" | "closed" | "refused";

/** MQTT 5 §2.4 reason codes a PUBACK may carry (≥ 0x80 is a failure). */
const PUBACK_REASONS: Record<number, string> = {
  0x80: "Unspecified error",
  0x83: "Implementation specific error",
  0x87: "Not authorized",
  0x90: "Topic Name invalid",
  0x91: "Packet Identifier in use",
  0x95: "Packet too large",
  0x97: "Quota exceeded",
  0x99: "Payload format invalid",
};
const PACKET_TOO_LARGE = 0x95;
const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
/** A connection lost this soon after an unacknowledged publish may have been closed because of it. */
const SIZE_SUSPECT_MS = 10_000;
/** Sending one event alone and losing the connection this many times marks it as too large (no announced limit). */
const OVERSIZE_STRIKES = 2;
/** Ids remembered as oversize (skipped again without a new count after a rewind). */
const OVERSIZE_MEMORY = 1024;

/** Where the next event of a class is: event `off` of row `partialSeq` when `off` > 0, else the first row after `after`. */
interface Pos {
  after: number;
  partialSeq: number;
  off: number;
}
const START: Pos = { after: 0, partialSeq: 0, off: 0 };

interface Inflight {
  priority: Priority;
  /** The cursor before and after this batch. */
  start: Pos;
  end: Pos;
  /** Rows this batch touches; `endsRow`: it holds the last event of row `lastSeq`. */
  firstSeq: number;
  lastSeq: number;
  endsRow: boolean;
  events: number;
  packetBytes: number;
  topic: string;
  /** The event's id when the batch is a single event (oversize bookkeeping). */
  singleId: string | undefined;
  sentAt: number;
  /** An oversize event skipped: nothing was published, it counts as acknowledged. */
  skipped: boolean;
  acked: boolean;
  cancelled: boolean;
}

interface Refusal {
  reasonCode: number;
  reason: string;
  count: number;
  at: number;
}

export class CloudLink {
  private state: LinkState = { tag: "stopped" };
  private client: MqttClient | undefined;
  /** Bumped on every new connection: callbacks from an older client are ignored. */
  private gen = 0;
  private retryTimer: Timer | undefined;
  private guardTimer: Timer | undefined;
  private ackTimer: Timer | undefined;
  private paceTimer: Timer | undefined;
  private cursor: Record<Priority, Pos> = { alarm: START, state: START, telemetry: START };
  /** Batches in publish order (skipped oversize events included) until their rows are deleted. */
  private inflight: Inflight[] = [];
  private published = 0;
  private inflightEvents = 0;
  private pumpScheduled = false;
  private settleScheduled = false;
  private tokens = 0;
  private tokensAt = 0;
  private lastError: { code: string; message: string; at: number; reasonCode?: number; reason?: string } | undefined;
  private lastErrorLogged = "";
  private stateSince: number;
  private connectedAt = 0;
  /** Control publishes (twin, results) waiting for their PUBACK; answered false when the client is dropped. */
  private readonly controlWaiters = new Set<(ok: boolean) => void>();
  private connects = 0;
  private lastAckAt: number | undefined;
  private lastDrainedAt: number | undefined;
  /** Size limits: the broker's announced Maximum Packet Size (this connection), the ceiling learned from closed connections, the largest packet acknowledged. */
  private brokerMaxPacket: number | undefined;
  private learnedMaxPacket: number | undefined;
  private largestAcked = 0;
  /** A publish larger than any acknowledged, with no announced limit: nothing else is sent until it is acknowledged. */
  private probe: Inflight | undefined;
  private disconnectReason: number | undefined;
  private readonly strikes = new Map<string, { n: number; reason: OversizeReason }>();
  /** Per class: stored row seq → skipped events in it (not counted as acknowledged when the row is deleted). */
  private readonly skippedIn: Record<Priority, Map<number, Set<number>>> = { alarm: new Map(), state: new Map(), telemetry: new Map() };
  private readonly oversize = new Map<string, OversizeReason>();
  private oversizeCount = 0;
  private lastOversize: { id: string; priority: Priority; bytes: number; limit: number | null; reason: OversizeReason; at: number } | undefined;
  private readonly gates: Record<Priority, GateState> = { alarm: OPEN_GATE, state: OPEN_GATE, telemetry: OPEN_GATE };
  private readonly gateTimers: Partial<Record<Priority, Timer>> = {};
  private readonly refusals = new Map<string, Refusal>();
  private refusalsLogged = new Set<string>();
  private warnedV311 = false;
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
        for (const w of [...this.controlWaiters]) w(false);
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

  /** Publish a control message (twin, command result) at QoS 1; false when offline, too large for the broker, or not acknowledged. */
  publishControl(suffix: string, payload: Buffer | string, opts: { retain?: boolean } = {}): Promise<boolean> {
    const c = this.client;
    if (!c || !this.connected) return Promise.resolve(false);
    const topic = `${this.root}/${suffix}`;
    const size = publishPacketSize(Buffer.byteLength(topic), Buffer.byteLength(payload), this.o.config.version === "5");
    const limit = this.packetLimit();
    if (limit !== undefined && size > limit) {
      this.o.log.warn({ topic, bytes: size, limit }, "cloud link: control message larger than the broker's maximum packet size; not sent");
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      // a link dropped before the PUBACK never calls back (the client is thrown away): answer false then
      const done = (ok: boolean) => {
        if (this.controlWaiters.delete(done)) resolve(ok);
      };
      this.controlWaiters.add(done);
      c.publish(topic, payload, { qos: 1, retain: opts.retain ?? false }, (err) => done(!err));
    });
  }

  status(): Record<string, unknown> {
    const held = PRIORITIES.filter((p) => this.gates[p].tag === "held").map((p) => {
      const g = this.gates[p] as Extract<GateState, { tag: "held" }>;
      return [p, { reason: g.reason, refusals: g.refusals, retryInMs: g.retryInMs }] as const;
    });
    return {
      state: this.state.tag,
      since: new Date(this.stateSince).toISOString(),
      url: this.o.config.url,
      version: this.o.config.version,
      ...(this.state.tag === "offline" ? { retryInMs: this.state.retryInMs, attempt: this.state.attempt } : {}),
      connects: this.connects,
      inflightBatches: this.published,
      inflightEvents: this.inflightEvents,
      lastAck: this.lastAckAt === undefined ? null : new Date(this.lastAckAt).toISOString(),
      lastDrained: this.lastDrainedAt === undefined ? null : new Date(this.lastDrainedAt).toISOString(),
      maxPacketBytes: { announced: this.brokerMaxPacket ?? null, learned: this.learnedMaxPacket ?? null, largestAcked: this.largestAcked },
      ...(this.refusals.size || held.length
        ? {
            publishRefused: {
              total: [...this.refusals.values()].reduce((a, r) => a + r.count, 0),
              byReason: Object.fromEntries([...this.refusals].map(([k, r]) => [k, { reasonCode: hex(r.reasonCode), reason: r.reason, count: r.count, last: new Date(r.at).toISOString() }])),
              held: Object.fromEntries(held),
            },
          }
        : {}),
      ...(this.oversizeCount ? { oversize: { events: this.oversizeCount, last: this.lastOversize ? { ...this.lastOversize, at: new Date(this.lastOversize.at).toISOString() } : null } } : {}),
      ...(this.lastError ? { lastError: { ...this.lastError, at: new Date(this.lastError.at).toISOString() } } : {}),
    };
  }

  lastDrained(): number | undefined {
    return this.lastDrainedAt;
  }

  private input(i: LinkInput): void {
    const before = this.state.tag;
    const r = linkStep(this.state, i, { backoff: this.o.config.backoff, random: this.o.random });
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
        // Acknowledged batches first: their rows go, they are not sent again.
        if (this.settleScheduled) this.settle();
        // A lost link resumes each class at its oldest batch not yet settled: what the broker
        // acknowledged (a row's first part, say) is not sent again. A stop starts afresh (the
        // store may be reopened meanwhile).
        for (const p of PRIORITIES) {
          const oldest = this.inflight.find((f) => f.priority === p);
          this.cursor[p] = this.state.tag === "stopped" ? START : (oldest?.start ?? this.cursor[p]);
        }
        for (const f of this.inflight) f.cancelled = true;
        this.probe = undefined;
        this.inflight = [];
        this.published = 0;
        this.inflightEvents = 0;
        this.paceTimer?.cancel();
        this.paceTimer = undefined;
        for (const p of PRIORITIES) this.gateInput(p, { type: "reset" });
        break;
      case "on_connected":
        this.onConnected();
        break;
    }
  }

  private gateInput(p: Priority, i: GateInput): void {
    const r = gateStep(this.gates[p], i, { backoff: this.o.config.backoff, random: this.o.random });
    this.gates[p] = r.state;
    for (const e of r.effects) this.gateEffect(p, e);
  }

  private gateEffect(p: Priority, e: GateEffect): void {
    switch (e.type) {
      case "rewind_class":
        this.rewindClass(p);
        break;
      case "schedule_class_retry":
        this.gateTimers[p]?.cancel();
        this.gateTimers[p] = this.o.clock.setTimeout(() => {
          this.gateTimers[p] = undefined;
          this.gateInput(p, { type: "retry_due" });
          this.pump();
        }, e.delayMs);
        break;
      case "cancel_class_retry":
        this.gateTimers[p]?.cancel();
        this.gateTimers[p] = undefined;
        break;
    }
  }

  /** Send one class again from its oldest batch whose rows are not deleted yet. */
  private rewindClass(p: Priority): void {
    if (this.settleScheduled) this.settle();
    const mine = this.inflight.filter((f) => f.priority === p);
    if (mine.length === 0) return;
    this.cursor[p] = mine[0]!.start;
    for (const f of mine) {
      if (this.probe === f) this.probe = undefined;
      f.cancelled = true;
      if (!f.skipped && !f.acked) this.published--;
      this.inflightEvents -= f.events;
    }
    this.inflight = this.inflight.filter((f) => f.priority !== p);
  }

  private dropClient(): void {
    for (const w of [...this.controlWaiters]) w(false);
    this.guardTimer?.cancel();
    this.guardTimer = undefined;
    this.ackTimer?.cancel();
    this.ackTimer = undefined;
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
    const ownCode = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
    const own = typeof ownCode === "string" && ownCode.startsWith("E_CLOUD_");
    let c = own && e instanceof Error ? { code: ownCode, message: e.message } : classifyConnectError(e, this.o.config);
    // Classified as a connection attempt: say so when the link had been up.
    if (this.connected && c.code === "E_CLOUD_CLOSED") c = { code: c.code, message: `the broker closed the connection: ${e instanceof Error ? e.message : String(e)}` };
    this.lastError = { ...c, at: this.o.clock.now() };
    this.o.hooks?.onConnectFailure?.(c.code);
    // Log once per distinct reason, not once per retry.
    const key = c.code + c.message;
    if (key !== this.lastErrorLogged) {
      this.lastErrorLogged = key;
      this.o.log.warn({ code: c.code, url: this.o.config.url }, `cloud link: ${c.message}; retrying with backoff`);
    }
    const wasUp = this.connected;
    if (wasUp) this.learnFromLoss();
    this.dropClient();
    this.input(wasUp ? { type: "lost", reason: c.code, upForMs: this.o.clock.now() - this.connectedAt } : { type: "connect_failed", reason: c.code });
  }

  /** The smallest packet limit known now: announced by the broker, or learned from connections it closed. */
  private packetLimit(): number | undefined {
    const a = this.brokerMaxPacket;
    const l = this.learnedMaxPacket;
    return a === undefined ? l : l === undefined ? a : Math.min(a, l);
  }

  /**
   * A connection lost while a publish larger than any acknowledged one waited for its PUBACK, soon
   * after it was sent (or a DISCONNECT 0x95): take that packet for too large and halve the ceiling.
   * The ceiling never drops below the largest packet acknowledged, so a link flap costs little.
   */
  private learnFromLoss(): void {
    const rc = this.disconnectReason;
    // A broker that said why it disconnected (MQTT 5) and named another reason is believed.
    if (rc !== undefined && rc !== PACKET_TOO_LARGE && rc !== 0) return;
    const f = this.inflight.find((x) => !x.skipped && !x.acked && !x.cancelled);
    if (!f) return;
    const certain = rc === PACKET_TOO_LARGE;
    if (!certain) {
      if (this.brokerMaxPacket !== undefined) return; // we kept to the announced limit: not a size problem
      if (f.packetBytes <= this.largestAcked || this.o.clock.monotonic() - f.sentAt > SIZE_SUSPECT_MS) return;
    }
    this.shrink(f, certain ? "DISCONNECT 0x95 Packet too large" : "the broker closed the connection right after it");
  }

  /** Halve the packet ceiling below batch `f`; a single event that was already alone is struck. */
  private shrink(f: Inflight, why: string): void {
    const ceiling = Math.max(this.largestAcked, Math.floor(f.packetBytes / 2));
    if (this.learnedMaxPacket === undefined || ceiling < this.learnedMaxPacket) {
      this.learnedMaxPacket = Math.max(1, ceiling);
      this.o.log.warn({ packetBytes: f.packetBytes, events: f.events, ceiling: this.learnedMaxPacket, largestAcked: this.largestAcked }, `cloud link: a ${f.packetBytes}-byte publish was not accepted (${why}); batches are now cut to ${this.learnedMaxPacket}-byte packets`);
    }
    if (f.singleId !== undefined) {
      if (this.strikes.size >= OVERSIZE_MEMORY) this.strikes.delete(this.strikes.keys().next().value!);
      this.strikes.set(f.singleId, { n: (this.strikes.get(f.singleId)?.n ?? 0) + 1, reason: "closed" });
    }
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
    this.brokerMaxPacket = undefined;
    this.disconnectReason = undefined;
    let lastErr: unknown;
    this.guardTimer = this.o.clock.setTimeout(() => this.fail(gen, Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })), cfg.connectTimeout + 1000);
    client.on("connect", (connack) => {
      if (gen !== this.gen) return;
      this.guardTimer?.cancel();
      this.guardTimer = undefined;
      this.connects++;
      this.connectedAt = this.o.clock.now();
      this.lastErrorLogged = "";
      // MQTT 5 §3.2.2.3.6: absent means no limit beyond the protocol's.
      const max = connack.properties?.maximumPacketSize;
      this.brokerMaxPacket = typeof max === "number" && max > 0 ? max : undefined;
      this.o.log.info({ url: cfg.url, version: cfg.version, backlog: this.o.queue.depth(), maxPacketBytes: this.brokerMaxPacket ?? null }, "cloud link up");
      if (cfg.version === "3.1.1" && !this.warnedV311) {
        this.warnedV311 = true;
        this.o.log.warn({ url: cfg.url, version: cfg.version }, "cloud link: MQTT 3.1.1 has no way to refuse a publish, so a broker that denies one (ACL, quota, size) drops it silently or closes the connection; set cloud.mqtt.version: \"5\" to have refusals reported");
      }
      this.input({ type: "connected", backlog: this.o.queue.depth() > 0 });
    });
    client.on("disconnect", (packet) => {
      if (gen !== this.gen) return;
      this.disconnectReason = packet.reasonCode ?? 0;
      if (packet.reasonCode === PACKET_TOO_LARGE) lastErr = Object.assign(new Error("the broker disconnected: 0x95 Packet too large"), { code: "E_CLOUD_PACKET_TOO_LARGE" });
    });
    client.on("error", (e) => {
      lastErr = e;
      // A socket error is followed by "close". Anything else while up (a packet the client cannot
      // parse, e.g. mosquitto 2.0's PUBACK 0x95, which MQTT 5 §3.4.2.1 does not allow) leaves the
      // parser stopped on an open socket: nothing would be acknowledged again. Make a new connection.
      if (gen !== this.gen || !this.connected || typeof (e as Error & { code?: unknown }).code === "string") return;
      const keepalive = /keepalive|timeout/i.test(e.message);
      this.fail(gen, Object.assign(new Error(keepalive ? `no answer from the broker within keepalive: ${e.message}` : `the broker sent a packet the client cannot accept (${e.message}); reconnecting`), { code: keepalive ? "E_CLOUD_TIMEOUT" : "E_CLOUD_PROTOCOL" }));
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
    outer: while (this.published < cfg.inflight && !this.probe) {
      for (const p of PRIORITIES) {
        if (this.gates[p].tag === "held" || this.o.queue.depth(p) === 0) continue;
        const b = this.nextBatch(p);
        if (!b) continue;
        if (b.skip) {
          this.skipOversize(b.f, b.skip);
          continue outer;
        }
        const f = b.f;
        // With no announced limit, a packet larger than any acknowledged may be what the broker
        // closes the connection on: sent alone, so that only it is sent again if so.
        const probing = this.brokerMaxPacket === undefined && f.packetBytes > this.largestAcked;
        if (probing && this.published > 0) break outer;
        if (p !== "alarm" && !this.allowPaced(f.events)) break outer;
        if (probing) this.probe = f;
        this.cursor[p] = f.end;
        this.inflight.push(f);
        this.published++;
        this.inflightEvents += f.events;
        this.o.hooks?.onSent?.(p, f.events, b.payload.length);
        c.publish(f.topic, b.payload, { qos: 1 }, (err) => this.onAck(gen, f, err));
        this.armAckTimer();
        continue outer;
      }
      break;
    }
    this.updateBacklog();
  }

  /**
   * The next batch of class `p` from its cursor: one kind (the topic names it), at most
   * `batch.maxEvents`, its encoded payload within `batch.maxBytes` and its PUBLISH within the
   * packet limit. At least one event; `skip` when that one event cannot be sent at all.
   */
  private nextBatch(p: Priority): { f: Inflight; payload: Buffer; skip?: { reason: OversizeReason; limit: number | null } } | undefined {
    const cfg = this.o.config;
    const pos = this.cursor[p];
    const rows = this.o.queue.read(p, pos.after, cfg.batch.maxEvents + pos.off, pos.off > 0 ? Infinity : cfg.batch.maxBytes, true);
    if (rows.length === 0) return undefined;
    const kind = rows[0]!.kind;
    // Events as lines with where each came from; a partial row that was evicted meanwhile starts afresh.
    const lines: string[] = [];
    const from: { seq: number; idx: number; n: number }[] = [];
    for (const r of rows) {
      if (r.kind !== kind || lines.length >= cfg.batch.maxEvents) break;
      const ls = r.body.split("\n");
      for (let i = r.seq === pos.partialSeq ? pos.off : 0; i < ls.length && lines.length < cfg.batch.maxEvents; i++) {
        lines.push(ls[i]!);
        from.push({ seq: r.seq, idx: i, n: ls.length });
      }
    }
    if (lines.length === 0) return undefined;
    const topic = `${this.root}/up/${kind}`;
    const topicBytes = Buffer.byteLength(topic);
    const v5 = cfg.version === "5";
    const limit = this.packetLimit();
    const budget = Math.min(cfg.batch.maxBytes, limit === undefined ? Infinity : maxPayloadFor(limit, topicBytes, v5));
    const fit = fitBatch(cfg.format, lines, budget);
    let singleId: string | undefined;
    let skip: { reason: OversizeReason; limit: number | null } | undefined;
    if (fit.count === 1) {
      singleId = (JSON.parse(lines[0]!) as { id: string }).id;
      const known = this.oversize.get(singleId);
      const struck = this.strikes.get(singleId);
      // Known: skipped before a rewind brought it back (skipped again, counted once).
      if (known) skip = { reason: known, limit: limit ?? null };
      else if (this.brokerMaxPacket !== undefined && publishPacketSize(topicBytes, fit.payload.length, v5) > this.brokerMaxPacket) skip = { reason: "announced", limit: this.brokerMaxPacket };
      else if (struck && struck.n >= OVERSIZE_STRIKES) skip = { reason: struck.reason, limit: limit ?? null };
    }
    const last = from[fit.count - 1]!;
    const endsRow = last.idx === last.n - 1;
    const f: Inflight = {
      priority: p,
      start: pos,
      // Ending inside a row: the rows before it are read past, that row is resumed at the next event.
      end: endsRow ? { after: last.seq, partialSeq: 0, off: 0 } : { after: from[0]!.seq === last.seq ? pos.after : prevSeq(from, last.seq), partialSeq: last.seq, off: last.idx + 1 },
      firstSeq: from[0]!.seq,
      lastSeq: last.seq,
      endsRow,
      events: skip ? 0 : fit.count,
      packetBytes: publishPacketSize(topicBytes, fit.payload.length, v5),
      topic,
      singleId,
      sentAt: this.o.clock.monotonic(),
      skipped: !!skip,
      acked: !!skip,
      cancelled: false,
    };
    return { f, payload: fit.payload, ...(skip ? { skip } : {}) };
  }

  /** An event no PUBLISH can carry: step over it (its row is deleted with its neighbours), count, log and report it once. */
  private skipOversize(f: Inflight, why: { reason: OversizeReason; limit: number | null }): void {
    const id = f.singleId ?? "?";
    this.cursor[f.priority] = f.end;
    this.inflight.push(f);
    const idx = f.end.off > 0 ? f.end.off - 1 : -1; // -1: the last event of row lastSeq
    const inRow = this.skippedIn[f.priority].get(f.lastSeq) ?? new Set<number>();
    inRow.add(idx);
    this.skippedIn[f.priority].set(f.lastSeq, inRow);
    if (!this.oversize.has(id)) {
      if (this.oversize.size >= OVERSIZE_MEMORY) this.oversize.delete(this.oversize.keys().next().value!);
      this.oversize.set(id, why.reason);
      this.strikes.delete(id);
      this.oversizeCount++;
      this.lastOversize = { id, priority: f.priority, bytes: f.packetBytes, limit: why.limit, reason: why.reason, at: this.o.clock.now() };
      this.o.hooks?.onOversize?.(f.priority, why.reason);
      const because =
        why.reason === "announced"
          ? `larger than the broker's maximum packet size (${why.limit} bytes, announced in CONNACK)`
          : why.reason === "refused"
            ? "refused by the broker as too large (PUBACK 0x95) even alone"
            : `the broker closed the connection each of the ${OVERSIZE_STRIKES} times it was sent alone`;
      this.o.log.error({ id, priority: f.priority, packetBytes: f.packetBytes, limit: why.limit, reason: why.reason }, `cloud link: event ${id} (${f.packetBytes}-byte PUBLISH) is ${because}; it is skipped and not sent (counted in ridge_uplink_oversize_skipped_total)`);
    }
    this.settle();
  }

  private onAck(gen: number, f: Inflight, err: Error | undefined): void {
    if (gen !== this.gen || f.cancelled) return;
    if (err) {
      const rc = (err as { code?: unknown }).code;
      if (typeof rc === "number" && rc >= 0x80) {
        this.onRefused(f, rc);
        return;
      }
      // The client gave up on the publish (the connection is going): reconnect with backoff, resend later.
      this.o.log.warn({ err: err.message, priority: f.priority }, "cloud link: publish not acknowledged");
      this.fail(gen, Object.assign(new Error(`publish not acknowledged: ${err.message}`), { code: "E_CLOUD_PUBLISH" }));
      return;
    }
    f.acked = true;
    this.published--;
    if (this.probe === f) this.probe = undefined;
    if (f.packetBytes > this.largestAcked) this.largestAcked = f.packetBytes;
    this.gateInput(f.priority, { type: "acked" });
    this.scheduleSettle();
    this.pump();
  }

  /** Check the oldest publish still waiting for its PUBACK when it reaches ackTimeout. */
  private armAckTimer(): void {
    if (this.ackTimer) return;
    const oldest = this.inflight.find((x) => !x.skipped && !x.acked && !x.cancelled);
    if (!oldest) return;
    const gen = this.gen;
    const wait = Math.max(1, oldest.sentAt + this.o.config.ackTimeout - this.o.clock.monotonic());
    this.ackTimer = this.o.clock.setTimeout(() => {
      this.ackTimer = undefined;
      if (gen !== this.gen) return;
      const f = this.inflight.find((x) => !x.skipped && !x.acked && !x.cancelled);
      if (f && this.o.clock.monotonic() - f.sentAt >= this.o.config.ackTimeout) this.onAckTimeout(gen, f);
      else this.armAckTimer();
    }, wait);
  }

  /** No PUBACK within ackTimeout: a probe was dropped by the broker (too large), or the connection is dead. */
  private onAckTimeout(gen: number, f: Inflight): void {
    const cfg = this.o.config;
    // A lone event is never skipped for want of a PUBACK: a stalled broker looks the same, and a
    // stall must not cost data. It reconnects instead (with backoff), like a dead connection.
    if (this.brokerMaxPacket === undefined && f.packetBytes > this.largestAcked && f.singleId === undefined) {
      this.lastError = { code: "E_CLOUD_NO_PUBACK", message: `no PUBACK for a ${f.packetBytes}-byte publish to ${f.topic} within ${cfg.ackTimeout} ms: taken for too large for the broker`, at: this.o.clock.now() };
      this.shrink(f, `no PUBACK within ${cfg.ackTimeout} ms; a broker may drop a publish it finds too large without answering`);
      this.rewindClass(f.priority);
      this.pump();
      this.armAckTimer();
      return;
    }
    this.fail(gen, Object.assign(new Error(`no PUBACK within ${cfg.ackTimeout} ms`), { code: "E_CLOUD_NO_PUBACK" }));
  }

  /** MQTT 5 PUBACK ≥ 0x80: report it; hold the class for a backoff, or cut smaller batches for 0x95. */
  private onRefused(f: Inflight, rc: number): void {
    const name = PUBACK_REASONS[rc] ?? "Unknown reason";
    const key = `${name} (${hex(rc)})`;
    const now = this.o.clock.now();
    const r = this.refusals.get(key) ?? { reasonCode: rc, reason: name, count: 0, at: now };
    r.count++;
    r.at = now;
    this.refusals.set(key, r);
    this.lastError = { code: "E_CLOUD_PUBLISH_REFUSED", message: `the broker refused a publish to ${f.topic}: ${key}`, reasonCode: rc, reason: name, at: now };
    this.o.hooks?.onPublishRefused?.(f.priority, rc, name);
    if (!this.refusalsLogged.has(key + f.topic)) {
      this.refusalsLogged.add(key + f.topic);
      this.o.log.warn({ topic: f.topic, reasonCode: hex(rc), reason: name, priority: f.priority }, `cloud link: the broker refused a publish to ${f.topic}: ${key}; ${rc === PACKET_TOO_LARGE ? "sending smaller batches" : `holding ${f.priority} events with backoff, then sending them again`}`);
    }
    if (rc === PACKET_TOO_LARGE) {
      // Our batch was too large, not a standing denial: no hold, cut smaller (a lone event is skipped when the rewind brings it back).
      this.shrink(f, "PUBACK 0x95 Packet too large");
      if (f.singleId !== undefined) this.strikes.set(f.singleId, { n: OVERSIZE_STRIKES, reason: "refused" });
      this.rewindClass(f.priority);
      this.pump();
      return;
    }
    this.gateInput(f.priority, { type: "refused", reason: key });
    this.pump();
  }

  /**
   * Delete the rows of acknowledged batches, per class in publish order (a row may span batches).
   * The acknowledged batches at the head of a class cover consecutive rows, so they go in one
   * range deletion (one transaction) however many PUBACKs arrived together.
   */
  private settle(): void {
    this.settleScheduled = false;
    const blocked = new Set<Priority>();
    const keep: Inflight[] = [];
    const runs: Partial<Record<Priority, { first: number; last: number }>> = {};
    for (const f of this.inflight) {
      if (!f.acked || blocked.has(f.priority)) {
        blocked.add(f.priority);
        keep.push(f);
        continue;
      }
      this.inflightEvents -= f.events;
      const lastRow = f.endsRow ? f.lastSeq : f.lastSeq - 1;
      if (lastRow >= f.firstSeq) {
        const r = runs[f.priority];
        if (r) {
          r.first = Math.min(r.first, f.firstSeq);
          r.last = Math.max(r.last, lastRow);
        } else runs[f.priority] = { first: f.firstSeq, last: lastRow };
      }
      if (!f.skipped) this.lastAckAt = this.o.clock.now();
    }
    this.inflight = keep;
    for (const p of PRIORITIES) {
      const r = runs[p];
      if (!r) continue;
      let n = this.o.queue.ack(p, r.first, r.last);
      const skipped = this.skippedIn[p];
      for (const [seq, idxs] of skipped)
        if (seq >= r.first && seq <= r.last) {
          n -= Math.min(n, idxs.size);
          skipped.delete(seq);
        }
      if (n) this.o.hooks?.onAcked?.(p, n);
    }
    if (this.o.queue.depth() === 0 && this.lastAckAt !== undefined) this.lastDrainedAt = this.lastAckAt;
  }

  /** PUBACKs parsed from one read arrive one after another: their rows are deleted together, once they are all in. */
  private scheduleSettle(): void {
    if (this.settleScheduled) return;
    this.settleScheduled = true;
    queueMicrotask(() => {
      if (this.settleScheduled) this.settle();
    });
  }

  private updateBacklog(): void {
    // Draining while more than one batch waits beyond what is in flight.
    const waiting = this.o.queue.depth() - this.inflightEvents;
    this.input({ type: "backlog", pending: waiting > this.o.config.batch.maxEvents });
  }
}

/** The seq of the row read just before `seq` in this batch. */
function prevSeq(from: readonly { seq: number }[], seq: number): number {
  let prev = 0;
  for (const x of from) {
    if (x.seq === seq) return prev;
    prev = x.seq;
  }
  return prev;
}
