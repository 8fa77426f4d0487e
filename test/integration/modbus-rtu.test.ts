/**
 * The Modbus driver against a real slave: a socat pty pair and a pymodbus 3.0 RTU slave
 * (peers/modbus_rtu_slave.py) answering for units 1 and 2.
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../core/clock.js";
import type { Driver } from "../../core/driver.js";
import { createModbusDriver, WORD_ORDERS, type ModbusDeviceConfig, type ModbusDriverConfig, type PointType } from "../../drivers/modbus/index.js";
import { recordingContext } from "../helpers/modbus.js";
import { startRelay, startPtyPair, startRealSlave } from "../../peers/modbus-rtu-slave.js";
import { withPackages } from "../../peers/required-packages.js";
import { tempDir, waitFor, type Peer } from "../../peers/process.js";

const test = withPackages(uvuTest, ["socat", "python3-pymodbus", "python3-serial-asyncio"]);

const bus = (port: string, extra: Record<string, unknown> = {}) =>
  ({ name: "rs485-1", port, baudRate: 9600, parity: "none", timeoutMs: 400, retries: 2, reopen: { minMs: 100, maxMs: 400 }, slaveBackoff: { after: 2, maxMs: 1000 }, ...extra }) as unknown as ModbusDriverConfig;

interface Case {
  name: string;
  type: PointType;
  order: (typeof WORD_ORDERS)[number];
  value: number | string | boolean;
  address: number;
  length?: number;
}
/** Every type in every order, laid out from holding register 30 up. */
function cases(): Case[] {
  const out: Case[] = [];
  let address = 30;
  const values: [PointType, number | string | boolean, number?][] = [
    ["bool", true],
    ["int16", -12345],
    ["uint16", 54321],
    ["int32", -123456789],
    ["uint32", 3_000_000_001],
    ["float32", 23.5],
    ["float64", -1234.5678125],
    ["string", "RIDGE-7", 4],
  ];
  for (const [type, value, length] of values) {
    for (const order of WORD_ORDERS) {
      out.push({ name: `${type}_${order}`, type, order, value, address, ...(length ? { length } : {}) });
      address += type === "string" ? length! : type === "float64" ? 4 : type === "bool" || type.endsWith("16") ? 1 : 2;
    }
  }
  return out;
}

test("reads presets and writes then reads back every type and word order", async () => {
  const t = tempDir("ridge-modbus-");
  const pty = await startPtyPair(t.dir, "master", "slave");
  const slave = await startRealSlave(`${t.dir}/slave`, { units: [1, 2] });
  const all = cases();
  const devices = [
    {
      id: "plc",
      driver: "rs485-1",
      unit: 1,
      poll: { every: "150ms" },
      points: [
        { name: "h0", fn: "holding", address: 0 },
        { name: "h1", fn: "holding", address: 1, scale: 0.5 },
        { name: "temp", fn: "input", address: 10, type: "float32" },
        { name: "uid", fn: "input", address: 20 },
        { name: "c0", fn: "coil", address: 0, writable: true },
        { name: "c1", fn: "coil", address: 1, writable: true, writeMultiple: true },
        { name: "d1", fn: "discrete", address: 1 },
        ...all.map((c) => ({ name: c.name, fn: "holding", address: c.address, type: c.type, order: c.order, writable: true, ...(c.length ? { length: c.length } : {}) })),
      ],
    },
    { id: "meter", driver: "rs485-1", unit: 2, poll: { every: "150ms" }, points: [{ name: "uid", fn: "input", address: 20 }] },
  ] as unknown as ModbusDeviceConfig[];
  const rec = recordingContext(systemClock, t.dir);
  const d: Driver = createModbusDriver(bus(`${t.dir}/master`), devices);
  try {
    await d.start(rec.ctx);
    const first = await waitFor("first plc event", () => rec.events.find((e) => e.device === "plc"), 10_000);
    assert.is(first.payload.h0, 100);
    assert.is(first.payload.h1, 50.5);
    assert.is(first.payload.temp, 23.5);
    assert.is(first.payload.uid, 1);
    assert.is(first.payload.c0, true);
    assert.is(first.payload.c1, false);
    assert.is(first.payload.d1, true);
    await waitFor("meter event", () => rec.events.find((e) => e.device === "meter" && e.payload.uid === 2), 10_000);

    for (const c of all) await d.write!("plc", c.name, c.value);
    await d.write!("plc", "c0", false);
    await d.write!("plc", "c1", true);
    // a poll that started before the last write may still report the old values: take one that started after
    const wroteAt = Date.now();
    const after = await waitFor("a poll started after the writes", () => rec.events.find((e) => e.device === "plc" && e.ts > wroteAt), 10_000);
    for (const c of all) assert.equal(after.payload[c.name], c.value, c.name);
    assert.is(after.payload.c0, false);
    assert.is(after.payload.c1, true);
    // the slave saw 05, 06, 0F and 10 writes
    const out = slave.output();
    assert.ok(out.includes('"write"'));
    // no exception and no malformed answer; a timeout is possible on a machine under heavy load
    const lineOnly = rec.count("modbus_errors", { code: "E_MODBUS_TIMEOUT" });
    assert.is(rec.count("modbus_errors"), lineOnly, JSON.stringify([...rec.counts]));
  } finally {
    await d.stop();
    await slave.stop();
    await pty.stop();
    t.cleanup();
  }
});

