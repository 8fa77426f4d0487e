/**
 * `mqtt: { url, topic, qos, retain }`: publishes each event as JSON to a local broker; the topic
 * template takes `{device}`, `{kind}`, `{id}`. With QoS 1/2 a batch is acknowledged after every
 * PUBACK/PUBCOMP, so a broker that is down keeps the batch (the runner retries it).
 */
import type { MqttClient } from "mqtt";
import type { Event } from "../../../core/index.js";
import type { ClosableSink } from "../sink-runner.js";

export interface MqttSinkOptions {
  url: string;
  topic: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  username?: string | undefined;
  password?: string | undefined;
  clientId: string;
}

const SAFE = /[+#\u0000]/g;

export function topicFor(template: string, e: Event): string {
  return template.replace(/\{(device|kind|id)\}/g, (_m, k: "device" | "kind" | "id") => String(e[k]).replace(SAFE, "_"));
}

export function createMqttSink(o: MqttSinkOptions): ClosableSink {
  let client: MqttClient | undefined;
  let connecting: Promise<MqttClient> | undefined;
  const connect = async (): Promise<MqttClient> => {
    const mqtt = await import("mqtt");
    const c = mqtt.connect(o.url, {
      clientId: o.clientId,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    });
    c.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`cannot connect to ${o.url}`)), 5000);
      c.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
    }).catch((e: unknown) => {
      c.end(true);
      throw e;
    });
    client = c;
    return c;
  };
  return {
    async accept(batch: Event[]) {
      const c = client ?? (await (connecting ??= connect().finally(() => (connecting = undefined))));
      if (!c.connected) throw new Error(`not connected to ${o.url}`);
      await Promise.all(batch.map((e) => c.publishAsync(topicFor(o.topic, e), JSON.stringify(e), { qos: o.qos, retain: o.retain })));
    },
    async close() {
      await client?.endAsync();
      client = undefined;
    },
  };
}
