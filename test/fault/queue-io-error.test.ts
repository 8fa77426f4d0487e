/**
 * A failing disk is an I/O error, not corruption: reported as such (SQLITE_IOERR…), never moved
 * aside or "salvaged", the commit retried with backoff (the pipeline keeps the batch), the gateway
 * unhealthy while its commits fail and healthy again once one succeeds; never a crash.
 *
 * 1. A real failing disk (root only): the data directory on a small ext4 loop device mounted
 *    errors=remount-ro, then an ext4 error is triggered (/sys/fs/ext4/<dev>/trigger_fs_error):
 *    the filesystem turns read-only under the running gateway, as a dying SD card's does.
 * 2. Any host: the uplink queue component over a database whose statements throw SQLITE_IOERR_WRITE for a
 *    while (better-sqlite3's own SqliteError), then recover.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Event } from "../../core/event.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { createUplink, makeParts } from "../helpers/cloud.js";
import { startGateway } from "../helpers/gateway.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function loopExt4(dir: string): { dev: string; mnt: string; cleanup(): void } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const img = join(dir, "disk.img");
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  writeFileSync(img, Buffer.alloc(0));
  if (spawnSync("truncate", ["-s", "24M", img]).status !== 0) return undefined;
  if (spawnSync("mkfs.ext4", ["-q", "-F", img], { stdio: "ignore" }).status !== 0) return undefined;
  const l = spawnSync("losetup", ["-f", "--show", img], { encoding: "utf8" });
  if (l.status !== 0) return undefined;
  const dev = l.stdout.trim();
  if (spawnSync("mount", ["-o", "errors=remount-ro", dev, mnt], { stdio: "ignore" }).status !== 0) {
    spawnSync("losetup", ["-d", dev]);
    return undefined;
  }
  if (!existsSync(`/sys/fs/ext4/${basename(dev)}/trigger_fs_error`)) {
    spawnSync("umount", [mnt]);
    spawnSync("losetup", ["-d", dev]);
    return undefined;
  }
  return {
    dev,
    mnt,
    cleanup() {
      spawnSync("umount", ["-l", mnt]);
      spawnSync("losetup", ["-d", dev]);
    },
  };
}

test("a real disk that fails under the running gateway (ext4 goes read-only): I/O error reported, unhealthy, no crash, nothing moved aside", async () => {
  const t = tempDir();
  const disk = loopExt4(t.dir);
  if (!disk) t.cleanup();
  assert.ok(disk, "a failing disk needs root, a loop device and ext4's trigger_fs_error (CI has them): a missing one is a failure, never a skip");
  const data = join(disk.mnt, "data");
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    gw = await startGateway({
      dataDir: data,
      config: `gateway: { id: gw-eio }
log: { level: info }
drivers:
  - sim: { name: trail, devices: 2, rateHz: 50 }
pipeline:
  sources: { all: { from: trail } }
  sinks:
    cloud: { uplink: {}, input: all }
`,
    });
    const g = gw;
    await waitFor("events committed", async () => ((await g.request("GET", "/status")).body as { components: { uplink: { queued: number } } }).components.uplink.queued > 50, 15_000, 100);
    assert.is((await g.request("GET", "/healthz")).status, 200);
    writeFileSync(`/sys/fs/ext4/${basename(disk.dev)}/trigger_fs_error`, "ridgeline fault test");
    type St = { healthy: boolean; components: { uplink: { store: { ioErrors: number; failedCommits: number; lastFault?: { kind: string; code: string } } } } };
    const st = await waitFor("commits failing", async () => {
      const b = (await g.request("GET", "/status")).body as St;
      return b.components.uplink.store.failedCommits > 2 && b;
    }, 15_000, 100);
    await sleep(1500);
    assert.is(g.child.exitCode, null, `still running: ${g.stderr().slice(-2000)}`);
    assert.is(st.healthy, false, "not healthy while commits fail");
    assert.is((await g.request("GET", "/healthz")).status, 503);
    assert.is(st.components.uplink.store.lastFault?.kind, "io");
    assert.match(st.components.uplink.store.lastFault!.code, /^SQLITE_(IOERR|READONLY|CANTOPEN)/);
    assert.ok(st.components.uplink.store.ioErrors > 0);
    const log = g.stdout() + g.stderr();
    assert.match(log, /I\/O error on the database/);
    assert.not.match(log, /corrupt|uncaught exception|unhandled rejection/i);
    assert.equal(readdirSync(data).filter((f) => f.includes("corrupt")), []);
    assert.match((await g.request("GET", "/metrics")).text, /ridge_store_faults_total\{kind="io",op="commit"\} [1-9]/);
    console.log(`failing disk: ${st.components.uplink.store.failedCommits} commits failed (${st.components.uplink.store.lastFault!.code}), gateway up and unhealthy`);
    const r = await g.stop();
    assert.ok(r.code !== 70, `no crash exit (${r.code})`);
  } finally {
    await gw?.kill9();
    disk.cleanup();
    t.cleanup();
  }
});

/** The same database with every statement failing while `state.failing`. */
function failingDb(db: Database.Database, state: { failing: boolean }): Database.Database {
  const fail = () => {
    if (state.failing) throw new Database.SqliteError("disk I/O error", "SQLITE_IOERR_WRITE");
  };
  const wrapStatement = (st: Database.Statement) =>
    new Proxy(st, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (typeof v !== "function") return v;
        if (prop === "run" || prop === "get" || prop === "all" || prop === "iterate")
          return (...a: unknown[]) => {
            fail();
            return (v as (...x: unknown[]) => unknown).apply(target, a);
          };
        return (v as (...x: unknown[]) => unknown).bind(target);
      },
    });
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...x: unknown[]) => unknown).bind(target) : v;
    },
  });
}

