/**
 * End to end: N simulated devices (MQTT.js clients, QoS 0) publish JSON telemetry into a real
 * `ridge run` (its embedded MQTT broker on loopback), whose pipeline filters on altitude, dedups by
 * id, keeps 10 s event-time tumbling windows per device and sends the deduped events and the window
 * aggregates to an uplink sink, drained to a real cloud mosquitto on loopback (QoS 1 batches). A
 * subscriber on the cloud broker stamps each event's arrival.
 *
 * Beside it, in the same run, Node-RED (installed from the npm registry into .cache/node-red at bench
 * time, never a project dependency) does the same job with a flow written here: mqtt in from its
 * own site broker (a mosquitto: Node-RED has none built in), function nodes for the envelope and
 * the altitude filter, dedup and the per-device window, mqtt out QoS 1 to the same cloud mosquitto.
 * The gateway's CPU is its one process (broker included); Node-RED's is Node-RED plus its site broker.
 *
 * Measured, per system: the highest step rate with ≥ 99.9 % of the expected events (in range,
 * first copy of each id) in the cloud within 2 s of their device timestamp; p50/p99 device→cloud
 * latency and CPU seconds per 100k published messages at the 5,000 msg/s step (utime+stime from
 * /proc/<pid>/stat); RSS idle, at the end of the load, and 60 s after.
 *
 * The load generator is a child process (this file with `--load`), so neither side pays for it.
 *
 *   npm run bench -- e2e
 *   E2E_DEVICES=200 E2E_STEP_SECONDS=10 E2E_RATES=1000,2000,5000,… E2E_NR_RATES=… E2E_SETTLE=60
 *   E2E_PROFILE=1: only the gateway at E2E_PROFILE_RATE (5000) msg/s for E2E_STEP_SECONDS with
 *   --cpu-prof; prints its CPU per event by stage (broker, decode, envelope, pipeline, queue, batch
 *   encode, publish, ack/delete) and leaves the profile in .cache/e2e-profile/.
 */
import { fork, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..");
const DEVICES = Number(process.env.E2E_DEVICES ?? 200);
const STEP_SECONDS = Number(process.env.E2E_STEP_SECONDS ?? 10);
const SETTLE_SECONDS = Number(process.env.E2E_SETTLE ?? 60);
const RATES = (process.env.E2E_RATES ?? "1000,2000,5000,10000,15000,20000,30000,40000,60000").split(",").map(Number);
const NR_RATES = (process.env.E2E_NR_RATES ?? "500,1000,2000,5000,7500,10000,15000,20000").split(",").map(Number);
const LATENCY_RATE = 5000;
const DEBUG = process.env.E2E_DEBUG === "1";
/** E2E_ONLY=ridgeline: skip Node-RED (development runs). */
const ONLY = process.env.E2E_ONLY;
const WITHIN_MS = 2000;
const DELIVERED = 0.999;

/** Every 20th message of a device is out of the altitude range (filtered), every 100th is sent twice (deduped). */
const inRange = (seq: number) => seq % 20 !== 7;
const duplicated = (seq: number) => seq % 100 === 50;

// ------------------------------------------------------------------ load generator (child)

interface LoadConnect {
  url: string;
  devices: number;
}
interface LoadStep {
  rate: number;
  seconds: number;
}
interface StepDone {
  sent: number;
  ms: number;
  /** Per device: the first and last seq published in this step. */
  ranges: [number, number][];
}

async function runLoad(): Promise<void> {
  const { default: mqtt } = await import("mqtt");
  const send = (m: unknown) => process.send!(m);
  const first = await new Promise<LoadConnect>((r) => process.once("message", (m: LoadConnect) => r(m)));
  const clients = await Promise.all(
    Array.from({ length: first.devices }, (_, i) =>
      new Promise<import("mqtt").MqttClient>((resolve, reject) => {
        const c = mqtt.connect(first.url, { clientId: `dev-${i}`, protocolVersion: 4, reconnectPeriod: 0, keepalive: 60, clean: true });
        c.once("connect", () => resolve(c));
        c.once("error", reject);
      }),
    ),
  );
  const topics = clients.map((_, i) => `devices/dev-${i}/telemetry`);
  const seqs = clients.map(() => 0);
  let rr = 0;
  const publishOne = (): number => {
    const d = rr++ % clients.length;
    const seq = ++seqs[d]!;
    const alt = inRange(seq) ? 600 + ((seq * 37) % 3800) : 120;
    const body = `{"id":"dev-${d}/${seq}","ts":${Date.now()},"altitude":${alt},"lat":${(46.5 + (seq % 1000) / 1e5).toFixed(5)},"lon":7.91,"hr":${100 + (seq % 60)}}`;
    clients[d]!.publish(topics[d]!, body, { qos: 0 });
    if (duplicated(seq)) {
      clients[d]!.publish(topics[d]!, body, { qos: 0 });
      return 2;
    }
    return 1;
  };
  process.on("message", (m: { step?: LoadStep; end?: boolean }) => {
    if (m.end) {
      for (const c of clients) c.end(true);
      setTimeout(() => process.exit(0), 200);
      return;
    }
    if (!m.step) return;
    const { rate, seconds } = m.step;
    const before = [...seqs];
    const t0 = performance.now();
    const total = Math.round(rate * seconds);
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(total, Math.floor((rate * (performance.now() - t0)) / 1000));
      while (sent < due) sent += publishOne();
      if (sent < total) setTimeout(tick, 2);
      else send({ done: { sent, ms: performance.now() - t0, ranges: seqs.map((s, i) => [before[i]! + 1, s]) } satisfies StepDone });
    };
    tick();
  });
  send({ ready: true });
}

