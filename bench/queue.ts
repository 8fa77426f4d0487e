/**
 * Uplink queue: committed append rate (events/s) beside two baselines measured in the same run
 * (plain SQLite batched inserts; a file appended with fsync per batch), the rate with many small
 * concurrent appends (group commit), and start-to-ready with 1,000,000 queued events beside a
 * naive start that counts the table.
 *
 *   npm run bench -- queue
 */
import Database from "better-sqlite3";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock, type Event } from "../core/index.js";
import { openDatabase } from "../runtime/store/db.js";
import { UplinkQueue } from "../runtime/store/queue.js";
import { median, report } from "./harness.js";

const N = Number(process.env.RIDGE_BENCH_QUEUE_EVENTS ?? 300_000);
const BATCH = 1000;
const START_EVENTS = Number(process.env.RIDGE_BENCH_QUEUE_START_EVENTS ?? 1_000_000);

function events(n: number, offset = 0): Event[] {
  const out: Event[] = [];
  for (let i = 0; i < n; i++) {
    const k = offset + i;
    out.push({ id: `tracker-${k % 24}/${k}`, ts: 1_700_000_000_000 + k, device: `tracker-${k % 24}`, kind: "telemetry", payload: { lat: 46.5 + (k % 100) / 1e4, lon: 7.9, alt: 1800 + (k % 50), hr: 120 } });
  }
  return out;
}

const batches = Array.from({ length: N / BATCH }, (_, b) => events(BATCH, b * BATCH));
const opts = { maxBytes: 8 * 1024 ** 3, maxAge: 7 * 86_400_000, whenFull: "evict-oldest-lowest-priority" as const, groupCommitMs: 10, groupCommitEvents: 1000, clock: systemClock };

function dir(): { path: string; done(): void } {
  const path = mkdtempSync(join(tmpdir(), "ridge-bench-queue-"));
  return { path, done: () => rmSync(path, { recursive: true, force: true }) };
}

async function queueRate(): Promise<number> {
  const d = dir();
  const db = openDatabase(d.path);
  const q = new UplinkQueue(db, opts);
  const t0 = performance.now();
  for (const b of batches) await q.append(b);
  const ms = performance.now() - t0;
  q.close();
  db.close();
  d.done();
  return (N / ms) * 1000;
}

async function queueSmallConcurrent(): Promise<number> {
  const d = dir();
  const db = openDatabase(d.path);
  const q = new UplinkQueue(db, opts);
  const all = batches.flat();
  const producers = 100;
  const per = 10;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: producers }, async () => {
      for (;;) {
        const i = next;
        next += per;
        if (i >= all.length) return;
        await q.append(all.slice(i, i + per));
      }
    }),
  );
  const ms = performance.now() - t0;
  q.close();
  db.close();
  d.done();
  return (all.length / ms) * 1000;
}

