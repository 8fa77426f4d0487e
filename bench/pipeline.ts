/**
 * Pipeline benchmark (issue 3): 12,000 simulated devices; filter → map → dedup → 1 s tumbling
 * window per device → counting sink.
 *
 * - throughput on one core, beside a hand-written loop doing the same computation in the same run;
 * - latency (ingest → sink, HDR p50/p99/p99.9) at a steady offered 87,000 events/s;
 * - heap for 12,000 open windows above idle;
 * - reload swap time of a 20-operator pipeline while events flow.
 *
 *   npm run bench -- pipeline
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import pino from "pino";
import { systemClock, type Event } from "../core/index.js";
import { loadConfig } from "../runtime/config/load.js";
import { Routes } from "../runtime/control/routes.js";
import { Metrics } from "../runtime/metrics.js";
import { Measurements } from "../runtime/contracts.js";
import { Pipeline } from "../runtime/pipeline/index.js";
import { openDatabase } from "../runtime/store/db.js";
import { report, type RowInput } from "./harness.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const DEVICES = 12_000;
const RATE = 87_000;
const PERIOD_MS = (DEVICES / RATE) * 1000; // per-device reading period at the reference rate

const TOPOLOGY = `gateway: { id: bench }
drivers: []
pipeline:
  checkpoint: { every: 1h }
  sources: { gen: { from: gen } }
  operators:
    f: { filter: "payload.altitude >= 500 and payload.altitude <= 4500", input: gen }
    m: { map: { temp_f: "payload.temp_c * 9 / 5 + 32" }, input: f }
    d: { dedup: { max: 200000, ttl: 30s }, input: m }
    w: { window: { tumbling: 1s, watermark: 0, idle: 1h }, aggregate: { n: "count()", t: "avg(payload.temp_f)" }, input: d }
  sinks:
    count: { log: {}, input: w, batch: 4096 }
`;

interface Rig {
  p: Pipeline;
  counted: () => number;
  close(): Promise<void>;
}

async function rig(yaml: string): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), "ridge-bench-pipe-"));
  const file = join(dir, "gateway.yaml");
  writeFileSync(file, yaml);
  const loaded = loadConfig({ file, board: "sim", data: dir });
  let n = 0;
  const db = openDatabase(dir);
  const counter = { accept: async (b: Event[]) => void (n += b.length) };
  const p = new Pipeline({
    config: loaded.config.pipeline,
    devices: loaded.config.devices,
    loadConfig: () => loaded.config.pipeline,
    configFile: file,
    dataDir: dir,
    gatewayId: loaded.config.gateway.id,
    db,
    clock: systemClock,
    log: pino({ level: "silent" }),
    metrics: new Metrics(false),
    routes: new Routes(),
    measurements: new Measurements(),
    uplink: () => counter,
    sinkOverride: () => counter,
  });
  await p.start();
  return {
    p,
    counted: () => n,
    async close() {
      await p.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A deterministic uniform [0, 1) from an integer (splitmix-style hash): events are made on the fly, as a driver would. */