interface Generator {
  child: ChildProcess;
  step(rate: number, seconds: number): Promise<StepDone>;
  end(): void;
}

async function generator(url: string): Promise<Generator> {
  const child = fork(fileURLToPath(import.meta.url), ["--load"], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  await new Promise<void>((resolve, reject) => {
    child.on("message", (m: { ready?: boolean }) => m.ready && resolve());
    child.once("exit", (code) => reject(new Error(`load generator exited ${code}`)));
    child.send({ url, devices: DEVICES } satisfies LoadConnect);
  });
  return {
    child,
    step: (rate, seconds) =>
      new Promise((resolve) => {
        const on = (m: { done?: StepDone }) => {
          if (!m.done) return;
          child.off("message", on);
          resolve(m.done);
        };
        child.on("message", on);
        child.send({ step: { rate, seconds } });
      }),
    end: () => child.send({ end: true }),
  };
}

// ------------------------------------------------------------------ measuring

const TICK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim() || 100);

/** utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15, after the parenthesised name). */
function cpuSeconds(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK;
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/** First arrival of each event id in the cloud, as latency from its device timestamp. */
class CloudCollector {
  latency = new Map<string, number>();
  arrivals = 0;
  aggregates = 0;
  lastArrival = 0;
  constructor(readonly client: import("mqtt").MqttClient) {}
  /** E2E_DEBUG=1: arrivals per 100 ms bucket with their worst latency. */
  slow = new Map<number, { n: number; max: number }>();
  onEvent(id: string, ts: number, now: number): void {
    this.arrivals++;
    if (DEBUG) {
      const b = Math.floor(now / 100);
      const s = this.slow.get(b) ?? { n: 0, max: 0 };
      s.n++;
      s.max = Math.max(s.max, now - ts);
      this.slow.set(b, s);
    }
    this.lastArrival = now;
    if (!this.latency.has(id)) this.latency.set(id, now - ts);
  }
}

async function collector(url: string, filter: string, batched: boolean): Promise<CloudCollector> {
  const { connectMqtt } = await import("../peers/mqtt-clients.js");
  const { decodeBatch } = await import("../runtime/cloud/batch-codec.js");
  const client = await connectMqtt(url, { clientId: `e2e-cloud-${Math.random().toString(16).slice(2, 8)}`, protocolVersion: 4 });
  const c = new CloudCollector(client);
  client.on("message", (topic, payload) => {
    const now = Date.now();
    if (topic.endsWith("/aggregate")) {
      c.aggregates += batched ? (decodeBatch("jsonl", payload) as { ok: boolean; value?: unknown[] }).value?.length ?? 0 : 1;
      c.lastArrival = now;
      return;
    }
    if (batched) {
      const b = decodeBatch("jsonl", payload);
      if (b.ok) for (const e of b.value as { id: string; ts: number }[]) c.onEvent(e.id, e.ts, now);
    } else {
      const e = JSON.parse(payload.toString("utf8")) as { id: string; ts: number };
      c.onEvent(e.id, e.ts, now);
    }
  });
  await client.subscribeAsync(filter, { qos: 0 });
  return c;
}

interface StepResult {
  rate: number;
  sent: number;
  achievedRate: number;
  expected: number;
  within: number;
  delivered: number;
  p50: number;
  p99: number;
  cpuPer100k: number;
  ok: boolean;
}

interface System {
  name: string;
  /** Processes whose CPU counts as this system's. */
  pids: number[];
  /** The process whose RSS is reported. */
  rssPid: number;
  collector: CloudCollector;
  gen: Generator;
}

async function runSteps(sys: System, rates: number[]): Promise<StepResult[]> {
  const out: StepResult[] = [];
  const cpu = () => sys.pids.reduce((a, p) => a + cpuSeconds(p), 0);
  for (const rate of rates) {
    const c = sys.collector;
    c.latency = new Map();
    const cpu0 = cpu();
    const done = await sys.gen.step(rate, STEP_SECONDS);
    const expectedIds: string[] = [];
    done.ranges.forEach(([a, b], d) => {
      for (let s = a; s <= b; s++) if (inRange(s)) expectedIds.push(`dev-${d}/${s}`);
    });
    // Everything due within 2 s has had its chance 2 s after the last publish; then let the rest drain.
    const deadline = Date.now() + WITHIN_MS + 500;
    while (Date.now() < deadline && c.latency.size < expectedIds.length) await sleep(20);
    // CPU until the last expected event arrived (or the deadline): the work of this step, not the quiet wait after it.
    const cpuUsed = cpu() - cpu0;
    const lat: number[] = [];
    let within = 0;
    for (const id of expectedIds) {
      const l = c.latency.get(id);
      if (l === undefined) continue;
      lat.push(l);
      if (l <= WITHIN_MS) within++;
    }
    const quietFor = 1000;
    const drainEnd = Date.now() + 60_000;
    while (Date.now() < drainEnd && Date.now() - c.lastArrival < quietFor) await sleep(100);
    lat.sort((a, b) => a - b);
    if (DEBUG) {
      const worst = [...c.slow].filter(([, v]) => v.max > 100).map(([b, v]) => `${new Date(b * 100).toISOString().slice(14, 22)} n=${v.n} max=${v.max}`);
      console.log(`  slow buckets (max latency > 100 ms): ${worst.join("; ") || "none"}`);
      c.slow = new Map();
    }
    const r: StepResult = {
      rate,
      sent: done.sent,
      achievedRate: (done.sent / done.ms) * 1000,
      expected: expectedIds.length,
      within,
      delivered: c.latency.size,
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
      cpuPer100k: (cpuUsed / done.sent) * 1e5,
      ok: within >= DELIVERED * expectedIds.length,
    };
    out.push(r);
    console.log(
      `  ${sys.name} ${rate} msg/s (sent ${r.achievedRate.toFixed(0)}/s): within 2 s ${((100 * within) / r.expected).toFixed(2)} % of ${r.expected}, delivered ${((100 * r.delivered) / r.expected).toFixed(2)} %, p50 ${r.p50} ms, p99 ${r.p99} ms, CPU ${r.cpuPer100k.toFixed(2)} s/100k, RSS ${rssMiB(sys.rssPid).toFixed(1)} MiB`,
    );
    if (!r.ok) break;
  }
  return out;
}

// ------------------------------------------------------------------ the gateway

function gatewayConfig(sitePort: number, cloudUrl: string): string {
  const devices = Array.from({ length: DEVICES }, (_, i) => `  - { id: dev-${i}, driver: site }`).join("\n");
  return `gateway: { id: e2e-gw }
board: sim
attest: { tpm: off }
drivers:
  - mqtt: { name: site, listen: "127.0.0.1:${sitePort}", allowAnonymous: true, limits: { maxConnections: ${DEVICES + 100}, messagesPerSecond: 1000000, burst: 1000000 } }
devices:
${devices}
cloud:
  mqtt: { url: "${cloudUrl}", version: "5" }
pipeline:
  sources:
    site: { from: site, kind: telemetry }
  operators:
    valid: { filter: "payload.altitude >= 500 and payload.altitude <= 4500", input: site }
    unique: { dedup: { key: id, ttl: 60s }, input: valid }
    perDevice: { window: { tumbling: 10s, key: device, watermark: auto }, aggregate: { n: count(), alt: avg(payload.altitude) }, input: unique }
  sinks:
    cloud: { uplink: {}, input: ${process.env.E2E_NO_WINDOW === "1" ? "[unique]" : "[unique, perDevice]"} }
`;
}

interface Child {
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

async function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, what: string, timeoutMs = 60_000): Promise<Child> {
  const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const end = Date.now() + timeoutMs;
  while (!ready.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited before ready:\n${out.slice(-4000)}`);
    if (Date.now() > end) {
      child.kill("SIGKILL");
      throw new Error(`${what} not ready after ${timeoutMs} ms:\n${out.slice(-4000)}`);
    }
    await sleep(50);
  }
  return {
    child,
    pid: child.pid!,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function startRidge(dir: string, cloudUrl: string, nodeFlags: string[] = [], root = repoRoot): Promise<{ gw: Child; port: number }> {
  const { freeTcpPort } = await import("../peers/process.js");
  const { LAUNCH_ENV, LAUNCH_NODE_FLAGS } = await import("../core/index.js");
  const port = await freeTcpPort();
  const cfg = join(dir, "gateway.yaml");
  writeFileSync(cfg, gatewayConfig(port, cloudUrl));
  // node itself (not the #! line) so that the pid is the gateway's; the same flags and environment.
  const gw = await startChild(
    process.execPath,
    [...LAUNCH_NODE_FLAGS, ...nodeFlags, join(root, "bin/ridge.mjs"), "run", "--data", join(dir, "data"), "--config", cfg],
    { ...process.env, ...LAUNCH_ENV, RIDGE_FROM_SOURCE: "1" },
    / ready in \d+ ms/,
    "ridge run",
  );
  return { gw, port };
}

// ------------------------------------------------------------------ Node-RED

const NODE_RED_VERSION = "4";
const nodeRedDir = join(repoRoot, ".cache", "node-red");

/** Node-RED from the npm registry into .cache/node-red (ignored by git), once. */
function ensureNodeRed(): string {
  const red = join(nodeRedDir, "node_modules", "node-red", "red.js");
  if (existsSync(red)) return red;
  mkdirSync(nodeRedDir, { recursive: true });
  if (!existsSync(join(nodeRedDir, "package.json"))) writeFileSync(join(nodeRedDir, "package.json"), JSON.stringify({ name: "node-red-bench-cache", private: true }) + "\n");
  console.log(`installing node-red@${NODE_RED_VERSION} into ${nodeRedDir} (once)`);
  const r = spawnSync("npm", ["install", `node-red@${NODE_RED_VERSION}`, "--no-audit", "--no-fund", "--omit=dev", "--ignore-scripts"], { cwd: nodeRedDir, stdio: "inherit", timeout: 600_000 });
  if (r.status !== 0 || !existsSync(red)) throw new Error("npm install node-red failed");
  return red;
}

/** The same job as the gateway's pipeline, as a Node-RED flow. */
function nodeRedFlow(sitePort: number, cloudPort: number): unknown[] {
  const envelope = `const p = msg.payload;
if (p === null || typeof p !== "object") return null;
if (!(p.altitude >= 500 && p.altitude <= 4500)) return null;
const device = msg.topic.split("/")[1];
const { id, ts, ...payload } = p;
msg.payload = { id: id ?? device + "/" + Date.now(), ts: ts ?? Date.now(), device, kind: "telemetry", payload };
return msg;`;
  const dedup = `let seen = context.get("seen");
if (!seen) { seen = new Map(); context.set("seen", seen); }
const e = msg.payload;
if (seen.has(e.id)) return null;
seen.set(e.id, e.ts);
// forget the oldest ids: at most 100000, and none older than 60 s (event time) behind this one
for (const [k, t] of seen) { if (seen.size > 100000 || t < e.ts - 60000) seen.delete(k); else break; }
return msg;`;
  const windowFn = `let w = context.get("w");
if (!w) { w = new Map(); context.set("w", w); }
const e = msg.payload;
const start = Math.floor(e.ts / 10000) * 10000;
let s = w.get(e.device);
let out = null;
if (s && start > s.start) {
  out = { payload: { id: e.device + "/w" + s.start, ts: s.start, device: e.device, kind: "aggregate", payload: { n: s.n, alt: s.sum / s.n, start: s.start, end: s.start + 10000 } } };
  s = undefined;
}
if (!s) { s = { start, n: 0, sum: 0 }; w.set(e.device, s); }
if (start === s.start) { s.n++; s.sum += e.payload.altitude; }
return out;`;
  const broker = (id: string, port: number) => ({ id, type: "mqtt-broker", name: `${id} broker`, broker: "127.0.0.1", port: String(port), clientid: `nr-${id}`, autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true });
  return [
    { id: "e2e", type: "tab", label: "e2e" },
    broker("siteBroker", sitePort),
    broker("cloudBroker", cloudPort),
    { id: "in", type: "mqtt in", z: "e2e", name: "devices", topic: "devices/+/telemetry", qos: "0", datatype: "json", broker: "siteBroker", nl: false, rap: false, inputs: 0, wires: [["valid"]] },
    { id: "valid", type: "function", z: "e2e", name: "envelope + altitude filter", func: envelope, outputs: 1, wires: [["dedup"]] },
    { id: "dedup", type: "function", z: "e2e", name: "dedup by id", func: dedup, outputs: 1, wires: [["up", "window"]] },
    { id: "window", type: "function", z: "e2e", name: "10 s tumbling window per device", func: windowFn, outputs: 1, wires: [["upAgg"]] },
    { id: "up", type: "mqtt out", z: "e2e", name: "cloud", topic: "nodered/up/telemetry", qos: "1", retain: "false", broker: "cloudBroker", wires: [] },
    { id: "upAgg", type: "mqtt out", z: "e2e", name: "cloud aggregates", topic: "nodered/up/aggregate", qos: "1", retain: "false", broker: "cloudBroker", wires: [] },
  ];
}

async function startNodeRed(dir: string, sitePort: number, cloudPort: number): Promise<Child> {
  const red = ensureNodeRed();
  const { freeTcpPort } = await import("../peers/process.js");
  const userDir = join(dir, "node-red");
  mkdirSync(userDir, { recursive: true });
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(nodeRedFlow(sitePort, cloudPort), null, 1));
  const uiPort = await freeTcpPort();
  writeFileSync(
    join(userDir, "settings.js"),
    `module.exports = { uiPort: ${uiPort}, uiHost: "127.0.0.1", flowFile: "flows.json", credentialSecret: false, httpAdminRoot: false, httpNodeRoot: false, disableEditor: true, externalModules: { autoInstall: false }, logging: { console: { level: "info", metrics: false, audit: false } } };\n`,
  );
  const nr = await startChild(process.execPath, [red, "--userDir", userDir, "--settings", join(userDir, "settings.js")], { ...process.env, NODE_ENV: "production" }, /Started flows/, "node-red");
  // both MQTT connections up
  const end = Date.now() + 30_000;
  while ((nr.output().match(/Connected to broker/g) ?? []).length < 2) {
    if (Date.now() > end) throw new Error(`node-red did not connect to both brokers:\n${nr.output().slice(-3000)}`);
    await sleep(50);
  }
  return nr;
}

// ------------------------------------------------------------------ the run

interface Summary {
  steps: StepResult[];
  maxRate: number;
  at5k: StepResult | undefined;
  rss: { idle: number; end: number; settled: number };
}

function summarise(steps: StepResult[], rss: Summary["rss"]): Summary {
  const ok = steps.filter((s) => s.ok);
  return { steps, maxRate: ok.length ? Math.max(...ok.map((s) => s.rate)) : 0, at5k: steps.find((s) => s.rate === LATENCY_RATE), rss };
}

/** The gateway's own view of its memory (prom-client default metrics on /metrics), MiB. */
async function heapMiB(dataDir: string): Promise<string> {
  try {
    const { controlRequest } = await import("../runtime/control/client.js");
    const t = (await controlRequest(dataDir, "GET", "/metrics")).text;
    const get = (name: string, label = "") => {
      const m = new RegExp(`^${name}${label ? `\\{[^}]*${label}[^}]*\\}` : ""} ([0-9.e+]+)$`, "m").exec(t);
      return m ? (Number(m[1]) / 2 ** 20).toFixed(1) : "?";
    };
    return `heap used ${get("ridge_nodejs_heap_size_used_bytes")} / total ${get("ridge_nodejs_heap_size_total_bytes")}, new space ${get("ridge_nodejs_heap_space_size_total_bytes", 'space="new"')}, external ${get("ridge_nodejs_external_memory_bytes")} MiB`;
  } catch (e) {
    return `(no /metrics: ${e instanceof Error ? e.message : String(e)})`;
  }
}

async function measureRidge(dir: string, broker: { url: string }, root = repoRoot, rates = RATES, settleSeconds = SETTLE_SECONDS): Promise<Summary> {
  const { gw, port } = await startRidge(dir, broker.url, [], root);
  const col = await collector(broker.url, "ridge/e2e-gw/up/#", true);
  const gen = await generator(`mqtt://127.0.0.1:${port}`);
  try {
    await sleep(2000);
    const c0 = cpuSeconds(gw.pid);
    await sleep(5000);
    const idleCpu = (cpuSeconds(gw.pid) - c0) / 5;
    const idle = rssMiB(gw.pid);
    const idleHeap = await heapMiB(join(dir, "data"));
    console.log(`  ridgeline idle: ${(100 * idleCpu).toFixed(1)} % of a core`);
    const steps = await runSteps({ name: root === repoRoot ? "ridgeline" : `ridgeline@${root}`, pids: [gw.pid], rssPid: gw.pid, collector: col, gen }, rates);
    const end = rssMiB(gw.pid);
    const endHeap = await heapMiB(join(dir, "data"));
    await sleep(settleSeconds * 1000);
    const settled = rssMiB(gw.pid);
    console.log(`  ridgeline RSS: idle ${idle.toFixed(1)} MiB (${idleHeap}), end of load ${end.toFixed(1)} MiB (${endHeap}), ${settleSeconds} s after ${settled.toFixed(1)} MiB (${await heapMiB(join(dir, "data"))}); window aggregates received ${col.aggregates}`);
    return summarise(steps, { idle, end, settled });
  } finally {
    gen.end();
    await col.client.endAsync(true);
    await gw.stop();
  }
}

async function measureNodeRed(dir: string, cloud: { url: string; port: number }): Promise<Summary> {
  const { startMosquitto } = await import("../peers/mosquitto.js");
  const site = await startMosquitto({ maxSeconds: 3600, extraConfig: ["max_connections -1", "max_queued_messages 0", "max_queued_bytes 0"] });
  const nr = await startNodeRed(dir, site.port, cloud.port);
  const col = await collector(cloud.url, "nodered/up/#", false);
  const gen = await generator(site.url);
  try {
    await sleep(2000);
    const c0 = cpuSeconds(nr.pid) + cpuSeconds(site.pid()!);
    await sleep(5000);
    console.log(`  node-red idle (with its site broker): ${((100 * (cpuSeconds(nr.pid) + cpuSeconds(site.pid()!) - c0)) / 5).toFixed(1)} % of a core`);
    const idle = rssMiB(nr.pid);
    const steps = await runSteps({ name: "node-red", pids: [nr.pid, site.pid()!], rssPid: nr.pid, collector: col, gen }, NR_RATES);
    const end = rssMiB(nr.pid);
    await sleep(SETTLE_SECONDS * 1000);
    const settled = rssMiB(nr.pid);
    console.log(`  node-red RSS: idle ${idle.toFixed(1)} MiB, end of load ${end.toFixed(1)} MiB, ${SETTLE_SECONDS} s after ${settled.toFixed(1)} MiB; window aggregates received ${col.aggregates}`);
    return summarise(steps, { idle, end, settled });
  } finally {
    gen.end();
    await col.client.endAsync(true);
    await nr.stop();
    await site.cleanup();
  }
}

async function main(): Promise<void> {
  const { report } = await import("./harness.js");
  const { startMosquitto } = await import("../peers/mosquitto.js");
  const { tempDir } = await import("../peers/process.js");
  ensureNodeRed();
  const t = tempDir("ridge-bench-e2e-");
  const cloud = await startMosquitto({ maxSeconds: 3600, extraConfig: ["max_connections -1", "max_queued_messages 0", "max_queued_bytes 0", "max_inflight_messages 0"] });
  try {
    console.log(`${DEVICES} devices, ${STEP_SECONDS} s per step; delivered = ≥ ${DELIVERED * 100} % of expected events in the cloud within ${WITHIN_MS} ms`);
    const r = await measureRidge(t.dir, cloud);
    if (ONLY === "ridgeline") return;
    const n = await measureNodeRed(t.dir, cloud);
    const r5 = r.at5k;
    const n5 = n.at5k;
    const cpuR = r5?.cpuPer100k ?? NaN;
    const cpuN = n5?.cpuPer100k ?? NaN;
    const settledRatio = r.rss.settled / r.rss.idle;
    report("e2e", [
      { metric: `highest sustained rate, ${DEVICES} MQTT devices → pipeline → cloud mosquitto (≥ 99.9 % within 2 s)`, value: r.maxRate, unit: "msg/s", baseline: "Node-RED 4, same job (site mosquitto, function nodes, mqtt out QoS 1)", baselineValue: n.maxRate, target: ">= 10× Node-RED", pass: r.maxRate >= 10 * n.maxRate },
      { metric: `CPU per 100k messages at ${LATENCY_RATE} msg/s (gateway process, broker included)`, value: Number(cpuR.toFixed(3)), unit: "CPU s", baseline: "Node-RED + its site mosquitto, same rate", baselineValue: Number(cpuN.toFixed(3)), target: "<= 0.3× Node-RED", pass: cpuR <= 0.3 * cpuN },
      { metric: `device→cloud latency p99 at ${LATENCY_RATE} msg/s`, value: r5?.p99 ?? NaN, unit: "ms", baseline: "Node-RED, same rate", baselineValue: n5?.p99 ?? NaN, target: "<= 50 ms", pass: (r5?.p99 ?? Infinity) <= 50 },
      { metric: `device→cloud latency p50 at ${LATENCY_RATE} msg/s`, value: r5?.p50 ?? NaN, unit: "ms", baseline: "Node-RED, same rate", baselineValue: n5?.p50 ?? NaN, target: "(reported)", pass: true },
      { metric: "RSS idle (after start, before load)", value: Number(r.rss.idle.toFixed(1)), unit: "MiB", baseline: "Node-RED", baselineValue: Number(n.rss.idle.toFixed(1)), target: "(reported)", pass: true },
      { metric: "RSS at the end of the load", value: Number(r.rss.end.toFixed(1)), unit: "MiB", baseline: "Node-RED", baselineValue: Number(n.rss.end.toFixed(1)), target: "(reported)", pass: true },
      { metric: `RSS ${SETTLE_SECONDS} s after the load`, value: Number(r.rss.settled.toFixed(1)), unit: "MiB", baseline: "Node-RED", baselineValue: Number(n.rss.settled.toFixed(1)), target: `<= 1.1× own idle (${(1.1 * r.rss.idle).toFixed(1)} MiB)`, pass: settledRatio <= 1.1 },
    ]);
  } finally {
    await cloud.cleanup();
    t.cleanup();
  }
  process.exit(0);
}

// ------------------------------------------------------------------ profile (E2E_PROFILE=1)

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/**
 * Stages by where a sample's stack is (innermost frame of ours or of the library that does the
 * work). The first rule that matches any frame from the top of the stack down wins.
 */
const STAGES: [string, (url: string, fn: string) => boolean][] = [
  ["queue append + group commit (JSON, SQLite)", (u, f) => u.includes("runtime/store/") && !/\b(ack|deleteRange|read|expire)/.test(f)],
  ["ack/delete", (u, f) => u.includes("runtime/store/") && /\b(ack|deleteRange|rangeSum)/.test(f)],
  ["queue read", (u, f) => u.includes("runtime/store/") && /\bread/.test(f)],
  ["batch encode + cut", (u) => u.includes("runtime/cloud/batch-codec")],
  // mqtt-packet serves both aedes and MQTT.js: its frames are attributed to their caller
  ["publish + PUBACK (MQTT.js, cloud link)", (u) => u.includes("runtime/cloud/") || u.includes("node_modules/mqtt/")],
  ["pipeline (operators, edges, sinks, checkpoints)", (u) => u.includes("runtime/pipeline/")],
  ["event envelope (driver)", (u) => u.includes("drivers/mqtt/mqtt-driver")],
  ["payload decode", (u) => u.includes("drivers/mqtt/payload-decoder")],
  ["broker auth/ACL, rate limit, frame meter", (u) => u.includes("drivers/mqtt/")],
  ["broker packet parse + aedes", (u) => u.includes("node_modules/aedes") || u.includes("mqemitter") || u.includes("aedes-") || u.includes("qlobber")],
];

/** `window`: ms since the profile's start (about the process start) to count samples in; default all. */
function profileStages(p: Profile, events: number, window: [number, number] = [0, Infinity]): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let at = 0;
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0;
    at += d;
    if (at / 1000 >= window[0] && at / 1000 <= window[1]) self.set(id, (self.get(id) ?? 0) + d);
  });
  const stage = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const top = byId.get(id)!;
    const name = top.callFrame.functionName || "(anonymous)";
    if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") {
      stage.set(name, (stage.get(name) ?? 0) + us);
      if (name !== "(idle)") total += us;
      continue;
    }
    total += us;
    let found = "other (node internals, timers, streams)";
    for (let n: ProfileNode | undefined = top; n; n = byId.get(parent.get(n.id) ?? -1)) {
      const hit = STAGES.find(([, m]) => m(n!.callFrame.url, n!.callFrame.functionName));
      if (hit) {
        found = hit[0];
        break;
      }
    }
    stage.set(found, (stage.get(found) ?? 0) + us);
    const key = `${name} ${top.callFrame.url.replace(/^.*\/(node_modules\/|work\/main\/)/, "")}:${top.callFrame.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  console.log(`\nCPU by stage (${(total / 1e6).toFixed(2)} s busy on the main thread for ${events} messages; µs per message; the rest of the time idle):\n`);
  console.log("| stage | CPU s | µs/msg | share |\n| --- | ---: | ---: | ---: |");
  for (const [k, us] of [...stage].sort((a, b) => b[1] - a[1])) if (k !== "(idle)") console.log(`| ${k} | ${(us / 1e6).toFixed(3)} | ${(us / events).toFixed(2)} | ${((100 * us) / total).toFixed(1)} % |`);
  console.log("\ntop self-time functions:\n");
  for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`);
}

