/**
 * The Modbus driver with `transport: tcp` and `rtu-over-tcp` against a real peer: the pymodbus 3.0
 * TCP server (peers/modbus_tcp_server.py, Debian's python3-pymodbus) on loopback, answering for
 * units 1 and 2. No skip: a missing pymodbus fails the file.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../core/clock.js";
import type { Driver } from "../../core/driver.js";
import { createModbusDriver, TcpMasterSession, openTcpSocket, type ModbusDeviceConfig, type ModbusDriverConfig } from "../../drivers/modbus/index.js";
import { recordingContext } from "../helpers/modbus.js";
import { startTcpServer, type RealTcpServer } from "../helpers/modbus-tcp.js";
import { tempDir, waitFor } from "../../peers/process.js";

const bus = (transport: "tcp" | "rtu-over-tcp", port: number, extra: Record<string, unknown> = {}) =>
  ({ name: "plc-net", transport, host: "127.0.0.1", port, timeoutMs: 1000, retries: 1, reopen: { minMs: 50, maxMs: 400 }, slaveBackoff: { after: 2, maxMs: 1000 }, ...extra }) as unknown as ModbusDriverConfig;

type Status = { transport: string; open: boolean; opens: number; slaves: Record<string, { ok: number; requests: number; failing: boolean; timeouts: number }>; line: Record<string, number> };

const plcPoints = [
  { name: "h0", fn: "holding", address: 0 },
  { name: "h1", fn: "holding", address: 1, scale: 0.5 },
  { name: "temp", fn: "input", address: 10, type: "float32" },
  { name: "uid", fn: "input", address: 20 },
  { name: "c0", fn: "coil", address: 0, writable: true },
  { name: "d1", fn: "discrete", address: 1 },
  { name: "sp", fn: "holding", address: 40, type: "float32", order: "CDAB", writable: true },
  { name: "count", fn: "holding", address: 44, type: "uint32", writable: true },
  { name: "tag", fn: "holding", address: 50, type: "string", length: 4, writable: true },
];

async function readsAndWrites(transport: "tcp" | "rtu-over-tcp", extra: Record<string, unknown>, server: RealTcpServer): Promise<void> {
  const t = tempDir("ridge-modbus-tcp-");
  const devices = [
    { id: "plc", driver: "plc-net", unit: 1, poll: { every: "100ms" }, points: plcPoints },
    { id: "meter", driver: "plc-net", unit: 2, poll: { every: "100ms" }, points: [{ name: "uid", fn: "input", address: 20 }, { name: "h2", fn: "holding", address: 2 }] },
  ] as unknown as ModbusDeviceConfig[];
  const rec = recordingContext(systemClock, t.dir);
  const d: Driver = createModbusDriver(bus(transport, server.port, extra), devices);
  try {
    await d.start(rec.ctx);
    const first = await waitFor("first plc event", () => rec.events.find((e) => e.device === "plc"), 10_000);
    assert.is(first.payload.h0, 100);
    assert.is(first.payload.h1, 50.5);
    assert.is(first.payload.temp, 23.5);
    assert.is(first.payload.uid, 1);
    assert.is(first.payload.c0, true);
    assert.is(first.payload.d1, true);
    const meter = await waitFor("meter event (unit 2)", () => rec.events.find((e) => e.device === "meter"), 10_000);
    assert.equal(meter.payload, { uid: 2, h2: 102 });

    await d.write!("plc", "sp", 21.25);
    await d.write!("plc", "count", 3_000_000_001);
    await d.write!("plc", "tag", "TCP1");
    await d.write!("plc", "c0", false);
    const wroteAt = Date.now();
    const after = await waitFor("a poll started after the writes", () => rec.events.find((e) => e.device === "plc" && e.ts > wroteAt), 10_000);
    assert.equal([after.payload.sp, after.payload.count, after.payload.tag, after.payload.c0], [21.25, 3_000_000_001, "TCP1", false]);
    assert.ok(server.output().includes('"write"'), "the server logged the writes");
    // unit 2 was not written
    assert.is(rec.events.filter((e) => e.device === "meter").at(-1)!.payload.h2, 102);

    const st = (d as unknown as { status(): Status }).status();
    assert.is(st.transport, transport);
    assert.ok(st.open);
    assert.ok(st.slaves.plc!.ok >= 2 && st.slaves.meter!.ok >= 1, JSON.stringify(st.slaves));
    assert.is(rec.count("modbus_errors"), rec.count("modbus_errors", { code: "E_MODBUS_TIMEOUT" }), JSON.stringify([...rec.counts]));
    assert.ok(d.health().up, d.health().detail);
    assert.match(d.health().detail ?? "", new RegExp(`127\\.0\\.0\\.1:${server.port}`));
  } finally {
    await d.stop();
    t.cleanup();
  }
}

test("transport tcp: two unit ids, every point kind, writes read back (one request in flight)", async () => {
  const server = await startTcpServer({ units: [1, 2] });
  try {
    await readsAndWrites("tcp", {}, server);
  } finally {
    await server.stop();
  }
});

test("transport tcp with maxInFlight 4: the same reads and writes with requests pipelined", async () => {
  const server = await startTcpServer({ units: [1, 2] });
  try {
    await readsAndWrites("tcp", { maxInFlight: 4 }, server);
  } finally {
    await server.stop();
  }
});

test("transport rtu-over-tcp: RTU frames with CRC tunnelled over the socket (pymodbus RTU framer on TCP)", async () => {
  const server = await startTcpServer({ units: [1, 2], framer: "rtu" });
  try {
    await readsAndWrites("rtu-over-tcp", {}, server);
  } finally {
    await server.stop();
  }
});

test("the session pipelines requests to two units on one connection: every answer lands with its own request", async () => {
  const server = await startTcpServer({ units: [1, 2] });
  const port = await openTcpSocket({ host: "127.0.0.1", port: server.port, connectTimeoutMs: 2000 });
  const session = new TcpMasterSession({ clock: systemClock, timeoutMs: 2000, retries: 0, maxInFlight: 8, turnaroundMs: 100, peer: `127.0.0.1:${server.port}` });
  port.onData((c) => session.receive(c));
  session.attach(port);
  try {
    const reqs = Array.from({ length: 40 }, (_, i) => ({ unit: (i % 2) + 1, address: i % 10 }));
    const answers = await Promise.all(reqs.map((r) => session.request(r.unit, { fn: 4, address: r.address, quantity: 1 })));
    answers.forEach((a, i) => assert.equal(a, { kind: "registers", fn: 4, registers: [200 + reqs[i]!.address] }));
    const uids = await Promise.all([1, 2, 1, 2].map((u) => session.request(u, { fn: 4, address: 20, quantity: 1 })));
    assert.equal(uids.map((a) => (a as { registers: number[] }).registers[0]), [1, 2, 1, 2]);
    assert.is(session.stats.unknownTransactions, 0);
    assert.is(session.slaves.get(1)!.ok + session.slaves.get(2)!.ok, 44);
  } finally {
    session.stop();
    await port.close();
    await server.stop();
  }
});

test("an absent unit id times out and backs off while the present one keeps being polled", async () => {
  const server = await startTcpServer({ units: [1, 2] });
  const t = tempDir("ridge-modbus-tcp-");
  const devices = [
    { id: "present", driver: "plc-net", unit: 2, poll: { every: "100ms" }, points: [{ name: "uid", fn: "input", address: 20 }] },
    { id: "absent", driver: "plc-net", unit: 7, poll: { every: "100ms" }, points: [{ name: "uid", fn: "input", address: 20 }] },
  ] as unknown as ModbusDeviceConfig[];
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus("tcp", server.port, { timeoutMs: 200, retries: 0 }), devices);
  try {
    await d.start(rec.ctx);
    const st = () => (d as unknown as { status(): Status }).status();
    await waitFor("the absent unit backed off", () => st().slaves.absent!.failing, 15_000);
    const before = rec.events.filter((e) => e.device === "present").length;
    await waitFor("present keeps being polled", () => rec.events.filter((e) => e.device === "present").length >= before + 5, 15_000);
    assert.ok(rec.count("modbus_errors", { device: "absent", code: "E_MODBUS_TIMEOUT" }) >= 2);
    assert.not.ok(rec.events.some((e) => e.device === "absent"));
    assert.ok(rec.events.every((e) => e.payload.uid === 2));
    assert.match(d.health().detail ?? "", /absent \(unit 7\) not answering/);
    assert.ok(d.health().up, "one silent unit leaves the connection up");
  } finally {
    await d.stop();
    await server.stop();
    t.cleanup();
  }
});

test.run();
