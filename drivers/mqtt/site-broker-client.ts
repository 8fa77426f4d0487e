/**
 * Client mode: the gateway subscribes to the device topics on an existing site broker (MQTT.js).
 * Backpressure: MQTT.js hands packets to `handleMessage` one at a time and reads the next only
 * after its callback (and, for QoS 1, sends the PUBACK only then), so holding the callback until
 * the pipeline drains stops reading the broker's socket.
 */
import { readFileSync } from "node:fs";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { RidgeError, type Logger } from "../../core/index.js";
import type { MqttDriverConfig } from "./config.js";

export interface SiteBrokerHandler {
  onMessage(topic: string, payload: Uint8Array): boolean;
  drained(): Promise<void>;
}

export class SiteBrokerClient {
  private client: MqttClient | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly config: MqttDriverConfig,
    private readonly filters: string[],
    private readonly handler: SiteBrokerHandler,
    private readonly log: Logger,
  ) {}

  get up(): boolean {
    return this.client?.connected ?? false;
  }
  get detail(): string | undefined {
    return this.up ? undefined : (this.lastError ?? "connecting");
  }

  /** Connects in the background; a broker that is down is retried every `client.reconnect`. */
  async start(): Promise<void> {
    const c = this.config.client;
    if (!c) throw new RidgeError("E_MQTT_CONFIG", `mqtt ${this.config.name}: broker: client needs client.url`);
    const opts: IClientOptions = {
      clientId: c.clientId ?? `ridge-${this.config.name}`,
      clean: false, // keep the subscription and queued QoS 1 messages across reconnects
      keepalive: Math.max(1, Math.round(c.keepalive / 1000)),
      reconnectPeriod: c.reconnect,
      connectTimeout: 10_000,
      resubscribe: true,
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.ca ? { ca: readFileSync(c.ca) } : {}),
      ...(c.cert ? { cert: readFileSync(c.cert) } : {}),
      ...(c.key ? { key: readFileSync(c.key) } : {}),
    };
    const client = mqtt.connect(c.url, opts);
    this.client = client;
    client.handleMessage = (packet, done) => {
      if (packet.cmd !== "publish") return done();
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      let more = true;
      try {
        more = this.handler.onMessage(packet.topic, payload);
      } catch {
        more = true;
      }
      if (more) done();
      else this.handler.drained().then(() => done(), () => done());
    };
    client.on("connect", (connack) => {
      this.lastError = undefined;
      this.log.info({ driver: this.config.name, url: c.url, sessionPresent: connack.sessionPresent }, "mqtt: connected to the site broker");
      if (!connack.sessionPresent) {
        client.subscribe(this.filters.map((f) => f), { qos: c.qos }, (err, granted) => {
          if (err) this.log.error({ driver: this.config.name, error: err.message }, "mqtt: subscribe failed");
          const refused = (granted ?? []).filter((g) => g.qos === 128);
          if (refused.length) this.log.error({ driver: this.config.name, refused: refused.map((g) => g.topic) }, "mqtt: the site broker refused subscriptions");
        });
      }
    });
    client.on("error", (e) => {
      this.lastError = e.message;
      this.log.warn({ driver: this.config.name, error: e.message }, "mqtt: site broker error");
    });
    client.on("close", () => {
      if (!this.lastError) this.lastError = "disconnected";
    });
  }

  publish(topic: string, payload: Uint8Array, qos: 0 | 1 | 2, retain = false): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new RidgeError("E_MQTT_NOT_STARTED", `mqtt ${this.config.name}: not started`));
    return client.publishAsync(topic, Buffer.from(payload), { qos, retain }).then(() => undefined);
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(false).catch(() => client.end(true));
  }
}