async function profile(): Promise<void> {
  const { startMosquitto } = await import("../peers/mosquitto.js");
  const { tempDir } = await import("../peers/process.js");
  const rate = Number(process.env.E2E_PROFILE_RATE ?? LATENCY_RATE);
  // one directory per run: --cpu-prof writes a file per thread (the tsx loader has one of its own)
  const profDir = join(repoRoot, ".cache", "e2e-profile", `${Date.now()}`);
  mkdirSync(profDir, { recursive: true });
  const t = tempDir("ridge-bench-e2e-prof-");
  const cloud = await startMosquitto({ maxSeconds: 3600, extraConfig: ["max_connections -1", "max_queued_messages 0", "max_queued_bytes 0"] });
  try {
    const spawnAt = performance.now();
    const { gw, port } = await startRidge(t.dir, cloud.url, ["--cpu-prof", `--cpu-prof-dir=${profDir}`]);
    const col = await collector(cloud.url, "ridge/e2e-gw/up/#", true);
    const gen = await generator(`mqtt://127.0.0.1:${port}`);
    await sleep(3000);
    const cpu0 = cpuSeconds(gw.pid);
    const stepFrom = performance.now() - spawnAt;
    const steps = await runSteps({ name: "ridgeline (profiled)", pids: [gw.pid], rssPid: gw.pid, collector: col, gen }, [rate]);
    const stepTo = performance.now() - spawnAt;
    console.log(`  gateway CPU during the step: ${(cpuSeconds(gw.pid) - cpu0).toFixed(2)} s (all threads, /proc)`);
    gen.end();
    await col.client.endAsync(true);
    await gw.stop();
    // the main thread's profile is the largest
    const file = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).sort((a, b) => statSync(join(profDir, b)).size - statSync(join(profDir, a)).size)[0];
    if (!file) throw new Error(`no profile written in ${profDir}`);
    console.log(`profile: ${join(profDir, file)}; counted: the samples of the step (${(stepFrom / 1000).toFixed(1)}–${(stepTo / 1000).toFixed(1)} s after the spawn)`);
    profileStages(JSON.parse(readFileSync(join(profDir, file), "utf8")) as Profile, steps[0]?.sent ?? 1, [stepFrom, stepTo]);
  } finally {
    await cloud.cleanup();
    t.cleanup();
  }
  process.exit(0);
}