test("a missing slave id times out and is counted while the other keeps being polled", async () => {
  const t = tempDir("ridge-modbus-");
  const pty = await startPtyPair(t.dir, "master", "slave");
  const slave = await startRealSlave(`${t.dir}/slave`, { units: [1, 2] });
  const devices = [
    { id: "present", driver: "rs485-1", unit: 2, poll: { every: "100ms" }, points: [{ name: "uid", fn: "input", address: 20 }] },
    { id: "absent", driver: "rs485-1", unit: 7, poll: { every: "100ms" }, points: [{ name: "uid", fn: "input", address: 20 }] },
  ] as unknown as ModbusDeviceConfig[];
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus(`${t.dir}/master`, { timeoutMs: 300 }), devices);
  try {
    await d.start(rec.ctx);
    await waitFor("the absent slave counted and backed off", () => (d.status!() as { slaves: Record<string, { failing: boolean }> }).slaves.absent!.failing, 15_000);
    const before = rec.events.filter((e) => e.device === "present").length;
    await waitFor("present keeps being polled", () => rec.events.filter((e) => e.device === "present").length >= before + 10, 15_000);
    assert.ok(rec.count("modbus_errors", { device: "absent", code: "E_MODBUS_TIMEOUT" }) >= 2);
    // the present slave never went into backoff and answered far more than it failed
    assert.not.ok((d.status!() as { slaves: Record<string, { failing: boolean }> }).slaves.present!.failing);
    assert.ok(rec.count("modbus_errors", { device: "present" }) * 10 < rec.events.filter((e) => e.device === "present").length);
    assert.not.ok(rec.events.some((e) => e.device === "absent"));
    assert.match(d.health().detail ?? "", /absent \(unit 7\) not answering/);
  } finally {
    await d.stop();
    await slave.stop();
    await pty.stop();
    t.cleanup();
  }
});

test("noise between the ptys: corrupted answers are counted as CRC errors and retried", async () => {
  const t = tempDir("ridge-modbus-");
  // master end ⇄ [relay flips bits in every 3rd answer] ⇄ slave end
  const near = await startPtyPair(t.dir, "master", "relayM");
  const far = await startPtyPair(t.dir, "relayS", "slave");
  const slave = await startRealSlave(`${t.dir}/slave`, { units: [1] });
  const relay = await startRelay(`${t.dir}/relayM`, `${t.dir}/relayS`, { corruptEvery: 3 });
  const devices = [{ id: "plc", driver: "rs485-1", unit: 1, poll: { every: "50ms" }, points: [{ name: "h0", fn: "holding", address: 0 }, { name: "temp", fn: "input", address: 10, type: "float32" }] }] as unknown as ModbusDeviceConfig[];
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus(`${t.dir}/master`, { timeoutMs: 250 }), devices);
  try {
    await d.start(rec.ctx);
    await waitFor("20 good events through the noise", () => rec.events.length >= 20, 30_000);
    assert.ok(relay.corrupted >= 3, `corrupted ${relay.corrupted}`);
    const st = d.status!() as { slaves: Record<string, { crcErrors: number; retries: number }>; line: { crcErrors: number } };
    assert.ok(st.slaves.plc!.crcErrors >= 1, JSON.stringify(st.slaves.plc));
    assert.ok(st.slaves.plc!.retries >= 1);
    assert.ok(st.line.crcErrors >= 1);
    assert.ok(rec.count("modbus_errors", { code: "E_MODBUS_CRC" }) === 0 || rec.count("modbus_errors", { code: "E_MODBUS_CRC" }) < rec.events.length, "retries recover most polls");
    for (const e of rec.events) {
      assert.is(e.payload.h0, 100);
      assert.is(e.payload.temp, 23.5);
    }
  } finally {
    await d.stop();
    await relay.close();
    await slave.stop();
    await near.stop();
    await far.stop();
    t.cleanup();
  }
});

test("the port vanishes and comes back: reported down, reopened, polling resumes", async () => {
  const t = tempDir("ridge-modbus-");
  let pty: Peer = await startPtyPair(t.dir, "master", "slave");
  let slave: Peer = await startRealSlave(`${t.dir}/slave`, { units: [1] });
  const devices = [{ id: "plc", driver: "rs485-1", unit: 1, poll: { every: "100ms" }, points: [{ name: "h0", fn: "holding", address: 0 }] }] as unknown as ModbusDeviceConfig[];
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus(`${t.dir}/master`, { timeoutMs: 200 }), devices);
  try {
    await d.start(rec.ctx);
    await waitFor("events", () => rec.events.length >= 3, 10_000);
    // unplug: the pty pair disappears under the open port
    await pty.stop();
    await slave.stop();
    await waitFor("reported down", () => !d.health().up, 10_000);
    assert.ok(rec.count("modbus_port_lost") >= 1);
    const during = rec.events.length;
    // plug back in: same path, new pty
    pty = await startPtyPair(t.dir, "master", "slave");
    slave = await startRealSlave(`${t.dir}/slave`, { units: [1] });
    await waitFor("up again", () => d.health().up, 15_000);
    await waitFor("polling resumed", () => rec.events.length >= during + 3, 15_000);
    const st = d.status!() as { opens: number };
    assert.ok(st.opens >= 2);
  } finally {
    await d.stop();
    await slave.stop();
    await pty.stop();
    t.cleanup();
  }
});

test.run();
