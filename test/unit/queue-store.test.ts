import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync, readdirSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { FakeClock } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { openDatabase, lastRecovery } from "../../runtime/store/db.js";
import { EVENT_OVERHEAD, UplinkQueue, priorityOf, rowEvents, type QueueOptions, type QueuedRow } from "../../runtime/store/queue.js";
import type { BootInfo } from "../../runtime/store/age-clock.js";
import { readLedger } from "../../runtime/store/queue-ledger.js";
import { tempDir } from "../../peers/process.js";

function ev(device: string, seq: number, kind = "telemetry", pad = 0): Event {
  return { id: `${device}/${seq}`, ts: 1000 + seq, device, kind, payload: { v: seq, ...(pad ? { pad: "x".repeat(pad) } : {}) } };
}

function mk(over: Partial<QueueOptions> = {}) {
  const t = tempDir();
  const clock = new FakeClock(1_700_000_000_000);
  const db = openDatabase(t.dir);
  const evictions: { priority: string; events: number; reason: string; dropped: boolean }[] = [];
  const q = new UplinkQueue(db, { maxBytes: 1e9, maxAge: 86_400_000, whenFull: "evict-oldest-lowest-priority", groupCommitMs: 10, groupCommitEvents: 1000, clock, onEvict: (i) => evictions.push(i), ...over });
  return { t, clock, db, q, evictions, done: () => { db.close(); t.cleanup(); } };
}

const ids = (rows: QueuedRow[]) => rowEvents(rows).map((e) => e.id);

test("kinds interleaved in one commit are packed into one row each, every kind in its order; read(oneKind) stops at another kind", async () => {
  const { clock, q, done } = mk();
  const batch: Event[] = [];
  for (let i = 0; i < 40; i++) {
    batch.push(ev(`d${i % 4}`, i));
    if (i % 5 === 4) batch.push(ev(`d${i % 4}`, 1000 + i, "aggregate"));
  }
  const p = q.append(batch);
  await clock.advance(10);
  await p;
  const rows = q.read("telemetry", 0, 1000);
  assert.equal(rows.map((r) => [r.kind, r.n]), [["telemetry", 40], ["aggregate", 8]]);
  const byKind = (k: string) => batch.filter((e) => e.kind === k).map((e) => e.id);
  assert.equal(rowEvents(rows.filter((r) => r.kind === "telemetry")).map((e) => e.id), byKind("telemetry"));
  assert.equal(rowEvents(rows.filter((r) => r.kind === "aggregate")).map((e) => e.id), byKind("aggregate"));
  assert.equal(q.read("telemetry", 0, 1000, Infinity, true).map((r) => r.kind), ["telemetry"]);
  done();
});

test("an append resolves only after its group commit", async () => {
  const { clock, q, done } = mk();
  let acked = false;
  const p = q.append([ev("d1", 1)]).then(() => (acked = true));
  await Promise.resolve();
  assert.is(acked, false);
  assert.is(q.depth(), 0);
  await clock.advance(10);
  await p;
  assert.is(acked, true);
  assert.is(q.depth(), 1);
  done();
});

test("a full group commits at once without waiting for the timer", async () => {
  const { q, done } = mk({ groupCommitEvents: 5 });
  await q.append([1, 2, 3, 4, 5].map((i) => ev("d", i)));
  assert.is(q.depth(), 5);
  done();
});

test("priority classes: by kind, else telemetry; meta is the device's and never chooses one", () => {
  assert.is(priorityOf(ev("d", 1, "alarm")), "alarm");
  assert.is(priorityOf(ev("d", 1, "state")), "state");
  assert.is(priorityOf(ev("d", 1, "whatever")), "telemetry");
  assert.is(priorityOf({ ...ev("d", 1, "telemetry"), meta: { priority: "alarm" } }), "telemetry");
});

test("an append with a priority class (an uplink sink's) queues every event in it, unchanged", async () => {
  const { q, done } = mk({ groupCommitEvents: 2 });
  const batch = [ev("d", 1, "telemetry"), ev("d", 2, "state")];
  await q.append(batch, "alarm");
  assert.is(q.depth("alarm"), 2);
  assert.is(q.depth("telemetry"), 0);
  const got = rowEvents(q.read("alarm", 0, 10));
  assert.equal(got, batch, "no priority written into the events");
  done();
});