function u(n: number): number {
  let x = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

/** Reading i: devices in round-robin, event time advancing at the reference rate; ~1% re-sent duplicates, ~2% outliers. */
function eventAt(i: number): Event {
  if (i > DEVICES && u(i * 3 + 1) < 0.01) return eventAt(i - DEVICES);
  const dev = i % DEVICES;
  const k = Math.floor(i / DEVICES);
  return {
    id: `tracker-${dev}/${k}`,
    ts: Math.floor(k * PERIOD_MS),
    device: `tracker-${dev}`,
    kind: "telemetry",
    payload: { altitude: u(i * 3 + 2) < 0.02 ? 9000 : 1000 + u(i * 7) * 2000, temp_c: u(i * 11) * 30 },
  };
}

/** The same computation as a hand-written loop: the baseline. */
function baseline(count: number, from = 0): { perSec: number; results: number } {
  const t0 = performance.now();
  const seen = new Map<string, number>();
  const ring: string[] = new Array(200_000);
  let head = 0;
  let tail = 0;
  const wins = new Map<string, { start: number; n: number; sum: number }>();
  let results = 0;
  for (let i = from; i < from + count; i++) {
    const e = eventAt(i);
    const alt = e.payload.altitude as number;
    if (!(alt >= 500 && alt <= 4500)) continue;
    // copied the way a careful hand would (and `map` does): a spread clone that then gets a new key
    // takes V8's slow path, which made an earlier version of this loop 1.5-2× slower
    const payload = Object.assign({}, e.payload);
    payload.temp_f = ((e.payload.temp_c as number) * 9) / 5 + 32;
    const m: Event = { id: e.id, ts: e.ts, device: e.device, kind: e.kind, payload };
    if (seen.has(m.id)) continue;
    seen.set(m.id, m.ts);
    ring[tail++ % 200_000] = m.id;
    if (tail - head > 200_000) seen.delete(ring[head++ % 200_000]!);
    const start = Math.floor(m.ts / 1000) * 1000;
    const w = wins.get(m.device);
    if (w && w.start !== start) {
      results++;
      w.start = start;
      w.n = 0;
      w.sum = 0;
    }
    const cur = w ?? { start, n: 0, sum: 0 };
    cur.n++;
    cur.sum += m.payload.temp_f as number;
    if (!w) wins.set(m.device, cur);
  }
  const ms = performance.now() - t0;
  return { perSec: (count / ms) * 1000, results };
}

async function waitQuiet(r: Rig): Promise<void> {
  let last = -1;
  for (;;) {
    await new Promise((res) => setImmediate(res));
    const e = r.p.engine();
    if (e.operatorsQuiet() && r.counted() === last) return;
    last = r.counted();
  }
}

/** Where one event's time goes: µs per ingested event in each operator (GC pauses that land in one count there), and the rest. */
type Breakdown = Record<string, number>;

async function throughput(count: number): Promise<{ perSec: number; results: number; breakdown: Breakdown }> {
  const r = await rig(TOPOLOGY);
  const t0 = performance.now();
  // as a driver does (the sim driver among them): emit until the pipeline says slow down, then wait
  for (let i = 0; i < count; i++) if (!r.p.ingest(eventAt(i), "gen")) await r.p.drained();
  await waitQuiet(r);
  const ms = performance.now() - t0;
  const results = r.counted();
  const nodes = (r.p.stats.summary() as { nodes: Record<string, { in: number; avgUsPerEvent: number }> }).nodes;
  const breakdown: Breakdown = {};
  let inOps = 0;
  for (const [name, n] of Object.entries(nodes)) {
    if (!["f", "m", "d", "w"].includes(name)) continue;
    breakdown[name] = (n.avgUsPerEvent * n.in) / count;
    inOps += breakdown[name];
  }
  breakdown.rest = (ms * 1000) / count - inOps;
  await r.close();
  return { perSec: (count / ms) * 1000, results, breakdown };
}

/**
 * Ingest → sink latency at the steady offered rate: events are made and ingested on a 1 ms timer
 * (as a driver delivering what arrived since its last callback), the first `warmup` seconds (every
 * device's first windows, index growth) are left out, then `seconds` are measured.
 */
async function latency(seconds: number, warmup = 2): Promise<{ p50: number; p99: number; p999: number; offered: number }> {
  const r = await rig(TOPOLOGY);
  const total = RATE * (warmup + seconds);
  const warm = RATE * warmup;
  let i = 0;
  let tm = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const step = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
      while (i < due) {
        r.p.ingest(eventAt(i++), "gen");
        if (i === warm) {
          r.p.stats.e2e.reset();
          tm = performance.now();
        }
      }
      if (i >= total) return done();
      setTimeout(step, 1);
    };
    step();
  });
  const offered = ((i - warm) / (performance.now() - tm)) * 1000;
  await waitQuiet(r);
  const st = r.p.stats;
  const out = { p50: st.latencyUs(50) / 1000, p99: st.latencyUs(99) / 1000, p999: st.latencyUs(99.9) / 1000, offered };
  await r.close();
  return out;
}

async function memory(): Promise<{ mb: number; open: number; baselineMb: number }> {
  const r = await rig(TOPOLOGY);
  gc();
  await new Promise((res) => setTimeout(res, 50));
  gc();
  const idle = process.memoryUsage().heapUsed;
  for (let d = 0; d < DEVICES; d++) if (!r.p.ingest({ id: `tracker-${d}/0`, ts: 500, device: `tracker-${d}`, kind: "telemetry", payload: { altitude: 1000, temp_c: 20 } }, "gen")) await r.p.drained();
  await waitQuiet(r);
  gc();
  await new Promise((res) => setTimeout(res, 50));
  gc();
  const used = process.memoryUsage().heapUsed - idle;
  const open = (r.p.engine().ops.find((n) => n.name === "w")!.op.status!().openWindows as number) ?? 0;
  // baseline: the hand-written loop's state for the same 12,000 windows and ids
  gc();
  const b0 = process.memoryUsage().heapUsed;
  const wins = new Map<string, { start: number; n: number; sum: number }>();
  const seen = new Map<string, number>();
  for (let d = 0; d < DEVICES; d++) {
    wins.set(`tracker-${d}`, { start: 0, n: 1, sum: 68 });
    seen.set(`tracker-${d}/0`, 500);
  }
  gc();
  const baselineMb = (process.memoryUsage().heapUsed - b0) / 2 ** 20;
  if (wins.size + seen.size === 0) console.log("");
  await r.close();
  return { mb: used / 2 ** 20, open, baselineMb };
}

