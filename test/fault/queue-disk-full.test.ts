/**
 * A small data volume: a 6 MiB tmpfs mounted by the test (as root), the queue's byte limit far
 * above it. A real ENOSPC (SQLITE_FULL) must shrink the limit to what the disk holds, evict oldest
 * telemetry first, keep the newest alarms, count it all, and never crash. Without root (no mount)
 * the same is checked with the queue byte limit alone.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { systemClock } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { openDatabase } from "../../runtime/store/db.js";
import { UplinkQueue, rowEvents, type EvictReason } from "../../runtime/store/queue.js";
import { tempDir } from "../../peers/process.js";

function ev(i: number, kind: string): Event {
  return { id: `d${i % 4}/${i}`, ts: i, device: `d${i % 4}`, kind, payload: { i, blob: "y".repeat(400) } };
}

function tryMount(dir: string): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", dir], { stdio: "ignore" }).status === 0;
}

test("disk full (or byte limit): oldest telemetry evicted, newest alarms kept, counted, no crash", async () => {
  const t = tempDir();
  const vol = join(t.dir, "vol");
  mkdirSync(vol);
  const mounted = tryMount(vol);
  const db = openDatabase(vol);
  const counted: Record<string, number> = {};
  const q = new UplinkQueue(db, {
    maxBytes: mounted ? 1024 ** 3 : 2 * 1024 ** 2,
    maxAge: 86_400_000,
    whenFull: "evict-oldest-lowest-priority",
    groupCommitMs: 5,
    groupCommitEvents: 200,
    clock: systemClock,
    onEvict: (i: { reason: EvictReason; events: number; dropped: boolean; priority: string }) => {
      const k = `${i.dropped ? "dropped" : "evicted"}:${i.priority}:${i.reason}`;
      counted[k] = (counted[k] ?? 0) + i.events;
    },
  });
  try {
    // ~45 MB offered to a 6 MB volume: one alarm per 50 events.
    let lastAlarm = "";
    for (let b = 0; b < 500; b++) {
      const batch: Event[] = [];
      for (let i = 0; i < 200; i++) {
        const n = b * 200 + i;
        const e = ev(n, n % 50 === 0 ? "alarm" : "telemetry");
        if (e.kind === "alarm") lastAlarm = e.id;
        batch.push(e);
      }
      await q.append(batch);
    }
    const s = q.stats();
    const reason = mounted ? "disk-full" : "limit";
    assert.ok((counted[`evicted:telemetry:${reason}`] ?? 0) > 0, `telemetry evicted for ${reason}: ${JSON.stringify(counted)}`);
    assert.is(counted["evicted:alarm:limit"] ?? 0, 0, "no alarm evicted while telemetry was there");
    const alarms = rowEvents(q.read("alarm", 0, 100_000)).map((e) => e.id);
    assert.is(alarms[alarms.length - 1], lastAlarm, "the newest alarm is kept");
    if (mounted) assert.ok(s.effectiveMaxBytes < 6 * 1024 ** 2, `limit shrank to ${s.effectiveMaxBytes}`);
    // Still working: a new alarm commits.
    await q.append([ev(999_999, "alarm")]);
    assert.is(rowEvents(q.read("alarm", 0, 100_000)).pop()!.id, "d3/999999");
    console.log(`${mounted ? "tmpfs 6 MiB" : "byte limit 2 MiB"}: ${s.events} events queued (${s.bytes} B), ${JSON.stringify(counted)}`);
    // The evicted/dropped counters were committed with the evictions: a restart keeps them (kill -9 included: no close here).
    const last = q.stats();
    const db2 = openDatabase(vol);
    const q2 = new UplinkQueue(db2, { maxBytes: 1e9, maxAge: 86_400_000, whenFull: "evict-oldest-lowest-priority", groupCommitMs: 5, groupCommitEvents: 200, clock: systemClock });
    assert.equal(q2.stats().evicted, last.evicted);
    assert.is(q2.stats().dropped, last.dropped);
    assert.is(q2.depth(), last.events);
    assert.is(q2.stats().lostAtOpen, undefined, "nothing reported missing after a full disk");
    db2.close();
  } finally {
    q.close();
    db.close();
    if (mounted) spawnSync("umount", [vol], { stdio: "ignore" });
    t.cleanup();
  }
});

test.run();