test("SQLITE_IOERR on commits and reads: rejected as E_STORE_IO (retried by the caller), reads empty, unhealthy, then healthy again; never treated as corruption", async () => {
  const t = tempDir();
  const base = makeParts({ dataDir: t.dir, config: {} });
  const state = { failing: false };
  const s = { ...base, db: failingDb(base.db, state) };
  const uplink = await createUplink(s);
  let corrupt = 0;
  uplink.onStoreCorrupt = () => corrupt++;
  await uplink.start();
  const ev = (i: number): Event => ({ id: `d/${i}`, ts: i, device: "d", kind: "telemetry", payload: { i } });
  try {
    await uplink.sink.accept([ev(1), ev(2)]);
    assert.ok(uplink.queueComponent.health().up);
    state.failing = true;
    for (let i = 0; i < 3; i++) {
      try {
        await uplink.sink.accept([ev(10 + i)]);
        assert.unreachable("a failing commit must reject");
      } catch (e) {
        assert.is((e as { code?: string }).code, "E_STORE_IO");
      }
    }
    assert.equal(uplink.queue.read("telemetry", 0, 100), [], "a failing read is empty, not thrown into the link");
    assert.is(uplink.queue.ack("telemetry", 1, 1), 0, "a failing ack deletes nothing (sent again later)");
    const h = uplink.queueComponent.health();
    assert.is(h.up, false);
    assert.match(h.detail ?? "", /3 commits failed in a row \(SQLITE_IOERR_WRITE\)/);
    const st = uplink.queue.stats();
    assert.is(st.fault?.kind, "io");
    assert.ok(st.ioErrors >= 5);
    // The disk comes back: the caller's retry commits, health returns, nothing was "recovered".
    state.failing = false;
    await uplink.sink.accept([ev(10), ev(11), ev(12)]);
    assert.ok(uplink.queueComponent.health().up);
    assert.is(uplink.queue.stats().failedCommits, 0);
    assert.is(uplink.queue.depth(), 5);
    await sleep(20);
    assert.is(corrupt, 0, "an I/O error is never handled as corruption");
    assert.equal(readdirSync(t.dir).filter((f) => f.includes("corrupt")), []);
    assert.match(await s.metrics.text(), /ridge_store_faults_total\{kind="io",op="commit"\} 3/);
  } finally {
    await uplink.stop();
    base.db.close();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("another process holds the write lock past the busy timeout: reads and acks never throw into the link, the commit rejects E_STORE_BUSY and succeeds once released", async () => {
  const t = tempDir();
  const s = makeParts({ dataDir: t.dir, config: {} });
  const uplink = await createUplink(s);
  await uplink.start();
  const ev = (i: number): Event => ({ id: `d/${i}`, ts: i, device: "d", kind: "telemetry", payload: { i } });
  const other = new Database(join(t.dir, "ridgeline.db"));
  try {
    await uplink.sink.accept([ev(1), ev(2)]);
    const rows = uplink.queue.read("telemetry", 0, 10);
    s.db.pragma("busy_timeout = 50");
    other.exec("BEGIN IMMEDIATE");
    assert.is(uplink.queue.ack("telemetry", rows[0]!.seq, rows[rows.length - 1]!.seq), 0, "the ack waits 50 ms, then gives up without throwing");
    assert.is(uplink.queue.stats().fault?.kind, "busy");
    try {
      await uplink.sink.accept([ev(3)]);
      assert.unreachable();
    } catch (e) {
      assert.is((e as { code?: string }).code, "E_STORE_BUSY");
    }
    assert.is(uplink.queueComponent.health().up, false);
    other.exec("COMMIT");
    await uplink.sink.accept([ev(3)]);
    assert.is(uplink.queue.ack("telemetry", rows[0]!.seq, rows[rows.length - 1]!.seq), 2);
    assert.ok(uplink.queueComponent.health().up);
    assert.is(uplink.queue.depth(), 1);
  } finally {
    other.close();
    await uplink.stop();
    s.db.close();
    t.cleanup();
  }
});

test.run();
