/**
 * Helpers for the uplink/cloud tests: the queue, the cloud link, the twin and the model cache wired
 * the way the composition root (runtime/gateway.ts) wires them (real SQLite in a temp dir, silent
 * log, own metrics registry), and a subscriber on the broker that collects uplink batches and
 * checks delivery (every id, per-device order, duplicates only as redeliveries).
 */
import mqtt, { type MqttClient } from "mqtt";
import pino, { type Logger } from "pino";
import type Database from "better-sqlite3";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Clock, Random } from "../../core/clock.js";
import { systemClock, systemRandom } from "../../core/clock.js";
import type { Driver } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { loadBoard, type Board } from "../../boards/index.js";
import { gatewayConfig, type GatewayConfig } from "../../runtime/config/schema.js";
import { Metrics } from "../../runtime/metrics.js";
import { Routes } from "../../runtime/control/routes.js";
import { Measurements } from "../../runtime/contracts.js";
import { openDatabase } from "../../runtime/store/db.js";
import { QueueComponent, UplinkSink, type StoreFault, type UplinkQueue } from "../../runtime/store/index.js";
import { LinkComponent, ModelComponent, TwinComponent, cloudConfig, createDownlinkRegistry, offlineCloud, type CloudLink, type DownlinkRegistry } from "../../runtime/cloud/index.js";
import { decodeBatch, type BatchFormat } from "../../runtime/cloud/batch-codec.js";

/** What the gateway builds before its components (runtime/gateway.ts `GatewayParts` and the shared registries). */
export interface TestParts {
  config: GatewayConfig;
  configFile: string | undefined;
  board: Board;
  dataDir: string;
  clock: Clock;
  random: Random;
  log: Logger;
  metrics: Metrics;
  db: Database.Database;
  routes: Routes;
  drivers: Map<string, Driver>;
  downlink: DownlinkRegistry;
  measurements: Measurements;
}

export function makeParts(opts: { dataDir: string; config: Record<string, unknown>; clock?: Clock; random?: Random; drivers?: Map<string, Driver>; log?: Logger; devices?: Record<string, unknown>[] }): TestParts {
  const config = gatewayConfig.parse({ gateway: { id: "gw-test" }, ...opts.config });
  // Devices of fake drivers (not a configured driver kind): set after validation.
  if (opts.devices) (config as { devices: unknown[] }).devices = opts.devices;
  return {
    config,
    configFile: undefined,
    board: loadBoard("sim"),
    dataDir: opts.dataDir,
    clock: opts.clock ?? systemClock,
    random: opts.random ?? systemRandom,
    log: opts.log ?? pino({ level: process.env.RIDGE_TEST_LOG ?? "silent" }),
    metrics: new Metrics(false),
    db: openDatabase(opts.dataDir),
    routes: new Routes(),
    drivers: opts.drivers ?? new Map(),
    downlink: createDownlinkRegistry(),
    measurements: new Measurements(),
  };
}