function plainSqlite(): number {
  const d = dir();
  const db = new Database(join(d.path, "plain.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE q (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  const ins = db.prepare("INSERT INTO q (body) VALUES (?)");
  const tx = db.transaction((b: Event[]) => {
    for (const e of b) ins.run(JSON.stringify(e));
  });
  const t0 = performance.now();
  for (const b of batches) tx(b);
  const ms = performance.now() - t0;
  db.close();
  d.done();
  return (N / ms) * 1000;
}

function fileFsync(): number {
  const d = dir();
  const fd = openSync(join(d.path, "q.jsonl"), "a");
  const t0 = performance.now();
  for (const b of batches) {
    writeSync(fd, b.map((e) => JSON.stringify(e)).join("\n") + "\n");
    fsyncSync(fd);
  }
  const ms = performance.now() - t0;
  closeSync(fd);
  d.done();
  return (N / ms) * 1000;
}

/** `ridge run` (from source) until it prints "ready in N ms", then SIGTERM; returns N. */
function gatewayReadyMs(dataDir: string): number {
  const cfg = join(dataDir, "..", `gw-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(cfg, "gateway: { id: bench-gw }\nlog: { level: warn }\ndrivers: []\n");
  const root = new URL("..", import.meta.url).pathname;
  const script = `const {spawn}=require("node:child_process");const c=spawn(process.execPath,[${JSON.stringify(join(root, "bin", "ridge.mjs"))},"run","--config",${JSON.stringify(cfg)},"--data",${JSON.stringify(dataDir)}],{env:{...process.env,RIDGE_FROM_SOURCE:"1"}});let o="";c.stdout.on("data",d=>{o+=d;const m=/ready in (\\d+(?:\\.\\d+)?) ms/.exec(o);if(m){console.log(m[1]);c.kill("SIGTERM");}});c.stderr.on("data",d=>o+=d);c.on("exit",()=>{if(!/ready in/.test(o)){console.error(o);process.exit(1)}});`;
  const r = spawnSync("timeout", ["60", process.execPath, "-e", script], { encoding: "utf8" });
  rmSync(cfg, { force: true });
  const ms = Number(r.stdout.trim().split("\n")[0]);
  if (!Number.isFinite(ms)) throw new Error(`gateway did not get ready: ${r.stderr}`);
  return ms;
}

async function startToReady(): Promise<{ ready: number; naive: number; gateway: number; gatewayEmpty: number }> {
  const d = dir();
  let db = openDatabase(d.path);
  let q = new UplinkQueue(db, { ...opts, groupCommitEvents: 5000 });
  for (let off = 0; off < START_EVENTS; off += 5000) await q.append(events(5000, off));
  q.close();
  db.close();
  const readies: number[] = [];
  const naives: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    db = openDatabase(d.path);
    q = new UplinkQueue(db, opts);
    const st = q.stats();
    q.read("telemetry", 0, 500);
    readies.push(performance.now() - t0);
    if (st.events !== START_EVENTS) throw new Error(`expected ${START_EVENTS} queued, found ${st.events}`);
    db.close();
    const t1 = performance.now();
    const raw = new Database(join(d.path, "ridgeline.db"));
    raw.prepare("SELECT sum(n) AS n, sum(bytes) AS b FROM uplink_rows_telemetry").get();
    naives.push(performance.now() - t1);
    raw.close();
  }
  const gw: number[] = [];
  const empty: number[] = [];
  const e = dir();
  for (let r = 0; r < 3; r++) {
    gw.push(gatewayReadyMs(d.path));
    empty.push(gatewayReadyMs(join(e.path, `empty-${r}`)));
  }
  e.done();
  d.done();
  return { ready: median(readies), naive: median(naives), gateway: median(gw), gatewayEmpty: median(empty) };
}

const plain = plainSqlite();
const file = fileFsync();
const rates: number[] = [];
for (let i = 0; i < 3; i++) rates.push(await queueRate());
const rate = median(rates);
const small = await queueSmallConcurrent();
const start = await startToReady();

report("queue", [
  { metric: `committed append rate (${BATCH}-event appends, ${N} events)`, value: rate, unit: "events/s", baseline: "plain SQLite batched inserts", baselineValue: plain, target: ">= 200000 events/s", pass: rate >= 200_000 },
  { metric: "committed append rate (same)", value: rate, unit: "events/s", baseline: "file append + fsync per batch", baselineValue: file, target: ">= 200000 events/s", pass: rate >= 200_000 },
  { metric: "committed append rate, 100 producers × 10-event appends (group commit)", value: small, unit: "events/s", baseline: "plain SQLite batched inserts", baselineValue: plain, target: ">= 200000 events/s", pass: small >= 200_000 },
  { metric: `queue open to ready with ${START_EVENTS} queued events`, value: start.ready, unit: "ms", baseline: "open + sum(n), sum(bytes) table scan", baselineValue: start.naive, target: "< 1000 ms", pass: start.ready < 1000 },
  { metric: `ridge run: ready with ${START_EVENTS} queued events`, value: start.gateway, unit: "ms", baseline: "ridge run with an empty data directory", baselineValue: start.gatewayEmpty, target: "< 1000 ms", pass: start.gateway < 1000 },
]);
