/**
 * The MQTT driver: topics → devices and event kinds, payloads → Events, write() → the device's
 * command topic. The transport is the embedded broker or a client of the site broker; both hand
 * messages to `onMessage` and honour its backpressure answer.
 *
 * Event ids: the payload's own `id` when it has one, else `${device}/${seq}` where seq starts at
 * the start time in µs and counts up per device, so ids stay unique across restarts without a
 * write per event.
 */
import { systemClock, RidgeError, type Clock, type Driver, type DriverContext, type DriverHealth, type Event } from "../../core/index.js";
import { BadInputReporter } from "./bad-input.js";
import type { MqttDeviceConfig, MqttDriverConfig, PayloadFormat } from "./config.js";
import { EmbeddedBroker, type BrokerPolicy, type ClientIdentity } from "./embedded-broker.js";
import { decodePayload } from "./payload-decoder.js";
import { SiteBrokerClient } from "./site-broker-client.js";
import { fillTopic, TopicPattern } from "./topic-pattern.js";

interface Mapping {
  pattern: TopicPattern;
  kind: string;
  format: PayloadFormat;
  /** Set for a device's own topic overrides: only that device may match. */
  only?: string;
}

interface Route {
  device: string;
  mapping: Mapping;
  /** The message counter's labels (one object per device, not one per message). */
  labels: Record<string, string>;
}

/** Topics whose route is remembered (route()). */
const ROUTES_REMEMBERED = 4096;

export const MESSAGES_METRIC = "mqtt_messages_total";

export class MqttDriver implements Driver {
  readonly name: string;
  private readonly devices = new Map<string, MqttDeviceConfig>();
  private readonly byUsername = new Map<string, string>();
  private readonly mappings: Mapping[] = [];
  private readonly seq = new Map<string, number>();
  private readonly routes = new Map<string, Route | null>();
  private ctx: DriverContext | undefined;
  private clock: Clock = systemClock;
  private bad: BadInputReporter | undefined;
  private broker: EmbeddedBroker | undefined;
  private client: SiteBrokerClient | undefined;
  private seqBase = 0;
  private received = 0;
  private dropped = 0;

  constructor(
    private readonly config: MqttDriverConfig,
    devices: MqttDeviceConfig[],
  ) {
    this.name = config.name;
    for (const d of devices) {
      this.devices.set(d.id, d);
      this.byUsername.set(d.username ?? d.id, d.id);
      for (const t of d.topics ?? []) this.mappings.push({ pattern: new TopicPattern(t.pattern), kind: t.kind, format: t.format, only: d.id });
    }
    for (const t of config.topics) this.mappings.push({ pattern: new TopicPattern(t.pattern), kind: t.kind, format: t.format });
  }

  /** The embedded broker's bound addresses (port 0 in config picks a free port). */
  get addresses(): EmbeddedBroker["addresses"] {
    return this.broker?.addresses ?? {};
  }

  async start(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    this.clock = ctx.clock;
    this.seqBase = Math.floor(ctx.clock.now()) * 1000;
    this.bad = new BadInputReporter(ctx, ctx.clock, this.name);
    if (this.config.broker === "embedded") {
      this.broker = new EmbeddedBroker(this.config, this.policy(), this.bad, ctx.clock);
      await this.broker.start();
      ctx.log.info({ driver: this.name, ...this.broker.addresses }, "mqtt: embedded broker listening");
    } else {
      const filters = [...new Set(this.mappings.map((m) => m.pattern.filter(m.only)))];
      this.client = new SiteBrokerClient(this.config, filters, { onMessage: (t, p) => this.onMessage(t, p), drained: () => ctx.drained() }, ctx.log);
      await this.client.start();
    }
  }

  async stop(): Promise<void> {
    const b = this.broker;
    const c = this.client;
    this.broker = undefined;
    this.client = undefined;
    await Promise.all([b?.stop(), c?.stop()]);
  }

  health(): DriverHealth {
    if (this.broker) return this.broker.up ? { up: true } : { up: false, detail: "broker not listening" };
    if (this.client) return this.client.up ? { up: true } : { up: false, detail: `site broker: ${this.client.detail ?? "down"}` };
    return { up: false, detail: "not started" };
  }

  status(): Record<string, unknown> {
    return {
      mode: this.config.broker,
      ...(this.broker ? { listening: this.broker.addresses, clients: this.broker.connectedClients } : {}),
      ...(this.client ? { connected: this.client.up } : {}),
      devices: this.devices.size,
      received: this.received,
      dropped: this.dropped,
    };
  }

  /** Publish `value` (as JSON) to the device's command topic; `point` fills `{point}`. */
  async write(device: string, point: string, value: unknown): Promise<void> {
    const d = this.devices.get(device);
    if (!d) throw new RidgeError("E_MQTT_UNKNOWN_DEVICE", `mqtt ${this.name}: no device "${device}" on this driver`);
    const topic = fillTopic(d.command ?? this.config.command, device, point);
    const body = new TextEncoder().encode(JSON.stringify(value ?? null));
    if (this.broker) return this.broker.publish(topic, body, this.config.commandQos);
    if (this.client) return this.client.publish(topic, body, this.config.commandQos);
    throw new RidgeError("E_MQTT_NOT_STARTED", `mqtt ${this.name}: write before start`);
  }

