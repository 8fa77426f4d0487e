/**
 * A damaged ridgeline.db under the real gateway (`ridge run`): garbage, truncated to half, random
 * pages overwritten, truncated to 0 bytes, garbage in the WAL, a directory where the file should be.
 * None may crash-loop (no exit 70; started twice, the second start is clean), and what the gateway
 * declares salvaged and lost must match what is really in the new database and what was queued.
 *
 * The queue to damage is written in-process by the same UplinkQueue the gateway uses (fast and
 * exactly known); the gateways started on it have no drivers, so no new events blur the counts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { SeededRandom, systemClock } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { checkpoint, openDatabase } from "../../runtime/store/db.js";
import { UplinkQueue } from "../../runtime/store/queue.js";
import { readLedger } from "../../runtime/store/queue-ledger.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { startGateway, type RunningGateway } from "../helpers/gateway.js";
import { startMosquitto } from "../../peers/mosquitto.js";
import { collect } from "../helpers/cloud.js";

const TABLES = ["uplink_rows_alarm", "uplink_rows_state", "uplink_rows_telemetry"];
const QUIET = `gateway: { id: gw-corrupt }\nlog: { level: info }\ndrivers: []\npipeline: {}\n`;

function ev(i: number): Event {
  return { id: `d${i % 5}/${i}`, ts: 1_700_000_000_000 + i, device: `d${i % 5}`, kind: i % 97 === 0 ? "alarm" : "telemetry", payload: { i, pad: "p".repeat(100) } };
}

/** `total` events in batches of 10 (one row each); with `walFrom`, the events from that index on stay in the WAL (files copied while open, as after kill -9). */
async function writeQueue(data: string, total: number, walFrom?: number, pad = 100): Promise<string[]> {
  const build = join(data, "..", `build-${Math.random().toString(36).slice(2)}`);
  const db = openDatabase(walFrom === undefined ? data : build);
  if (walFrom !== undefined) db.pragma("wal_autocheckpoint = 0");
  const q = new UplinkQueue(db, { maxBytes: 1e9, maxAge: 7 * 86_400_000, whenFull: "evict-oldest-lowest-priority", groupCommitMs: 1, groupCommitEvents: 10, clock: systemClock });
  const ids: string[] = [];
  for (let b = 0; b < total / 10; b++) {
    if (walFrom !== undefined && b * 10 === walFrom) checkpoint(db);
    const batch = Array.from({ length: 10 }, (_, k) => ({ ...ev(b * 10 + k), payload: { i: b * 10 + k, pad: "p".repeat(pad) } }));
    ids.push(...batch.map((e) => e.id));
    await q.append(batch);
  }
  if (walFrom !== undefined) {
    mkdirSync(data, { recursive: true });
    for (const f of ["ridgeline.db", "ridgeline.db-wal", "ridgeline.db.queue-ledger"]) copyFileSync(join(build, f), join(data, f));
    db.close();
    return ids;
  }
  q.close();
  checkpoint(db);
  db.close();
  return ids;
}

/** Ids in the uplink tables of a database file (plain better-sqlite3, a copy: the original is left as it is). */
function idsIn(data: string): string[] {
  const scratch = tempDir();
  for (const f of ["ridgeline.db", "ridgeline.db-wal"]) if (existsSync(join(data, f))) copyFileSync(join(data, f), join(scratch.dir, f));
  const db = new Database(join(scratch.dir, "ridgeline.db"));
  const out: string[] = [];
  try {
    for (const t of TABLES) {
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = ?").get(t)) continue;
      for (const r of db.prepare(`SELECT body FROM ${t}`).iterate() as Iterable<{ body: string }>) for (const l of r.body.split("\n")) out.push((JSON.parse(l) as Event).id);
    }
  } finally {
    db.close();
    scratch.cleanup();
  }
  return out;
}

interface StoreStatus {
  salvagedEvents?: number;
  lostEvents?: number;
  missingEvents?: number;
  movedTo?: string;
  failedCommits: number;
}

async function uplinkStatus(gw: RunningGateway): Promise<{ queued: number; store: StoreStatus; healthy: boolean }> {
  const r = await gw.request("GET", "/status");
  const b = r.body as { healthy: boolean; components: { uplink: { queued: number; store: StoreStatus } } };
  return { queued: b.components.uplink.queued, store: b.components.uplink.store, healthy: b.healthy };
}

const movedAside = (data: string) => readdirSync(data).filter((f) => /^ridgeline\.db\.corrupt-\d{4}-\d{2}-\d{2}T[-\dZ]+$/.test(f));

/** Start, check it stays up, stop cleanly (exit 0); returns what /status said. */
async function runOnce(data: string, check: (st: Awaited<ReturnType<typeof uplinkStatus>>, gw: RunningGateway) => Promise<void> | void): Promise<void> {
  const gw = await startGateway({ dataDir: data, config: QUIET });
  try {
    const st = await uplinkStatus(gw);
    await check(st, gw);
    await new Promise((r) => setTimeout(r, 300));
    assert.is(gw.child.exitCode, null, "still running");
  } finally {
    const r = await gw.stop();
    assert.is(r.code, 0, `clean exit, not a crash (${r.code}): ${gw.stderr().slice(-2000)}`);
  }
}

