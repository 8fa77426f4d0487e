/**
 * Store recovery (runtime/store/db.ts): what a salvage copies besides the queue (twin, OTA state,
 * the attestation audit chain with its index, meta), that the queue works on the salvaged database
 * with its counters recomputed, and that readers open read-only without creating anything.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { FakeClock } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { AuditLog } from "../../attest/audit-log.js";
import { UpdateStore } from "../../ota/update-store.js";
import { lastRecovery, openDatabase, openReadOnly } from "../../runtime/store/db.js";
import { UplinkQueue } from "../../runtime/store/queue.js";
import { TwinStore } from "../../runtime/store/twin-store.js";
import { tempDir } from "../../peers/process.js";

const ev = (i: number, kind = "telemetry"): Event => ({ id: `d/${i}`, ts: i, device: "d", kind, payload: { i } });
const opts = (clock: FakeClock) => ({ maxBytes: 1e9, maxAge: 1e12, whenFull: "evict-oldest-lowest-priority" as const, groupCommitMs: 1, groupCommitEvents: 1, clock });

function tables(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    return Object.fromEntries(names.map((n) => [n, (db.prepare(`SELECT count(*) AS c FROM "${n}"`).get() as { c: number }).c]));
  } finally {
    db.close();
  }
}

test("salvage copies every subsystem's tables row by row; the queue works on the result", async () => {
  const t = tempDir();
  const clock = new FakeClock(1_700_000_000_000);
  let db = openDatabase(t.dir);
  let q = new UplinkQueue(db, opts(clock));
  for (let i = 0; i < 20; i++) await q.append([ev(i, i % 5 === 0 ? "alarm" : "telemetry")]);
  const twin = new TwinStore(db, clock);
  twin.applyDesired("pump-3", 4, { run: true, setpoint: 42 });
  twin.updateReported("pump-3", { flow: 1.5 });
  new UpdateStore(db).save({ s: "idle" }, clock.now(), { kind: "runtime", version: "1.2.3" });
  const audit = new AuditLog(db);
  for (let i = 0; i < 3; i++) audit.append({ ts: i, gateway: "gw", verdict: "pass", reasons: [], evidenceSha256: "00", nonce: `n${i}` });
  q.close();
  db.close();
  const file = join(t.dir, "ridgeline.db");
  const before = tables(file);

  db = openDatabase(t.dir, "ridgeline.db", { forceRecover: { code: "SQLITE_CORRUPT", message: "test" } });
  const rec = lastRecovery(db)!;
  assert.is(rec.salvagedEvents, 20);
  assert.is(rec.lostEvents, 0);
  assert.is(rec.skippedRows, 0);
  assert.equal(rec.lostTables, []);
  assert.is(readdirSync(t.dir).filter((f) => /^ridgeline\.db\.corrupt-[^-]/.test(f) && !/-(wal|shm)$/.test(f)).length, 1);
  const after = tables(file);
  for (const [name, n] of Object.entries(before)) if (name !== "uplink_stats" && name !== "meta") assert.is(after[name], n, `${name}: ${n} rows`);
  assert.equal(new TwinStore(db, clock).document("pump-3").desired.state, { run: true, setpoint: 42 });
  assert.is(new UpdateStore(db).floor("runtime"), "1.2.3");
  assert.equal(new AuditLog(db).verifyChain(), { ok: true, value: { records: 3, head: new AuditLog(db).head().hash } });
  assert.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'attest_audit_gateway'").get(), "indexes recreated");
  q = new UplinkQueue(db, opts(clock));
  assert.is(q.depth(), 20, "counters recomputed from the salvaged rows");
  assert.is(q.depth("alarm"), 4);
  assert.is(q.stats().lostAtOpen, undefined, "the salvage's count is not reported again as missing");
  await q.append([ev(100)]);
  assert.is(q.depth(), 21);
  db.close();
  t.cleanup();
});

test("readers open read-only: a database no subsystem wrote to reads as empty, and nothing is created", () => {
  const t = tempDir();
  const db = openDatabase(t.dir);
  db.close();
  const file = join(t.dir, "ridgeline.db");
  const before = tables(file);
  const ro = openReadOnly(t.dir);
  try {
    const ota = new UpdateStore(ro);
    assert.equal(ota.load(), { s: "idle" });
    assert.equal(ota.history(), []);
    assert.is(ota.floor("runtime"), undefined);
    const audit = new AuditLog(ro);
    assert.equal(audit.list(), []);
    assert.equal(audit.verifyChain(), { ok: true, value: { records: 0, head: "0".repeat(64) } });
    assert.is(lastRecovery(ro), undefined);
    assert.throws(() => ro.exec("CREATE TABLE x (a)"), /readonly/);
  } finally {
    ro.close();
  }
  assert.equal(tables(file), before);
  assert.throws(() => openReadOnly(join(t.dir, "nowhere")), /unable to open|directory does not exist/);
  t.cleanup();
});

test("moved-aside copies are bounded: the newest two are kept", () => {
  const t = tempDir();
  for (let i = 0; i < 4; i++) openDatabase(t.dir, "ridgeline.db", { forceRecover: { code: "SQLITE_CORRUPT", message: "test" }, now: () => Date.UTC(2026, 0, 1, 0, i) }).close();
  const kept = readdirSync(t.dir).filter((f) => /^ridgeline\.db\.corrupt-.*Z$/.test(f)).sort();
  assert.equal(kept, ["ridgeline.db.corrupt-2026-01-01T00-02-00-000Z", "ridgeline.db.corrupt-2026-01-01T00-03-00-000Z"]);
  t.cleanup();
});

test.run();