  /** The device's whole desired twin document, retained on its desired topic (a device that connects later still gets it). */
  async desired(device: string, doc: { version: number; state: Record<string, unknown> }): Promise<void> {
    const d = this.devices.get(device);
    if (!d) throw new RidgeError("E_MQTT_UNKNOWN_DEVICE", `mqtt ${this.name}: no device "${device}" on this driver`);
    const topic = fillTopic(d.desired ?? this.config.desired, device, "");
    const body = new TextEncoder().encode(JSON.stringify({ version: doc.version, state: doc.state }));
    if (this.broker) return this.broker.publish(topic, body, this.config.commandQos, true);
    if (this.client) return this.client.publish(topic, body, this.config.commandQos, true);
    throw new RidgeError("E_MQTT_NOT_STARTED", `mqtt ${this.name}: desired state before start`);
  }

  private known(d: string | undefined): string {
    return d !== undefined && this.devices.has(d) ? d : "unknown";
  }

  /**
   * Map a topic to (device, mapping), remembered per topic: devices publish on the same topics
   * over and over. Bounded (cleared when full), so a client cycling through topics cannot grow it.
   */
  private route(topic: string): Route | undefined {
    const hit = this.routes.get(topic);
    if (hit !== undefined) return hit ?? undefined;
    let r: Route | null = null;
    for (const m of this.mappings) {
      const device = m.pattern.match(topic);
      if (device !== undefined && (m.only === undefined || m.only === device)) {
        r = { device, mapping: m, labels: { driver: this.name, device } };
        break;
      }
    }
    if (this.routes.size >= ROUTES_REMEMBERED) this.routes.clear();
    this.routes.set(topic, r);
    return r ?? undefined;
  }

  /** One message from a device. Returns the pipeline's backpressure answer. */
  onMessage(topic: string, payload: Uint8Array, identity?: ClientIdentity): boolean {
    const ctx = this.ctx;
    const bad = this.bad;
    if (!ctx || !bad) return true;
    this.received++;
    const r = this.route(topic);
    if (!r) {
      this.dropped++;
      bad.report(this.known(identity?.device), "unmapped_topic", { topic: topic.slice(0, 200) });
      return true;
    }
    const { device, mapping } = r;
    if (!this.devices.has(device)) {
      this.dropped++;
      bad.report("unknown", "unknown_device", { name: device.slice(0, 64), topic: topic.slice(0, 200) });
      return true;
    }
    if (identity?.device !== undefined && identity.device !== device) {
      this.dropped++;
      bad.report(this.known(identity.device), "acl_denied", { topic: topic.slice(0, 200) });
      return true;
    }
    const decoded = decodePayload(mapping.format, payload, this.clock.now());
    if (!decoded.ok) {
      this.dropped++;
      bad.report(device, "malformed", { topic: topic.slice(0, 200), why: `${decoded.code}: ${decoded.reason}`.slice(0, 300), bytes: payload.length });
      return true;
    }
    ctx.count(MESSAGES_METRIC, r.labels);
    let more = true;
    for (const reading of decoded.value) {
      const ev: Event = {
        id: reading.id ?? `${device}/${this.nextSeq(device)}`,
        ts: reading.ts,
        device,
        kind: mapping.kind,
        payload: reading.payload,
        meta: reading.meta ? { driver: this.name, topic, ...reading.meta } : { driver: this.name, topic },
      };
      if (!ctx.emit(ev)) more = false;
    }
    return more;
  }

  private nextSeq(device: string): number {
    const n = (this.seq.get(device) ?? this.seqBase) + 1;
    this.seq.set(device, n);
    return n;
  }

  private policy(): BrokerPolicy {
    const users = this.config.auth.users;
    const ownFilters = (device: string) => this.mappings.filter((m) => m.only === undefined || m.only === device).map((m) => m.pattern.filter(device));
    const commandFilter = (device: string) => {
      const d = this.devices.get(device);
      const tpl = d?.command ?? this.config.command;
      return tpl.endsWith("/{point}") ? fillTopic(tpl.slice(0, -"/{point}".length), device) + "/#" : fillTopic(tpl, device, "+");
    };
    const extra = (list: string[], device: string) => list.map((f) => fillTopic(f, device));
    // its own desired-document topic (twin): retained, read-only for the device
    const desiredFilter = (device: string) => fillTopic(this.devices.get(device)?.desired ?? this.config.desired, device, "+");
    return {
      deviceForUsername: (u) => this.byUsername.get(u),
      passwordHashFor: (u) => {
        const id = this.byUsername.get(u);
        return (id !== undefined ? this.devices.get(id)?.password : undefined) ?? users[u];
      },
      isDevice: (id) => this.devices.has(id),
      publishFilters: (id) => {
        if (id.device !== undefined) return [...ownFilters(id.device), ...extra(this.config.acl.publish, id.device)];
        return [...this.mappings.map((m) => m.pattern.filter(m.only)), ...extra(this.config.acl.publish, "+")];
      },
      subscribeFilters: (id) => {
        if (id.device !== undefined) return [commandFilter(id.device), desiredFilter(id.device), ...extra(this.config.acl.subscribe, id.device)];
        return [commandFilter("+"), desiredFilter("+"), ...extra(this.config.acl.subscribe, "+")];
      },
      onMessage: (topic, payload, identity) => this.onMessage(topic, payload, identity),
      drained: () => this.ctx?.drained() ?? Promise.resolve(),
    };
  }
}