test("a group commit packs events of one class and kind into rows, in order", async () => {
  const { clock, q, done } = mk();
  const p = q.append([ev("a", 1), ev("b", 1), ev("a", 2), ev("a", 3, "alarm"), ev("b", 2), ev("b", 3, "other")]);
  await clock.advance(10);
  await p;
  const tel = q.read("telemetry", 0, 10);
  assert.equal(tel.map((r) => [r.kind, r.n]), [["telemetry", 4], ["other", 1]], "a change of kind starts a new row");
  assert.equal(ids(tel), ["a/1", "b/1", "a/2", "b/2", "b/3"]);
  assert.equal(ids(q.read("alarm", 0, 10)), ["a/3"]);
  assert.is(q.ack("telemetry", tel[0]!.seq, tel[0]!.seq), 4);
  assert.is(q.depth(), 2);
  done();
});

test("reads stop at maxEvents; ack deletes exactly the range, twice is harmless", async () => {
  const { q, done } = mk({ groupCommitEvents: 1 });
  for (const e of [ev("a", 1), ev("b", 1), ev("a", 2), ev("b", 2)]) await q.append([e]);
  const first = q.read("telemetry", 0, 2);
  assert.equal(ids(first), ["a/1", "b/1"]);
  assert.is(q.ack("telemetry", first[0]!.seq, first[1]!.seq), 2);
  assert.equal(ids(q.read("telemetry", 0, 10)), ["a/2", "b/2"]);
  assert.is(q.ack("telemetry", first[0]!.seq, first[1]!.seq), 0);
  assert.is(q.depth(), 2);
  done();
});

test("sequence numbers keep growing after the table empties (the link's cursor stays valid)", async () => {
  const { q, done } = mk({ groupCommitEvents: 1 });
  await q.append([ev("a", 1)]);
  const r1 = q.read("telemetry", 0, 10);
  q.ack("telemetry", r1[0]!.seq, r1[0]!.seq);
  assert.is(q.depth(), 0);
  await q.append([ev("a", 2)]);
  assert.equal(ids(q.read("telemetry", r1[0]!.seq, 10)), ["a/2"]);
  done();
});

test("read respects maxBytes but always returns at least one row", async () => {
  const { q, done } = mk({ groupCommitEvents: 1 });
  await q.append([ev("a", 1, "telemetry", 500)]);
  await q.append([ev("a", 2, "telemetry", 500)]);
  assert.is(q.read("telemetry", 0, 10, 100).length, 1);
  assert.is(q.read("telemetry", 0, 10, 10_000).length, 2);
  done();
});

test("byte limit: oldest telemetry evicted first, counted, newest alarms kept", async () => {
  const one = JSON.stringify(ev("d", 1, "telemetry", 200)).length + EVENT_OVERHEAD;
  const { q, evictions, done } = mk({ maxBytes: one * 20, groupCommitEvents: 1 });
  for (let i = 0; i < 10; i++) await q.append([ev("d", i, "alarm", 200)]);
  for (let i = 10; i < 40; i++) await q.append([ev("d", i, "telemetry", 200)]);
  const s = q.stats();
  assert.ok(s.bytes <= one * 20 + EVENT_OVERHEAD, `bytes ${s.bytes} within the limit`);
  assert.is(s.byPriority.alarm.events, 10, "all alarms kept");
  assert.ok(s.evicted.limit > 0);
  assert.ok(evictions.every((e) => e.priority === "telemetry" && e.reason === "limit"));
  // newest telemetry is what remains
  const tel = ids(q.read("telemetry", 0, 100));
  assert.is(tel[tel.length - 1], "d/39");
  // now alarms only: the oldest alarms go, the newest stay
  for (let i = 40; i < 70; i++) await q.append([ev("d", i, "alarm", 200)]);
  const al = ids(q.read("alarm", 0, 100));
  assert.is(al[al.length - 1], "d/69");
  assert.is(q.depth("telemetry"), 0);
  assert.ok(q.stats().bytes <= one * 20 + EVENT_OVERHEAD);
  done();
});

