/**
 * Drain rate of a queued backlog to a real mosquitto on loopback (QoS 1 batches, rows deleted on
 * PUBACK), beside a baseline measured in the same run: MQTT.js publishing the same batch payloads
 * at QoS 1 with the same in-flight window and no queue at all.
 *
 *   npm run bench -- drain
 */
import mqtt from "mqtt";
import pino from "pino";
import { encodeBatch } from "../runtime/cloud/batch-codec.js";
import { LinkComponent, cloudConfig, createDownlinkRegistry } from "../runtime/cloud/index.js";
import { Routes } from "../runtime/control/routes.js";
import { Metrics } from "../runtime/metrics.js";
import { openDatabase } from "../runtime/store/db.js";
import { QueueComponent } from "../runtime/store/index.js";
import { systemClock, systemRandom, type Event } from "../core/index.js";
import { startMosquitto } from "../peers/mosquitto.js";
import { tempDir, waitFor } from "../peers/process.js";
import { median, report } from "./harness.js";

const N = Number(process.env.RIDGE_BENCH_DRAIN_EVENTS ?? 200_000);
const BATCH = 500;
const INFLIGHT = 16;

function events(n: number): Event[] {
  return Array.from({ length: n }, (_, k) => ({ id: `tracker-${k % 24}/${k}`, ts: 1_700_000_000_000 + k, device: `tracker-${k % 24}`, kind: "telemetry", payload: { lat: 46.5 + (k % 100) / 1e4, lon: 7.9, alt: 1800 + (k % 50), hr: 120 } }));
}

const broker = await startMosquitto({ maxSeconds: 300 });
const all = events(N);

/** The uplink queue on `dataDir` and, with `cloud.mqtt`, its link: the two components this bench measures, wired as runtime/gateway.ts wires them. */
function uplink(dataDir: string, cloud: Record<string, unknown>) {
  const config = cloudConfig.parse(cloud);
  const db = openDatabase(dataDir);
  const shared = { clock: systemClock, log: pino({ level: "silent" }), metrics: new Metrics(false) };
  const queue = new QueueComponent({ db, config: config.queue, routes: new Routes(), ...shared, onCorrupt: (f) => { throw new Error(`store fault during the bench: ${f.code} ${f.message}`); } });
  const link = config.mqtt
    ? new LinkComponent({ config: config.mqtt, gatewayId: "gw-bench", dataDir, queue: queue.queue, random: systemRandom, downlink: createDownlinkRegistry(), onConnected: () => undefined, ...shared })
    : undefined;
  return { db, queue, link };
}

async function drainOnce(): Promise<number> {
  const t = tempDir("ridge-bench-drain-");
  // Fill while offline (no link), then open the same data directory with the link.
  const off = uplink(t.dir, {});
  for (let i = 0; i < N; i += 5000) await off.queue.queue.append(all.slice(i, i + 5000));
  await off.queue.stop();
  off.db.close();
  const up = uplink(t.dir, { mqtt: { url: broker.url, version: "5", batch: { maxEvents: BATCH }, inflight: INFLIGHT } });
  if (!up.link) throw new Error("no cloud link configured");
  if (up.queue.queue.depth() !== N) throw new Error(`expected ${N} queued, found ${up.queue.queue.depth()}`);
  const t0 = performance.now();
  await up.queue.start();
  await up.link.start();
  await waitFor("drained", () => up.queue.queue.depth() === 0, 120_000, 5);
  const ms = performance.now() - t0;
  await up.link.stop();
  await up.queue.stop();
  up.db.close();
  t.cleanup();
  return (N / ms) * 1000;
}

async function rawOnce(): Promise<number> {
  const payloads: Buffer[] = [];
  for (let i = 0; i < N; i += BATCH) payloads.push(encodeBatch("jsonl", all.slice(i, i + BATCH).map((e) => JSON.stringify(e))));
  const c = mqtt.connect(broker.url, { protocolVersion: 5, clientId: "raw-bench", clean: true });
  await new Promise((r) => c.once("connect", r));
  const t0 = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    let acked = 0;
    const send = () => {
      const p = payloads[next++];
      if (!p) return;
      c.publish("ridge/raw/up/telemetry", p, { qos: 1 }, () => {
        if (++acked === payloads.length) resolve();
        else send();
      });
    };
    for (let i = 0; i < INFLIGHT; i++) send();
  });
  const ms = performance.now() - t0;
  await c.endAsync();
  return (N / ms) * 1000;
}

try {
  const raw: number[] = [];
  const drain: number[] = [];
  for (let i = 0; i < 3; i++) {
    raw.push(await rawOnce());
    drain.push(await drainOnce());
  }
  const d = median(drain);
  report("drain", [
    { metric: `drain rate to mosquitto (${N} queued, ${BATCH}-event batches, ${INFLIGHT} in flight)`, value: d, unit: "events/s", baseline: "MQTT.js QoS 1, same payloads, no queue", baselineValue: median(raw), target: ">= 50000 events/s", pass: d >= 50_000 },
  ]);
} finally {
  await broker.cleanup();
}