function twentyOps(variant: number): string {
  const ops: string[] = [];
  let prev = "gen";
  for (let i = 0; i < 18; i++) {
    const name = `o${i}`;
    ops.push(i % 2 ? `    ${name}: { filter: "payload.altitude > ${i === 9 ? variant : -1}", input: ${prev} }` : `    ${name}: { map: { f${i}: "payload.temp_c + ${i}" }, input: ${prev} }`);
    prev = name;
  }
  ops.push(`    dd: { dedup: { max: 100000, ttl: 1m }, input: ${prev} }`);
  ops.push(`    ww: { window: { tumbling: 1s, watermark: 0, idle: 1h }, aggregate: { n: "count()" }, input: dd }`);
  return `gateway: { id: bench }\ndrivers: []\npipeline:\n  checkpoint: { every: 1h }\n  sources: { gen: { from: gen } }\n  operators:\n${ops.join("\n")}\n  sinks:\n    count: { log: {}, input: ww }\n`;
}

async function reload(): Promise<{ swapMs: number; totalMs: number; lost: number }> {
  const r = await rig(twentyOps(-1));
  const count = 200_000;
  let i = 0;
  let running = true;
  const producer = (async () => {
    while (running && i < count) {
      for (let k = 0; k < 100 && i < count; k++) r.p.ingest(eventAt(i++), "gen"); // ~10k events/s
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  await new Promise((res) => setTimeout(res, 300));
  const swaps: number[] = [];
  const totals: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    const res = await r.p.reload(twentyOps(-2 - k));
    totals.push(performance.now() - t0);
    if (!res.ok) throw new Error(JSON.stringify(res.errors));
    swaps.push(res.ms!);
    await new Promise((res2) => setTimeout(res2, 100));
  }
  running = false;
  await producer;
  await waitQuiet(r);
  await r.close();
  return { swapMs: Math.max(...swaps), totalMs: Math.max(...totals), lost: 0 };
}

const N = Number(process.env.BENCH_N ?? 2_000_000);
const ROUNDS = 5;
// warm-up both paths, then measure (best of ROUNDS each, alternating: a shared machine's speed drifts by ±20 % within a minute)
baseline(200_000);
await throughput(200_000);
const base: number[] = [];
const pipe: number[] = [];
let best: Breakdown = {};
for (let k = 0; k < ROUNDS; k++) {
  base.push(baseline(N).perSec);
  const t = await throughput(N);
  if (t.perSec > Math.max(0, ...pipe)) best = t.breakdown;
  pipe.push(t.perSec);
}
const bestBase = Math.max(...base);
const bestPipe = Math.max(...pipe);
console.log(`throughput runs (events/s): pipeline ${pipe.map(Math.round).join(", ")}; loop ${base.map(Math.round).join(", ")}`);
console.log(`best pipeline run, µs per event: ${Object.entries(best).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ")} (rest: generation, ingest, queues, sink, GC between operators)`);
// latency from a clean heap (the throughput runs leave garbage a major GC would collect mid-run),
// three runs on fresh pipelines, the median run by p99 reported (all three printed)
const lats: Awaited<ReturnType<typeof latency>>[] = [];
for (let k = 0; k < 3; k++) {
  gc();
  gc();
  lats.push(await latency(5));
}
console.log(`latency runs (p50/p99/p99.9 ms): ${lats.map((l) => `${l.p50.toFixed(3)}/${l.p99.toFixed(3)}/${l.p999.toFixed(3)}`).join(", ")}`);
const lat = [...lats].sort((a, b) => a.p99 - b.p99)[1]!;
const mem = await memory();
const rl = await reload();

const rows: RowInput[] = [
  { metric: `throughput (12k devices, filter→map→dedup→1s window), best of ${ROUNDS}`, value: bestPipe, unit: "events/s", baseline: "hand-written loop", baselineValue: bestBase, target: ">= 1,000,000 and >= baseline / 2", pass: bestPipe >= 1_000_000 && bestPipe >= bestBase / 2 },
  { metric: `latency p50 at ${Math.round(lat.offered)} events/s offered (median of 3 runs)`, value: lat.p50, unit: "ms", baseline: "p99 target", baselineValue: 1, target: "report", pass: true },
  { metric: `latency p99 at ${Math.round(lat.offered)} events/s offered (median of 3 runs)`, value: lat.p99, unit: "ms", baseline: "target", baselineValue: 1, target: "< 1 ms", pass: lat.p99 < 1 },
  { metric: `latency p99.9 at ${Math.round(lat.offered)} events/s offered (median of 3 runs)`, value: lat.p999, unit: "ms", baseline: "p99 target", baselineValue: 1, target: "report", pass: true },
  { metric: `heap for ${mem.open} open windows above idle`, value: mem.mb, unit: "MB", baseline: "hand-written loop state", baselineValue: mem.baselineMb, target: "< 50 MB", pass: mem.mb < 50 },
  { metric: "reload swap, 20 operators, 10k events/s flowing (max of 5)", value: rl.swapMs, unit: "ms", baseline: "target", baselineValue: 50, target: "< 50 ms", pass: rl.swapMs < 50 },
  { metric: "reload incl. config load and validation (max of 5)", value: rl.totalMs, unit: "ms", baseline: "target", baselineValue: 50, target: "report", pass: true },
];
report("pipeline", rows);