/**
 * E2E_AB=<another checkout>: this gateway and that one (e.g. a `git worktree` of an older commit),
 * in turn, E2E_AB_ROUNDS times each, at E2E_RATES, against the same cloud broker: a before/after
 * comparison on a machine whose speed drifts (no Node-RED, no settle wait).
 */
async function ab(other: string): Promise<void> {
  const { startMosquitto } = await import("../peers/mosquitto.js");
  const { tempDir } = await import("../peers/process.js");
  const { median } = await import("./harness.js");
  const rounds = Number(process.env.E2E_AB_ROUNDS ?? 3);
  const cloud = await startMosquitto({ maxSeconds: 3600, extraConfig: ["max_connections -1", "max_queued_messages 0", "max_queued_bytes 0"] });
  const runs: Record<string, Summary[]> = { this: [], other: [] };
  try {
    for (let r = 0; r < rounds; r++)
      for (const [name, root] of [["other", other], ["this", repoRoot]] as const) {
        const t = tempDir("ridge-bench-e2e-ab-");
        runs[name]!.push(await measureRidge(t.dir, cloud, root, RATES, 0));
        t.cleanup();
      }
  } finally {
    await cloud.cleanup();
  }
  console.log(`\n| rate | system | within 2 s (each round) | p50 ms (median) | p99 ms (each round) | CPU s/100k (median) |\n| ---: | --- | --- | ---: | --- | ---: |`);
  for (const rate of RATES)
    for (const [name, label] of [["other", other], ["this", repoRoot]] as const) {
      const st = runs[name]!.map((s) => s.steps.find((x) => x.rate === rate)).filter((x): x is StepResult => x !== undefined);
      if (!st.length) continue;
      console.log(`| ${rate} | ${label} | ${st.map((x) => ((100 * x.within) / x.expected).toFixed(2) + " %").join(", ")} | ${median(st.map((x) => x.p50))} | ${st.map((x) => x.p99).join(", ")} | ${median(st.map((x) => x.cpuPer100k)).toFixed(2)} |`);
    }
  process.exit(0);
}

if (process.argv.includes("--load")) await runLoad();
else if (process.env.E2E_AB) await ab(process.env.E2E_AB);
else if (process.argv.includes("--summarise")) profileStages(JSON.parse(readFileSync(process.argv[process.argv.indexOf("--summarise") + 1]!, "utf8")) as Profile, Number(process.argv[process.argv.indexOf("--summarise") + 2] ?? 1));
else if (process.env.E2E_PROFILE === "1") await profile();
else await main();