test("a telemetry event never evicts an alarm: it is dropped and counted", async () => {
  const one = JSON.stringify(ev("d", 1, "alarm", 200)).length + EVENT_OVERHEAD;
  const { q, evictions, done } = mk({ maxBytes: one * 5, groupCommitEvents: 1 });
  for (let i = 0; i < 5; i++) await q.append([ev("d", i, "alarm", 200)]);
  await q.append([ev("d", 99, "telemetry", 200)]);
  assert.is(q.depth("alarm"), 5);
  assert.is(q.depth("telemetry"), 0);
  assert.is(q.stats().dropped, 1);
  assert.ok(evictions.some((e) => e.dropped && e.priority === "telemetry"));
  done();
});

test("drop-newest refuses incoming events when full", async () => {
  const one = JSON.stringify(ev("d", 1, "telemetry", 200)).length + EVENT_OVERHEAD;
  const { q, done } = mk({ maxBytes: one * 5, groupCommitEvents: 1, whenFull: "drop-newest" });
  for (let i = 0; i < 8; i++) await q.append([ev("d", i, "telemetry", 200)]);
  assert.equal(ids(q.read("telemetry", 0, 100)), ["d/0", "d/1", "d/2", "d/3", "d/4"]);
  assert.is(q.stats().dropped, 3);
  done();
});

test("TTL: events older than maxAge are expired and counted", async () => {
  const { clock, q, done } = mk({ maxAge: 60_000, groupCommitEvents: 1 });
  await q.append([ev("d", 1)]);
  await clock.advance(30_000);
  await q.append([ev("d", 2)]);
  await clock.advance(40_000);
  assert.is(q.expire(), 1);
  assert.equal(ids(q.read("telemetry", 0, 10)), ["d/2"]);
  assert.is(q.stats().evicted.ttl, 1);
  done();
});

test("counters survive a reopen without a scan", async () => {
  const t = tempDir();
  const clock = new FakeClock(0);
  const o = { maxBytes: 1e9, maxAge: 1e12, whenFull: "evict-oldest-lowest-priority" as const, groupCommitMs: 10, groupCommitEvents: 1, clock };
  let db = openDatabase(t.dir);
  let q = new UplinkQueue(db, o);
  await q.append([ev("a", 1), ev("a", 2, "alarm")]);
  const before = q.stats();
  q.close();
  db.close();
  db = openDatabase(t.dir);
  q = new UplinkQueue(db, o);
  assert.is(q.stats().events, 2);
  assert.is(q.stats().bytes, before.bytes);
  assert.is(q.stats().byPriority.alarm.events, 1);
  db.close();
  t.cleanup();
});

test("appends after close are refused with E_QUEUE_CLOSED", async () => {
  const { q, done } = mk();
  q.close();
  try {
    await q.append([ev("a", 1)]);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "E_QUEUE_CLOSED");
  }
  done();
});