/** The cloud side of a gateway: queue, link (with `cloud.mqtt`), twin and models, started and stopped in the supervisor's order. */
export interface Uplink {
  readonly queueComponent: QueueComponent;
  readonly queue: UplinkQueue;
  readonly linkComponent: LinkComponent | undefined;
  readonly link: CloudLink | undefined;
  readonly twin: TwinComponent;
  readonly models: ModelComponent;
  /** An `uplink: {}` sink (each event in the class of its kind). */
  readonly sink: UplinkSink;
  onStoreCorrupt: ((f: StoreFault) => void) | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createUplink(s: TestParts): Promise<Uplink> {
  const cloud = s.config.cloud ?? cloudConfig.parse({});
  let up: Uplink | undefined;
  const queueComponent = new QueueComponent({
    db: s.db,
    config: cloud.queue,
    clock: s.clock,
    log: s.log,
    metrics: s.metrics,
    routes: s.routes,
    onCorrupt: (f) => {
      void linkComponent?.stop().catch(() => undefined);
      up?.onStoreCorrupt?.(f);
    },
  });
  const linkComponent = cloud.mqtt
    ? new LinkComponent({
        config: cloud.mqtt,
        gatewayId: s.config.gateway.id,
        dataDir: s.dataDir,
        queue: queueComponent.queue,
        clock: s.clock,
        random: s.random,
        log: s.log,
        metrics: s.metrics,
        downlink: s.downlink,
        onConnected: () => {
          twin.sync.onConnected();
          models.kick();
        },
      })
    : undefined;
  const port = linkComponent ?? offlineCloud;
  const twin = new TwinComponent({ db: s.db, config: s.config, drivers: s.drivers, clock: s.clock, log: s.log, routes: s.routes, downlink: s.downlink, cloud: port });
  const models = await ModelComponent.create({
    config: cloud.models,
    dataDir: s.dataDir,
    db: s.db,
    board: { name: s.board.name, arch: process.arch },
    clock: s.clock,
    log: s.log,
    routes: s.routes,
    downlink: s.downlink,
    cloud: port,
    measurements: s.measurements,
    onActiveChanged: (active) => twin.sync.reportGateway({ models: active }),
  });
  const order = [queueComponent, ...(linkComponent ? [linkComponent] : []), twin, models];
  up = {
    queueComponent,
    queue: queueComponent.queue,
    linkComponent,
    link: linkComponent?.link,
    twin,
    models,
    sink: new UplinkSink(queueComponent.queue, undefined, twin),
    onStoreCorrupt: undefined,
    async start() {
      for (const c of order) await c.start();
    },
    async stop() {
      for (const c of [...order].reverse()) await c.stop();
    },
  };
  return up;
}

export function event(device: string, seq: number, kind = "telemetry"): Event {
  return { id: `${device}/${seq}`, ts: 1_700_000_000_000 + seq, device, kind, payload: { seq } };
}

/** `<device>/<seq>` or `<device>/<run>-<seq>` → run and seq. */
export function idSeq(id: string): { run: string; seq: number } {
  const m = /^(.*?)(\d+)$/.exec(id);
  return m ? { run: m[1]!, seq: Number(m[2]) } : { run: id, seq: NaN };
}

/** Per (run prefix): seqs missing between the smallest and the largest seen. */
export function gaps(ids: Iterable<string>): string[] {
  const by = new Map<string, number[]>();
  for (const id of ids) {
    const { run, seq } = idSeq(id);
    const a = by.get(run) ?? [];
    a.push(seq);
    by.set(run, a);
  }
  const out: string[] = [];
  for (const [run, seqs] of by) {
    seqs.sort((a, b) => a - b);
    for (let i = 1; i < seqs.length; i++) if (seqs[i]! - seqs[i - 1]! > 1) out.push(`${run}${seqs[i - 1]! + 1}..${seqs[i]! - 1}`);
  }
  return out;
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
  /** `conflicts`: ids received twice with different content (a redelivery must be the same event). */
  check(): { missing: (ids: Iterable<string>) => string[]; orderViolations: string[]; duplicates: number; conflicts: string[] };
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
      for (const e of d.value) {
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
      const seen = new Map<string, string>();
      const lastFirst = new Map<string, number>();
      const orderViolations: string[] = [];
      const conflicts: string[] = [];
      let duplicates = 0;
      for (const e of events) {
        const body = JSON.stringify(e);
        const first = seen.get(e.id);
        if (first !== undefined) {
          duplicates++;
          if (first !== body) conflicts.push(e.id);
          continue;
        }
        seen.set(e.id, body);
        const { run, seq } = idSeq(e.id);
        // Order is kept per device within a priority class (alarms overtake telemetry on purpose),
        // and per producer run (the sim driver's ids are `<device>/<run>-<seq>`).
        const key = `${e.device} ${e.kind} ${run}`;
        const prev = lastFirst.get(key);
        if (prev !== undefined && seq < prev) orderViolations.push(`${e.id} after ${e.device}/${prev} (${e.kind})`);
        lastFirst.set(key, seq);
      }
      return { missing: (want) => [...want].filter((id) => !ids.has(id)), orderViolations, duplicates, conflicts };
    },
    close: () => new Promise<void>((resolve) => client.end(true, {}, () => resolve())),
  };
}

/** A logger that keeps every record (JSON objects) for assertions. */
export function captureLog(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, records };
}

