/**
 * A gateway-like process for the kill -9 test: runs a dedup → window pipeline with a file sink in
 * DATA_DIR, replays a deterministic stream from its start (as an at-least-once source would after
 * a crash) and exits 0 after printing DONE. Usage: node --import tsx pipeline-child.ts DATA_DIR
 */
import { SeededRandom } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { BASE, makeRig } from "./pipeline.js";

const dir = process.argv[2]!;
const CONFIG =
  BASE +
  `pipeline:
  checkpoint: { every: 40ms }
  sources: { gen: { from: gen } }
  operators:
    d: { dedup: { max: 1000000, ttl: 10h }, input: gen }
    w: { window: { tumbling: 1s, watermark: 300, lateness: 400, idle: 1h }, aggregate: { n: "count()", s: "sum(payload.v)", mx: "max(payload.v)", p: "p95(payload.v)" }, input: d }
  sinks:
    out: { file: { path: results.jsonl }, input: w, batch: 50 }
    late: { file: { path: late.jsonl }, input: w.late, batch: 50 }
`;

/** 30,000 readings from 20 devices, out of order, with duplicates and very late ones, then sentinels far ahead. */
export function stream(): Event[] {
  const r = new SeededRandom(42);
  const out: Event[] = [];
  for (let i = 0; i < 30_000; i++) {
    const dev = `dev-${i % 20}`;
    const ts = Math.max(0, i * 5 - Math.floor(r.next() * 600) - (r.next() < 0.01 ? 3000 : 0));
    const e: Event = { id: `${dev}/${i}`, ts, device: dev, kind: "telemetry", payload: { v: Math.floor(r.next() * 1000) } };
    out.push(e);
    if (r.next() < 0.02) out.push(e);
  }
  for (let d = 0; d < 20; d++) out.push({ id: `dev-${d}/end`, ts: 10_000_000, device: `dev-${d}`, kind: "telemetry", payload: { v: 0 } });
  return out;
}

async function main() {
  const rig = await makeRig(CONFIG, { dir, real: ["out", "late"] });
  await rig.p.start();
  const evs = stream();
  for (let i = 0; i < evs.length; i += 200) {
    let ok = true;
    for (const e of evs.slice(i, i + 200)) ok = rig.p.ingest(e, "gen") && ok;
    if (!ok) await rig.p.drained();
    await new Promise((r) => setTimeout(r, 3));
  }
  const total = () => rig.p.stats.delivered;
  let last = -1;
  while (total() !== last) {
    last = total();
    await new Promise((r) => setTimeout(r, 200));
  }
  await rig.p.stop();
  rig.s.db.close();
  console.log("DONE");
}

if (process.argv[1]?.endsWith("pipeline-child.ts")) void main();
