/**
 * Hostile and broken slaves: garbage answers, wrong answers, a babbling line, and a real slave
 * killed with SIGKILL mid-poll. The driver counts, keeps running, never reports a wrong value,
 * and recovers when the line is sane again.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock, SeededRandom, systemClock } from "../../core/clock.js";
import { createModbusDriver, encodeRtu, type ModbusDeviceConfig, type ModbusDriverConfig } from "../../drivers/modbus/index.js";
import { advanceBy, FakeLine, recordingContext } from "../helpers/modbus.js";
import { startPtyPair, startRealSlave } from "../../peers/modbus-rtu-slave.js";
import { withPackages } from "../../peers/required-packages.js";
import { tempDir, waitFor } from "../../peers/process.js";

const run = (clock: FakeClock, ms: number, step = 5) => advanceBy(clock, ms, step);

const bus = { name: "bus", port: "/dev/fake", baudRate: 19200, timeoutMs: 50, retries: 1, slaveBackoff: { after: 3, maxMs: 500 } } as unknown as ModbusDriverConfig;
const devices = [
  { id: "plc", driver: "bus", unit: 1, poll: { every: "100ms" }, points: [{ name: "h", fn: "holding", address: 0, type: "uint32" }, { name: "c", fn: "coil", address: 3 }] },
  { id: "ok", driver: "bus", unit: 2, poll: { every: "100ms" }, points: [{ name: "v", fn: "input", address: 0 }] },
] as unknown as ModbusDeviceConfig[];

function seeded(line: FakeLine): void {
  line.slaves.unit(1).holding.splice(0, 2, 0x0001, 0x0002);
  line.slaves.unit(1).coils[3] = true;
  line.slaves.unit(2).input[0] = 42;
}

let unhandled = 0;
process.on("unhandledRejection", () => unhandled++);

test("garbage answers of every shape: counted, never decoded into values, the other slave unaffected", async () => {
  const t = tempDir();
  const clock = new FakeClock(0);
  const line = new FakeLine();
  seeded(line);
  const rnd = new SeededRandom(99);
  const byte = () => Math.floor(rnd.next() * 256);
  let mode = 0;
  line.tamper = (unit, _req, answer) => {
    if (unit !== 1 || !answer) return answer;
    mode++;
    switch (mode % 6) {
      case 0: // random bytes
        return Uint8Array.from({ length: 1 + Math.floor(rnd.next() * 40) }, byte);
      case 1: // right unit, random body
        return Uint8Array.from([1, ...Array.from({ length: 1 + Math.floor(rnd.next() * 20) }, byte)]);
      case 2: // valid CRC, wrong function (answers a read of input registers)
        return encodeRtu(1, Uint8Array.of(0x04, 0x04, 0xde, 0xad, 0xbe, 0xef));
      case 3: // valid CRC, byte count that lies
        return encodeRtu(1, Uint8Array.of(answer[1]!, 0x02, 0x00, 0x09));
      case 4: // truncated
        return answer.subarray(0, answer.length - 2);
      default: // oversized length claim
        return Uint8Array.from([1, 0x03, 0xff, ...Array.from({ length: 30 }, byte)]);
    }
  };
  const rec = recordingContext(clock, t.dir);
  const d = createModbusDriver(bus, devices, { openPort: line.open });
  await d.start(rec.ctx);
  await run(clock, 5000);
  assert.not.ok(rec.events.some((e) => e.device === "plc"), "no value from a garbage answer");
  assert.ok(rec.count("modbus_errors", { device: "plc" }) >= 3);
  assert.is(rec.count("modbus_errors", { device: "ok" }), 0);
  const okEvents = rec.events.filter((e) => e.device === "ok");
  assert.ok(okEvents.length >= 20, `ok polled ${okEvents.length} times`);
  assert.ok(okEvents.every((e) => e.payload.v === 42));
  const st = d.status!() as { slaves: Record<string, { badResponses: number; crcErrors: number; timeouts: number }> };
  const plc = st.slaves.plc!;
  assert.ok(plc.crcErrors + plc.timeouts + plc.badResponses >= 3, JSON.stringify(plc));
  // the line turns sane: values come back
  line.tamper = undefined;
  await run(clock, 1500);
  const back = rec.events.filter((e) => e.device === "plc");
  assert.ok(back.length > 0);
  assert.equal(back[0]!.payload, { h: 65538, c: true });
  assert.ok(d.health().up);
  await d.stop();
  assert.is(unhandled, 0);
  t.cleanup();
});

test("a babbling line (bytes nobody asked for) is dropped as noise; polling goes on", async () => {
  const t = tempDir();
  const clock = new FakeClock(0);
  const line = new FakeLine();
  seeded(line);
  const rnd = new SeededRandom(5);
  const rec = recordingContext(clock, t.dir);
  const d = createModbusDriver(bus, devices, { openPort: line.open });
  await d.start(rec.ctx);
  for (let i = 0; i < 300; i++) {
    line.babble(Uint8Array.from({ length: 64 }, () => Math.floor(rnd.next() * 256)));
    await run(clock, 10);
  }
  const st = d.status!() as { line: { noiseBytes: number } };
  assert.ok(st.line.noiseBytes > 1000);
  const plc = rec.events.filter((e) => e.device === "plc");
  assert.ok(plc.length > 5, `${plc.length} plc polls`);
  assert.ok(plc.every((e) => e.payload.h === 65538 && e.payload.c === true), "never a wrong value");
  await d.stop();
  assert.is(unhandled, 0);
  t.cleanup();
});

withPackages(test, ["socat", "python3-pymodbus", "python3-serial-asyncio"])("a real slave killed with SIGKILL mid-poll: timeouts counted, recovery after restart", async () => {
  const t = tempDir("ridge-modbus-");
  const pty = await startPtyPair(t.dir, "master", "slave");
  let slave = await startRealSlave(`${t.dir}/slave`, { units: [1] });
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(
    { name: "bus", port: `${t.dir}/master`, baudRate: 9600, parity: "none", timeoutMs: 200, retries: 1, slaveBackoff: { after: 2, maxMs: 500 } } as unknown as ModbusDriverConfig,
    [{ id: "plc", driver: "bus", unit: 1, poll: { every: "50ms" }, points: [{ name: "h0", fn: "holding", address: 0 }] }] as unknown as ModbusDeviceConfig[],
  );
  try {
    await d.start(rec.ctx);
    await waitFor("events", () => rec.events.length >= 5, 10_000);
    await slave.crash();
    await waitFor("timeouts counted", () => rec.count("modbus_errors", { code: "E_MODBUS_TIMEOUT" }) >= 2, 10_000);
    // the port is fine; its only slave is silent: the bus reports down with the slave as the reason
    await waitFor("slave marked failing", () => /plc \(unit 1\) not answering/.test(d.health().detail ?? ""), 10_000);
    assert.not.ok(d.health().up);
    assert.ok((d.status!() as { open: boolean }).open);
    const n = rec.events.length;
    slave = await startRealSlave(`${t.dir}/slave`, { units: [1] });
    await waitFor("recovered", () => rec.events.length >= n + 3, 15_000);
    assert.ok(rec.events.every((e) => e.payload.h0 === 100));
  } finally {
    await d.stop();
    await slave.stop();
    await pty.stop();
    t.cleanup();
  }
});

test.run();