/** Salvage: the declared salvaged count is what the new database holds, salvaged + lost = what was queued. */
async function checkSalvage(name: string, damage: (file: string) => void, opts: { someSalvaged: boolean }): Promise<void> {
  const t = tempDir();
  const data = join(t.dir, "data");
  const ids = await writeQueue(data, 6000);
  assert.is(readLedger(join(data, "ridgeline.db"))?.depth, 6000);
  damage(join(data, "ridgeline.db"));
  let salvaged = -1;
  await runOnce(data, async (st, gw) => {
    assert.is(movedAside(data).length, 1, `${name}: moved aside once: ${readdirSync(data).join(", ")}`);
    const inDb = idsIn(data);
    const known = new Set(ids);
    assert.ok(inDb.every((id) => known.has(id)), "only original events salvaged");
    assert.is(st.store.salvagedEvents, inDb.length, `${name}: declared salvaged = events in the new database`);
    assert.is(st.queued, inDb.length);
    assert.is(st.store.lostEvents, ids.length - inDb.length, `${name}: declared lost = queued before - salvaged`);
    if (opts.someSalvaged) assert.ok(inDb.length > 0 && inDb.length < ids.length, `${name}: partly salvaged (${inDb.length} of ${ids.length})`);
    assert.ok(st.healthy, "healthy once recovered");
    const metrics = (await gw.request("GET", "/metrics")).text;
    assert.match(metrics, new RegExp(`ridge_store_lost_events\\{cause="corrupt"\\} ${ids.length - inDb.length}\\b`));
    assert.match(metrics, new RegExp(`ridge_store_salvaged_events ${inDb.length}\\b`));
    assert.match(gw.stdout() + gw.stderr(), /moved to .*corrupt-.*salvaged/);
    salvaged = inDb.length;
    console.log(`${name}: ${inDb.length} of ${ids.length} events salvaged, ${ids.length - inDb.length} lost`);
  });
  // Second start: nothing new moved aside, the counts still reported, no crash.
  await runOnce(data, (st) => {
    assert.is(movedAside(data).length, 1);
    assert.is(st.store.salvagedEvents, salvaged);
    assert.is(st.queued, salvaged);
  });
  t.cleanup();
}

function pageSize(file: string): number {
  const h = readFileSync(file).subarray(16, 18);
  const v = h.readUInt16BE(0);
  return v === 1 ? 65536 : v;
}

test("garbage file: moved aside, fresh database, no crash", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  mkdirSync(data);
  writeFileSync(join(data, "ridgeline.db"), Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4096 * 3, 0xa5)]));
  await runOnce(data, async (_st, gw) => {
    assert.is(movedAside(data).length, 1, `moved aside: ${readdirSync(data).join(", ")}`);
    await waitFor("error reported", () => /moved to .*corrupt-/.test(gw.stdout() + gw.stderr()), 10_000);
    assert.match(gw.stdout() + gw.stderr(), /SQLITE_(NOTADB|CORRUPT)/);
  });
  t.cleanup();
});

test("truncated to half: the first half salvaged, the rest declared lost", async () => {
  await checkSalvage("truncated to half", (f) => truncateSync(f, Math.floor(statSync(f).size / 2)), { someSalvaged: true });
});

test("random pages overwritten: readable rows salvaged, the rest declared lost", async () => {
  await checkSalvage(
    "random pages overwritten",
    (f) => {
      const ps = pageSize(f);
      const pages = statSync(f).size / ps;
      const rnd = new SeededRandom(14);
      const fd = openSync(f, "r+");
      // Pages past the first third: the schema and the tables' root pages live at the start.
      for (let i = 0; i < 8; i++) {
        const p = Math.floor(pages / 3 + rnd.next() * (pages - pages / 3 - 1));
        writeSync(fd, Buffer.from(Array.from({ length: ps }, () => Math.floor(rnd.next() * 256))), 0, ps, p * ps);
      }
      closeSync(fd);
    },
    { someSalvaged: true },
  );
});

test("truncated to 0 bytes: starts empty and reports every queued event as lost", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  const ids = await writeQueue(data, 3000);
  truncateSync(join(data, "ridgeline.db"), 0);
  await runOnce(data, async (st, gw) => {
    assert.is(st.queued, 0);
    assert.is(st.store.missingEvents, ids.length);
    assert.match((await gw.request("GET", "/metrics")).text, new RegExp(`ridge_store_lost_events\\{cause="missing"\\} ${ids.length}\\b`));
    assert.match(gw.stdout() + gw.stderr(), new RegExp(`${ids.length} committed events are missing`));
  });
  // Reported, not counted twice.
  await runOnce(data, (st) => assert.is(st.store.missingEvents, ids.length));
  t.cleanup();
});