test("a corrupted database is moved aside with a timestamp and a fresh one started", () => {
  const t = tempDir();
  writeFileSync(join(t.dir, "ridgeline.db"), Buffer.alloc(8192, 0x5a));
  let rec: { movedTo: string; code: string } | undefined;
  const db = openDatabase(t.dir, "ridgeline.db", { onRecover: (r) => (rec = r), now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
  assert.ok(rec);
  assert.is(rec!.code, "SQLITE_NOTADB");
  assert.ok(readdirSync(t.dir).includes("ridgeline.db.corrupt-2026-01-02T03-04-05-000Z"));
  assert.is(lastRecovery(db)?.code, "SQLITE_NOTADB");
  const q = new UplinkQueue(db, { maxBytes: 1e6, maxAge: 1e9, whenFull: "drop-newest", groupCommitMs: 1, groupCommitEvents: 1, clock: new FakeClock() });
  assert.is(q.depth(), 0);
  db.close();
  t.cleanup();
});

test("evicted and dropped counters survive a restart (meta table, same transaction)", async () => {
  const t = tempDir();
  const clock = new FakeClock(1_700_000_000_000);
  const o = { maxBytes: 3000, maxAge: 60_000, whenFull: "evict-oldest-lowest-priority" as const, groupCommitMs: 10, groupCommitEvents: 1, clock };
  let db = openDatabase(t.dir);
  let q = new UplinkQueue(db, o);
  for (let i = 0; i < 40; i++) await q.append([ev("d", i, "telemetry", 100)]);
  await clock.advance(120_000);
  await q.append([ev("d", 99, "telemetry", 100)]);
  q.expire();
  const before = q.stats();
  assert.ok(before.evicted.limit > 0 && before.evicted.ttl > 0, JSON.stringify(before.evicted));
  q.close();
  db.close();
  db = openDatabase(t.dir);
  q = new UplinkQueue(db, { ...o, whenFull: "drop-newest", maxBytes: 1 });
  assert.equal(q.stats().evicted, before.evicted);
  assert.is(q.stats().dropped, before.dropped);
  await q.append([ev("d", 100, "telemetry", 100), ev("d", 101, "telemetry", 100)]);
  assert.is(q.stats().dropped, before.dropped + 2);
  // kill -9 right after the drop (no close): the count is already committed.
  const db2 = openDatabase(t.dir);
  const q2 = new UplinkQueue(db2, o);
  assert.is(q2.stats().dropped, before.dropped + 2);
  db2.close();
  db.close();
  t.cleanup();
});

/** Wall clock = monotonic + skew; `jump` moves only the wall clock (NTP, an RTC-less boot). */
class JumpClock extends FakeClock {
  skew = 0;
  override now(): number {
    return this.monotonic() + this.skew;
  }
  jump(ms: number): void {
    this.skew += ms;
  }
}

function boot(id: string, clock: JumpClock, at = clock.monotonic()): BootInfo & { id: string } {
  const b = { id, bootId: () => b.id, sinceBoot: () => clock.monotonic() - at };
  return b;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function ageQueue(dir: string, clock: JumpClock, b: BootInfo) {
  const db = openDatabase(dir);
  const q = new UplinkQueue(db, { maxBytes: 1e9, maxAge: HOUR, whenFull: "evict-oldest-lowest-priority", groupCommitMs: 10, groupCommitEvents: 1, clock, boot: b });
  return { db, q };
}

test("clock jumps forward (RTC-less boot corrected by NTP): events queued before the jump are not expired", async () => {
  const t = tempDir();
  const clock = new JumpClock(Date.UTC(2026, 0, 1) - 5 * DAY);
  const { db, q } = ageQueue(t.dir, clock, boot("b1", clock));
  for (let i = 0; i < 50; i++) await q.append([ev("d", i)]);
  await clock.advance(60_000);
  clock.jump(5 * DAY);
  assert.is(q.expire(), 0, "a minute old by monotonic time: kept");
  assert.is(q.depth(), 50);
  assert.is(Math.round(q.stats().byPriority.telemetry.oldestAgeMs / 1000), 60);
  await clock.advance(HOUR);
  assert.is(q.expire(), 50, "expired once an hour has really passed");
  db.close();
  t.cleanup();
});

test("clock jumps backward: events do not live forever", async () => {
  const t = tempDir();
  const clock = new JumpClock(Date.UTC(2026, 0, 1));
  const { db, q } = ageQueue(t.dir, clock, boot("b1", clock));
  for (let i = 0; i < 10; i++) await q.append([ev("d", i)]);
  clock.jump(-30 * DAY);
  await clock.advance(HOUR - 1000);
  assert.is(q.expire(), 0);
  await clock.advance(2000);
  assert.is(q.expire(), 10, "expired after maxAge of monotonic time although the wall clock is 30 days behind");
  db.close();
  t.cleanup();
});

test("restart in the same boot: age keeps counting by monotonic time, whatever the wall clock did", async () => {
  const t = tempDir();
  const clock = new JumpClock(Date.UTC(2026, 0, 1));
  const b = boot("b1", clock);
  let { db, q } = ageQueue(t.dir, clock, b);
  for (let i = 0; i < 10; i++) await q.append([ev("d", i)]);
  q.close();
  db.close();
  // The process is down 40 minutes; meanwhile the wall clock is set back a day.
  await clock.advance(40 * 60_000);
  clock.jump(-DAY);
  ({ db, q } = ageQueue(t.dir, clock, b));
  await clock.advance(19 * 60_000);
  assert.is(q.expire(), 0);
  await clock.advance(2 * 60_000);
  assert.is(q.expire(), 10);
  db.close();
  t.cleanup();
});

test("reboot (new boot id): downtime counts by trusted wall time; a wall clock behind the last one is not trusted", async () => {
  for (const trusted of [true, false]) {
    const t = tempDir();
    const clock = new JumpClock(Date.UTC(2026, 0, 1));
    let { db, q } = ageQueue(t.dir, clock, boot("b1", clock));
    for (let i = 0; i < 10; i++) await q.append([ev("d", i)]);
    await clock.advance(10 * 60_000);
    q.expire(); // persists the anchor
    q.close();
    db.close();
    // Down 30 minutes; the new boot's wall clock is right (trusted) or days in the past (RTC-less).
    await clock.advance(30 * 60_000);
    if (!trusted) clock.jump(-5 * DAY);
    ({ db, q } = ageQueue(t.dir, clock, boot("b2", clock)));
    await clock.advance(21 * 60_000);
    if (trusted) assert.is(q.expire(), 10, "10 + 30 + 21 minutes: expired");
    else {
      assert.is(q.expire(), 0, "downtime unknown: only the 10 + 21 minutes measured count");
      // NTP then corrects the clock forward by days: still not expired.
      clock.jump(5 * DAY);
      assert.is(q.expire(), 0);
      await clock.advance(30 * 60_000);
      assert.is(q.expire(), 10, "and they do expire after maxAge of measured time");
    }
    db.close();
    t.cleanup();
  }
});

test("a database truncated to 0 bytes: the ledger reports the committed events that vanished", async () => {
  const t = tempDir();
  const clock = new FakeClock(1_700_000_000_000);
  const o = { maxBytes: 1e9, maxAge: 1e12, whenFull: "evict-oldest-lowest-priority" as const, groupCommitMs: 10, groupCommitEvents: 1, clock };
  let db = openDatabase(t.dir);
  let q = new UplinkQueue(db, o);
  for (let i = 0; i < 30; i++) await q.append(Array.from({ length: 10 }, (_, k) => ev("d", i * 10 + k)));
  const rows = q.read("telemetry", 0, 100);
  q.ack("telemetry", rows[0]!.seq, rows[rows.length - 1]!.seq);
  q.close();
  assert.equal(readLedger(db.name), { appended: 300, depth: 200 });
  db.close();
  truncateSync(join(t.dir, "ridgeline.db"), 0);
  for (const x of ["-wal", "-shm"]) rmSync(join(t.dir, "ridgeline.db" + x), { force: true });
  db = openDatabase(t.dir);
  q = new UplinkQueue(db, o);
  assert.is(q.stats().lostAtOpen?.events, 200);
  assert.is(q.depth(), 0);
  q.close();
  db.close();
  // Reported once, kept in the database for /status; not counted again at the next start.
  db = openDatabase(t.dir);
  q = new UplinkQueue(db, o);
  assert.is(q.stats().lostAtOpen?.events, 200);
  assert.is(q.stats().appended, 300);
  db.close();
  t.cleanup();
});

test("a database from before queue time (no qt column): migrated in place, its rows age by wall clock", async () => {
  const t = tempDir();
  const clock = new FakeClock(1_700_000_000_000);
  let db = openDatabase(t.dir);
  db.exec("CREATE TABLE uplink_rows_telemetry (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, bytes INTEGER NOT NULL, body TEXT NOT NULL)");
  const body = JSON.stringify(ev("old", 1));
  db.prepare("INSERT INTO uplink_rows_telemetry VALUES (1, ?, 'telemetry', 1, ?, ?)").run(clock.now() - 30 * 60_000, body.length + EVENT_OVERHEAD, body);
  db.close();
  db = openDatabase(t.dir);
  const q = new UplinkQueue(db, { maxBytes: 1e9, maxAge: 3_600_000, whenFull: "evict-oldest-lowest-priority", groupCommitMs: 10, groupCommitEvents: 1, clock });
  assert.is(q.depth(), 1, "counted once at the first start");
  assert.is(q.stats().lostAtOpen, undefined, "no ledger yet: nothing to compare, nothing reported");
  await q.append([ev("new", 2)]);
  assert.equal(ids(q.read("telemetry", 0, 10)), ["old/1", "new/2"]);
  await clock.advance(31 * 60_000);
  assert.is(q.expire(), 1, "the old row expires by its wall-clock age");
  assert.equal(ids(q.read("telemetry", 0, 10)), ["new/2"]);
  db.close();
  t.cleanup();
});

test.run();
