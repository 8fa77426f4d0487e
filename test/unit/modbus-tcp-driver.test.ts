/**
 * The Modbus driver with `transport: tcp` on a fake clock: the poll scheduler runs up to
 * `maxInFlight` groups at once (never one group twice), a dropped connection is reconnected with
 * backoff through the `openSocket` seam, and garbage makes the driver drop and reopen it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import { createModbusDriver, type ModbusDeviceConfig, type ModbusDriverConfig, type PortHandle, type TcpOpener } from "../../drivers/modbus/index.js";
import { PollScheduler } from "../../drivers/modbus/poll-scheduler.js";
import { advanceBy, recordingContext } from "../helpers/modbus.js";
import { FakeTcpServer } from "../helpers/modbus-tcp.js";
import { tempDir } from "../../peers/process.js";

test("scheduler concurrency 3: three groups polled at once, the fourth when one ends, no group twice", async () => {
  const clock = new FakeClock(0);
  let running = 0;
  let most = 0;
  const busy = new Set<string>();
  const starts: string[] = [];
  const groups = ["a", "b", "c", "d"].map((k) => ({ key: `${k}/default`, device: k, everyMs: 100 }));
  const s = new PollScheduler(
    clock,
    groups,
    {
      run: async (g) => {
        assert.not.ok(busy.has(g.key), `${g.key} polled twice at once`);
        busy.add(g.key);
        starts.push(`${g.device}@${clock.monotonic()}`);
        most = Math.max(most, ++running);
        await clock.sleep(g.device === "a" ? 250 : 30);
        running--;
        busy.delete(g.key);
      },
    },
    { concurrency: 3 },
  );
  s.start();
  await advanceBy(clock, 400, 5);
  const stopped = s.stop(); // waits for the polls running now, which wait on the fake clock
  await advanceBy(clock, 300, 5);
  await stopped;
  assert.is(most, 3);
  assert.equal(starts.slice(0, 4), ["a@0", "b@0", "c@0", "d@30"]);
  // a's overrun skips its slots instead of starting it again while it runs
  assert.ok(s.status()[0]!.skipped >= 2, JSON.stringify(s.status()[0]));
  assert.ok(s.status()[3]!.polls >= 3);
});

const bus = (extra: Record<string, unknown> = {}) => ({ name: "plc-net", transport: "tcp", host: "plc.local", port: 502, timeoutMs: 50, retries: 0, reopen: { minMs: 100, maxMs: 400 }, ...extra }) as unknown as ModbusDriverConfig;
const devices = [1, 2, 3].map((u) => ({ id: `m${u}`, driver: "plc-net", unit: u, poll: { every: "100ms" }, points: [{ name: "uid", fn: "input", address: 20 }] })) as unknown as ModbusDeviceConfig[];

/** An openSocket seam: each connection is a FakeTcpServer; `up` says whether connecting works. */
function fakeNet() {
  const state = { up: true, attempts: 0, servers: [] as FakeTcpServer[], handles: [] as { close?: (r: string) => void }[] };
  const open: TcpOpener = async (s) => {
    state.attempts++;
    if (!state.up) throw Object.assign(new Error(`connect ECONNREFUSED ${s.host}:${s.port}`), { code: "ECONNREFUSED" });
    const server = new FakeTcpServer();
    for (const u of [1, 2, 3]) server.slaves.unit(u).input[20] = u;
    server.auto = true;
    const h: { close?: (r: string) => void; closed?: boolean } = {};
    state.servers.push(server);
    state.handles.push(h);
    const handle: PortHandle = {
      write: (b) => (h.closed ? Promise.reject(new Error("closed")) : server.link.write(b)),
      close: async () => void (h.closed = true),
      onData: (cb) => (server.deliver = (c) => !h.closed && cb(c)),
      onClose: (cb) => (h.close = cb),
    };
    return handle;
  };
  return { state, open };
}

test("transport tcp: maxInFlight 3 puts three units' requests on the wire at once", async () => {
  const t = tempDir();
  const clock = new FakeClock(0);
  const net = fakeNet();
  const rec = recordingContext(clock, t.dir);
  const d = createModbusDriver(bus({ maxInFlight: 3 }), devices, { openSocket: net.open });
  try {
    net.state.up = true;
    await d.start(rec.ctx);
    const server = net.state.servers[0]!;
    server.auto = false;
    await advanceBy(clock, 5);
    assert.is(server.held.length, 3, "all three units asked before any answer");
    server.release();
    await advanceBy(clock, 5);
    assert.equal(rec.events.map((e) => e.payload.uid).sort(), [1, 2, 3]);
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test("transport tcp: a dropped connection is reconnected with backoff; garbage drops it on purpose", async () => {
  const t = tempDir();
  const clock = new FakeClock(0);
  const net = fakeNet();
  const rec = recordingContext(clock, t.dir);
  const d = createModbusDriver(bus(), devices, { openSocket: net.open });
  try {
    await d.start(rec.ctx);
    await advanceBy(clock, 250, 5);
    assert.ok(rec.events.length >= 6);
    assert.ok(d.health().up);
    // the server goes away: the connection closes and connecting is refused for a while
    net.state.up = false;
    net.state.handles[0]!.close!("plc.local:502 closed the connection");
    await advanceBy(clock, 5);
    assert.not.ok(d.health().up);
    assert.match(d.health().detail ?? "", /TCP connection plc\.local:502 down/);
    assert.is(rec.count("modbus_port_lost"), 1);
    const attempts = net.state.attempts;
    await advanceBy(clock, 1000, 10);
    // backoff 100, 200, 400, 400 … ms: a handful of attempts, not one per poll
    assert.ok(net.state.attempts - attempts >= 3 && net.state.attempts - attempts <= 5, `${net.state.attempts - attempts} attempts`);
    net.state.up = true;
    await advanceBy(clock, 500, 5);
    assert.ok(d.health().up, d.health().detail);
    const n = rec.events.length;
    await advanceBy(clock, 300, 5);
    assert.ok(rec.events.length > n, "polling resumed");
    // garbage on the live connection: E_MODBUS_MBAP, dropped by us, reconnected
    const live = net.state.servers.at(-1)!;
    const conns = net.state.servers.length;
    live.deliver!(new TextEncoder().encode("garbage!"));
    await advanceBy(clock, 300, 5);
    assert.ok(rec.logs.some((l) => l.includes("dropping the connection")), rec.logs.join("\n"));
    assert.is(rec.count("modbus_errors", { code: "E_MODBUS_MBAP" }), 1);
    assert.ok(net.state.servers.length > conns, "a new connection");
    assert.ok(d.health().up);
    for (const e of rec.events) assert.is(e.payload.uid, Number(e.device.slice(1)));
  } finally {
    await d.stop();
    t.cleanup();
  }
});

test.run();