test("garbage in the WAL: the commits after it are gone, and exactly those events are reported lost", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  const ids = await writeQueue(data, 3000, 1000);
  const wal = join(data, "ridgeline.db-wal");
  const ps = pageSize(join(data, "ridgeline.db"));
  const frames = (statSync(wal).size - 32) / (24 + ps);
  assert.ok(frames > 20, `${frames} frames in the WAL`);
  // Garbage over one frame in the middle: SQLite stops reading the WAL at its bad checksum.
  const fd = openSync(wal, "r+");
  const at = 32 + Math.floor(frames / 2) * (24 + ps);
  const rnd = new SeededRandom(9);
  writeSync(fd, Buffer.from(Array.from({ length: 24 + ps }, () => Math.floor(rnd.next() * 256))), 0, 24 + ps, at);
  closeSync(fd);
  const left = idsIn(data).length;
  assert.ok(left >= 1000 && left < ids.length, `${left} of ${ids.length} readable`);
  await runOnce(data, (st) => {
    assert.is(st.queued, left);
    assert.is(st.store.missingEvents, ids.length - left, "declared lost = committed - readable");
    assert.is(movedAside(data).length, 0, "consistent, only shorter: not moved aside");
  });
  t.cleanup();
});

test("corruption found while running (SQLITE_CORRUPT in the link's read): same process recovers, salvages, drains the rest, declares exactly what never arrived", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  const ids = await writeQueue(data, 24_000, undefined, 200);
  const broker = await startMosquitto({ persist: true, maxSeconds: 170 });
  const sub = await collect(broker.url, "gw-corrupt");
  await broker.stop();
  const gw = await startGateway({
    dataDir: data,
    config: `${QUIET}cloud:\n  mqtt: { url: "${broker.url}", backoff: { base: 50, cap: 300 }, batch: { maxEvents: 200 }, inflight: 4 }\n`,
  });
  try {
    assert.is(movedAside(data).length, 0, "quick_check at start passed");
    // Damage pages between 40% and 60% of the file while the gateway runs (the link is down, nothing read them since start).
    const f = join(data, "ridgeline.db");
    const ps = pageSize(f);
    const pages = statSync(f).size / ps;
    const fd = openSync(f, "r+");
    const rnd = new SeededRandom(3);
    for (let i = 0; i < 6; i++) {
      const p = Math.floor(pages * (0.4 + 0.2 * rnd.next()));
      writeSync(fd, Buffer.from(Array.from({ length: ps }, () => Math.floor(rnd.next() * 256))), 0, ps, p * ps);
    }
    closeSync(fd);
    // better-sqlite3's page cache (16 MB) still holds the pages from the start's quick_check; a
    // commit by another connection makes the gateway drop its cache, so the pages are read from
    // disk again, as pages evicted from a real queue's cache would be.
    const poke = new Database(f);
    poke.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('test.poke', '1')").run();
    poke.close();
    await broker.restart();
    await waitFor("recovered in the same process", () => movedAside(data).length === 1 && /gateway started again on the recovered database/.test(gw.stdout() + gw.stderr()), 60_000, 100).catch((e: unknown) => {
      throw new Error(`${String(e)}\nstdout: ${gw.stdout().slice(-3000)}\nstderr: ${gw.stderr().slice(-2000)}`);
    });
    assert.is(gw.child.exitCode, null, "the gateway process stayed up");
    assert.not.match(gw.stdout() + gw.stderr(), /uncaught exception|unhandled rejection/);
    assert.match(gw.stderr(), /SQLITE_CORRUPT during read/);
    const st = await waitFor("drained after recovery", async () => {
      const x = await uplinkStatus(gw);
      return x.queued === 0 && x;
    }, 60_000, 200);
    const delivered = ids.filter((id) => sub.ids.has(id)).length;
    assert.ok(delivered > 0 && delivered < ids.length, `${delivered} of ${ids.length} delivered`);
    assert.is(st.store.lostEvents, ids.length - delivered, "declared lost = queued - delivered");
    assert.ok(st.healthy, "healthy again");
    console.log(`corrupt while running: ${delivered} of ${ids.length} delivered, ${st.store.salvagedEvents} salvaged, ${st.store.lostEvents} declared lost`);
  } finally {
    const r = await gw.stop();
    await sub.close();
    await broker.cleanup();
    assert.is(r.code, 0, `clean exit (${r.code}): ${gw.stderr().slice(-2000)}`);
  }
  t.cleanup();
});

test("a directory where ridgeline.db should be (I/O error): reported as such, not moved aside, no exit 70", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  mkdirSync(join(data, "ridgeline.db"), { recursive: true });
  for (let i = 0; i < 2; i++) {
    const gw = startGateway({ dataDir: data, config: QUIET, readyTimeoutMs: 20_000 });
    const err = await gw.then(
      () => undefined,
      (e: unknown) => String(e),
    );
    assert.ok(err, "does not start on a directory");
    assert.match(err!, /exited \((\d+)\)/);
    const code = Number(/exited \((\d+)\)/.exec(err!)![1]);
    assert.ok(code !== 70 && code !== 0, `exit ${code}`);
    assert.match(err!, /SQLITE_CANTOPEN|E_STORE_IO|unable to open/i);
    assert.not.match(err!, /SQLITE_CORRUPT|moved to/);
    assert.is(movedAside(data).length, 0);
  }
  t.cleanup();
});

test.run();