/** A client certificate signed by the CA in `pkiDir` (ca.crt, ca.key) that expired in 2020 (`openssl ca` sets past dates). */
export function makeExpiredClientCert(pkiDir: string, cn = "gw-old"): { certFile: string; keyFile: string } {
  const dir = join(pkiDir, "expired");
  mkdirSync(join(dir, "db"), { recursive: true });
  writeFileSync(join(dir, "db", "index.txt"), "");
  writeFileSync(join(dir, "db", "serial"), "1000\n");
  writeFileSync(join(dir, "ca.cnf"), "[ca]\ndefault_ca = c\n[c]\ndatabase = db/index.txt\nserial = db/serial\nnew_certs_dir = db\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n");
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr?.toString() ?? ""}`);
  };
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${cn}`, "-keyout", "old.key", "-out", "old.csr"]);
  run(["ca", "-batch", "-config", "ca.cnf", "-cert", join(pkiDir, "ca.crt"), "-keyfile", join(pkiDir, "ca.key"), "-in", "old.csr", "-out", "old.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext"]);
  return { certFile: join(dir, "old.crt"), keyFile: join(dir, "old.key") };
}

export interface GatewayProcess {
  pid: number;
  output(): string;
  /** SIGKILL the gateway itself (no shutdown, no final commit). */
  kill9(): Promise<void>;
  /** SIGTERM and wait (clean shutdown). */
  stop(): Promise<void>;
}

/** `ridge run --config FILE --data DIR` from source, bounded by `timeout`; resolves once it says it is ready. */
export async function startGateway(configFile: string, dataDir: string, maxSeconds = 120): Promise<GatewayProcess> {
  const { startPeer } = await import("../../peers/process.js");
  const root = new URL("../..", import.meta.url).pathname;
  const peer = startPeer(process.execPath, [join(root, "bin", "ridge.mjs"), "run", "--config", configFile, "--data", dataDir], {
    maxSeconds,
    env: { ...process.env, RIDGE_FROM_SOURCE: "1" },
    cwd: root,
  });
  const { waitFor } = await import("../../peers/process.js");
  await waitFor("gateway ready", () => /ready in/.test(peer.output()) || peer.child.exitCode !== null, 30_000, 50);
  if (!/ready in/.test(peer.output())) throw new Error(`gateway did not start:\n${peer.output()}`);
  const { readFileSync } = await import("node:fs");
  const kids = readFileSync(`/proc/${peer.pid}/task/${peer.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  const pid = Number(kids[0]);
  return {
    pid,
    output: () => peer.output(),
    async kill9() {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await peer.exited;
    },
    stop: () => peer.stop(15_000),
  };
}

/** Ids queued in a gateway's database (read after the gateway is gone, or concurrently through WAL). */
export function queuedIds(dataDir: string): string[] {
  const db = openDatabase(dataDir);
  try {
    const out: string[] = [];
    for (const t of ["uplink_rows_alarm", "uplink_rows_state", "uplink_rows_telemetry"]) {
      const exists = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(t);
      if (!exists) continue;
      for (const r of db.prepare(`SELECT body FROM ${t}`).iterate() as Iterable<{ body: string }>) for (const line of r.body.split("\n")) out.push((JSON.parse(line) as Event).id);
    }
    return out;
  } finally {
    db.close();
  }
}

/** A gateway config: a sim driver with gap-free counters (`<device>/<run>-<seq>` ids), everything to the uplink, the cloud link to `url`. */
export function writeSimUplinkConfig(file: string, o: { id: string; url: string; devices: number; rateHz: number; batch: number; inflight: number; backoffCap: number }): void {
  writeFileSync(
    file,
    `gateway: { id: ${o.id} }
log: { level: warn }
drivers:
  - sim: { name: trail, devices: ${o.devices}, rateHz: ${o.rateHz}, scenario: signals, outOfOrder: 0, duplicates: 0, signals: [{ field: x, shape: counter }] }
pipeline:
  sources: { all: { from: trail } }
  sinks:
    cloud: { uplink: {}, input: all }
cloud:
  mqtt: { url: "${o.url}", backoff: { base: 50, cap: ${o.backoffCap} }, batch: { maxEvents: ${o.batch} }, inflight: ${o.inflight} }
`,
  );
}
