/**
 * Drain rate of a queued backlog to a real mosquitto on loopback (QoS 1 batches, rows deleted on
 * PUBACK), beside a baseline measured in the same run: MQTT.js publishing the same batch payloads
 * at QoS 1 with the same in-flight window and no queue at all.
 *
 *   npm run bench -- drain
 */
import mqtt from "mqtt";
import { encodeBatch } from "../runtime/cloud/batch-codec.js";
import type { Event } from "../core/index.js";
import { startMosquitto } from "../peers/mosquitto.js";
import { createUplink, makeParts } from "../test/helpers/cloud.js";
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

async function drainOnce(): Promise<number> {
  const t = tempDir("ridge-bench-drain-");
  // Fill while offline (no cloud configured), then open the same data directory with the link.
  const off = makeParts({ dataDir: t.dir, config: { gateway: { id: "gw-bench" } } });
  const filler = await createUplink(off);
  for (let i = 0; i < N; i += 5000) await filler.sink.accept(all.slice(i, i + 5000));
  await filler.stop();
  off.db.close();
  const s = makeParts({ dataDir: t.dir, config: { gateway: { id: "gw-bench" }, cloud: { mqtt: { url: broker.url, version: "5", batch: { maxEvents: BATCH }, inflight: INFLIGHT } } } });
  const up = await createUplink(s);
  if (up.queue.depth() !== N) throw new Error(`expected ${N} queued, found ${up.queue.depth()}`);
  const t0 = performance.now();
  await up.start();
  await waitFor("drained", () => up.queue.depth() === 0, 120_000, 5);
  const ms = performance.now() - t0;
  await up.stop();
  s.db.close();
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
