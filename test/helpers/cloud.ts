/**
 * Helpers for the uplink/cloud tests: Services built the way the gateway builds them (real SQLite
 * in a temp dir, silent log, own metrics registry), and a subscriber on the broker that collects
 * uplink batches and checks delivery (every id, per-device order, duplicates only as redeliveries).
 */
import mqtt, { type MqttClient } from "mqtt";
import pino from "pino";
import type { Clock, Random } from "../../core/clock.js";
import { systemClock, systemRandom } from "../../core/clock.js";
import type { Driver } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { loadBoard } from "../../boards/index.js";
import { gatewayConfig } from "../../runtime/config/schema.js";
import { Metrics } from "../../runtime/metrics.js";
import { Routes } from "../../runtime/control/routes.js";
import type { Services, Sink } from "../../runtime/services.js";
import { openDatabase } from "../../runtime/store/db.js";
import { createDownlinkRegistry } from "../../runtime/cloud/downlink.js";
import { decodeBatch, type BatchFormat } from "../../runtime/cloud/batch-codec.js";

export function makeServices(opts: { dataDir: string; config: Record<string, unknown>; clock?: Clock; random?: Random; drivers?: Map<string, Driver> }): Services {
  const config = gatewayConfig.parse({ gateway: { id: "gw-test" }, ...opts.config });
  return {
    config,
    configFile: undefined,
    board: loadBoard("sim"),
    dataDir: opts.dataDir,
    clock: opts.clock ?? systemClock,
    random: opts.random ?? systemRandom,
    log: pino({ level: process.env.RIDGE_TEST_LOG ?? "silent" }),
    metrics: new Metrics(false),
    db: openDatabase(opts.dataDir),
    routes: new Routes(),
    drivers: opts.drivers ?? new Map(),
    downlink: createDownlinkRegistry(),
    sinks: new Map<string, Sink>(),
    measureHooks: [],
  };
}

export function event(device: string, seq: number, kind = "telemetry"): Event {
  return { id: `${device}/${seq}`, ts: 1_700_000_000_000 + seq, device, kind, payload: { seq } };
}

export interface Collector {
  client: MqttClient;
  /** Every event received, in arrival order (redeliveries included). */
  events: Event[];
  ids: Set<string>;
  /** Messages on non-`up/` topics (twin, cmd results), by topic. */
  control: { topic: string; payload: string }[];
  topics: string[];
  /** Violations: an id of one device (and kind) arriving for the first time after a later id of that device and kind. */
  check(): { missing: (ids: Iterable<string>) => string[]; orderViolations: string[]; duplicates: number };
  close(): Promise<void>;
}

/** Subscribe `ridge/<gw>/#` (QoS 1, persistent session so nothing is missed across broker restarts). */
export async function collect(url: string, gatewayId = "gw-test", format: BatchFormat = "jsonl", clientId = `collector-${process.pid}-${Math.random().toString(16).slice(2, 8)}`): Promise<Collector> {
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 200, protocolVersion: 4 });
  const events: Event[] = [];
  const ids = new Set<string>();
  const control: { topic: string; payload: string }[] = [];
  const topics: string[] = [];
  client.on("message", (topic, payload) => {
    topics.push(topic);
    if (topic.includes("/up/")) {
      const d = decodeBatch(format, payload);
      if (!d.ok) throw new Error(`bad batch on ${topic}: ${d.reason}`);
      for (const e of d.events) {
        events.push(e);
        ids.add(e.id);
      }
    } else control.push({ topic, payload: payload.toString() });
  });
  client.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => client.subscribe(`ridge/${gatewayId}/#`, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  });
  return {
    client,
    events,
    ids,
    control,
    topics,
    check() {
      // Per device: the first arrival of each id must be in increasing seq order; a redelivery
      // (an id seen before) may come later and is only counted.
      const seen = new Set<string>();
      const lastFirst = new Map<string, number>();
      const orderViolations: string[] = [];
      let duplicates = 0;
      for (const e of events) {
        if (seen.has(e.id)) {
          duplicates++;
          continue;
        }
        seen.add(e.id);
        const seq = Number(e.id.split("/").pop());
        // Order is kept per device within a priority class (alarms overtake telemetry on purpose).
        const key = `${e.device} ${e.kind}`;
        const prev = lastFirst.get(key);
        if (prev !== undefined && seq < prev) orderViolations.push(`${e.id} after ${e.device}/${prev} (${e.kind})`);
        lastFirst.set(key, seq);
      }
      return { missing: (want) => [...want].filter((id) => !ids.has(id)), orderViolations, duplicates };
    },
    close: () => new Promise<void>((resolve) => client.end(true, {}, () => resolve())),
  };
}
