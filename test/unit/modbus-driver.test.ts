import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import { errorCode } from "../../core/index.js";
import type { Driver } from "../../core/driver.js";
import { createModbusDriver, encodeRegisters, type ModbusDeviceConfig, type ModbusDriverConfig } from "../../drivers/modbus/index.js";
import { PollScheduler } from "../../drivers/modbus/poll-scheduler.js";
import { advanceBy, FakeLine, recordingContext, type RecordingContext } from "../helpers/modbus.js";
import { tempDir } from "../../peers/process.js";

const run = (clock: FakeClock, ms: number, step = 1) => advanceBy(clock, ms, step);

const bus = { name: "rs485-1", port: "/dev/fake", baudRate: 19200, timeoutMs: 50, retries: 1, slaveBackoff: { after: 2, maxMs: 1000 } } as unknown as ModbusDriverConfig;
const devices = [
  {
    id: "pump-3",
    driver: "rs485-1",
    unit: 3,
    poll: { every: "100ms" },
    groups: { slow: { every: "1s" } },
    points: [
      { name: "flow_lpm", fn: "holding", address: 100, type: "float32", order: "CDAB", scale: 0.1 },
      { name: "setpoint", fn: "holding", address: 102, type: "int16", scale: 0.5, writable: true },
      { name: "run", fn: "coil", address: 1, writable: true },
      { name: "model", fn: "input", address: 0, type: "string", length: 3, group: "slow" },
      { name: "alarm", fn: "discrete", address: 4 },
    ],
  },
  { id: "meter-9", driver: "rs485-1", unit: 9, poll: { every: "100ms" }, points: [{ name: "kwh", fn: "input", address: 10, type: "uint32" }] },
] as unknown as ModbusDeviceConfig[];

function seed(line: FakeLine): void {
  const u = line.slaves.unit(3);
  u.holding.splice(100, 2, ...encodeRegisters(123.5, "float32", "CDAB"));
  u.holding[102] = 40;
  u.coils[1] = true;
  u.discrete[4] = true;
  u.input.splice(0, 3, ...encodeRegisters("PMP-3", "string", "ABCD", 3));
  line.slaves.unit(9).input.splice(10, 2, 0x0001, 0x0002);
}

interface Rig {
  clock: FakeClock;
  line: FakeLine;
  h: RecordingContext;
  d: Driver;
  dir: string;
  cleanup(): void;
}

/** A started driver on a fake line with seeded slaves, a fake clock and a recording context. */
async function started(o: { t0?: number; config?: Partial<Record<string, unknown>>; before?: (line: FakeLine) => void } = {}): Promise<Rig> {
  const t = tempDir();
  const clock = new FakeClock(o.t0 ?? 0);
  const line = new FakeLine({ setTimeout: (fn, ms) => void clock.setTimeout(fn, ms) });
  seed(line);
  o.before?.(line);
  const h = recordingContext(clock, t.dir);
  const d = createModbusDriver({ ...bus, ...o.config } as ModbusDriverConfig, devices, { openPort: line.open });
  await d.start(h.ctx);
  return { clock, line, h, d, dir: t.dir, cleanup: t.cleanup };
}

test("polls groups into telemetry events with scaled, typed values and unique ids", async () => {
  const { clock, line, h, d, dir, cleanup } = await started({ t0: 1_700_000_000_000 });
  await run(clock, 350);
  const pump = h.events.filter((e) => e.device === "pump-3");
  const first = pump.find((e) => "flow_lpm" in e.payload)!;
  assert.equal(first.payload, { flow_lpm: 12.35, setpoint: 20, run: true, alarm: true });
  assert.is(first.kind, "telemetry");
  assert.ok(pump.some((e) => e.payload.model === "PMP-3"));
  assert.ok(h.events.some((e) => e.device === "meter-9" && e.payload.kwh === 65538));
  assert.is(new Set(h.events.map((e) => e.id)).size, h.events.length);
  assert.match(first.id, /^pump-3\/1-\d+$/);
  await d.stop();
  // a restart with the same data directory gets a new boot number: ids never repeat
  const h2 = recordingContext(clock, dir);
  const d2 = createModbusDriver(bus, devices, { openPort: line.open });
  await d2.start(h2.ctx);
  await run(clock, 150);
  await d2.stop();
  assert.ok(h2.events.length > 0);
  assert.ok(h2.events.every((e) => /\/2-\d+$/.test(e.id)));
  cleanup();
});

test("cadence is jitter-free and reported as achieved vs configured", async () => {
  const { clock, d, cleanup } = await started();
  await run(clock, 2050, 5);
  const st = d.status!() as { cadence: { key: string; configuredMs: number; achievedMs: number; polls: number; skipped: number }[] };
  const fast = st.cadence.find((c) => c.key === "pump-3/default")!;
  assert.is(fast.configuredMs, 100);
  assert.is(fast.achievedMs, 100);
  assert.is(fast.skipped, 0);
  assert.ok(fast.polls >= 20);
  const slow = st.cadence.find((c) => c.key === "pump-3/slow")!;
  assert.is(slow.achievedMs, 1000);
  await d.stop();
  cleanup();
});

test("a missing slave is counted and backed off while the other keeps its cadence", async () => {
  const { clock, line, h, d, cleanup } = await started({ before: (l) => l.mute.add(9) });
  await run(clock, 3000, 5);
  const timeouts = h.count("modbus_errors", { device: "meter-9", code: "E_MODBUS_TIMEOUT" });
  assert.ok(timeouts >= 2, `timeouts counted: ${timeouts}`);
  const st = d.status!() as { cadence: { key: string; heldBack: number; polls: number }[]; slaves: Record<string, { failing: boolean; timeouts: number }> };
  assert.ok(st.slaves["meter-9"]!.failing);
  assert.ok(st.cadence.find((c) => c.key === "meter-9/default")!.heldBack > 0);
  // pump-3 kept being polled: far more polls than the backed-off meter
  const pumpPolls = st.cadence.find((c) => c.key === "pump-3/default")!.polls;
  const meterPolls = st.cadence.find((c) => c.key === "meter-9/default")!.polls;
  assert.ok(pumpPolls >= 20 && meterPolls < pumpPolls / 3, `pump ${pumpPolls}, meter ${meterPolls}`);
  const health = d.health();
  assert.ok(health.up);
  assert.match(health.detail ?? "", /meter-9 \(unit 9\) not answering: E_MODBUS_TIMEOUT/);
  // it comes back: polled normally again
  line.mute.delete(9);
  await run(clock, 2500, 5);
  const st2 = d.status!() as { slaves: Record<string, { failing: boolean }> };
  assert.not.ok(st2.slaves["meter-9"]!.failing);
  assert.ok(h.logs.some((l) => l.includes("slave answers again")));
  await d.stop();
  cleanup();
});

test("backpressure stretches the poll until the pipeline drains", async () => {
  const { clock, h, d, cleanup } = await started();
  await run(clock, 50);
  h.accept.value = false;
  await run(clock, 150);
  const n = h.events.length;
  await run(clock, 500, 5);
  assert.is(h.events.length, n, "no polls while the pipeline is congested");
  h.accept.value = true;
  h.drain();
  await run(clock, 300, 5);
  assert.ok(h.events.length > n);
  const st = d.status!() as { cadence: { stretched: number }[] };
  assert.ok(st.cadence.some((c) => c.stretched > 0));
  // stop does not wait for a pipeline that never drains
  h.accept.value = false;
  await run(clock, 300, 5);
  await d.stop();
  cleanup();
});

test("writes encode the point type and reach the slave; bad writes have stable codes", async () => {
  const { clock, line, d, cleanup } = await started();
  const w1 = d.write!("pump-3", "setpoint", -12.5);
  const w2 = d.write!("pump-3", "run", false);
  await run(clock, 30);
  await Promise.all([w1, w2]);
  assert.is(line.slaves.unit(3).holding[102], 0x10000 - 25);
  assert.is(line.slaves.unit(3).coils[1], false);
  const fns = line.written.map((w) => w[1]);
  assert.ok(fns.includes(0x06) && fns.includes(0x05));
  const codes: string[] = [];
  for (const [dev, pt, v] of [["pump-3", "flow_lpm", 1], ["pump-3", "nope", 1], ["ghost", "x", 1], ["pump-3", "setpoint", 1e9], ["pump-3", "run", "maybe"]] as const) {
    const p = d.write!(dev, pt, v).catch((e: unknown) => codes.push(errorCode(e)));
    await run(clock, 5);
    await p;
  }
  assert.equal(codes, ["E_MODBUS_NOT_WRITABLE", "E_MODBUS_UNKNOWN_POINT", "E_MODBUS_UNKNOWN_POINT", "E_MODBUS_WRITE_VALUE", "E_MODBUS_WRITE_VALUE"]);
  await d.stop();
  cleanup();
});

test("a vanished port is reported down and reopened with backoff", async () => {
  const { clock, line, h, d, cleanup } = await started({ config: { reopen: { minMs: 100, maxMs: 400 } } });
  await run(clock, 100, 5);
  assert.ok(d.health().up);
  line.vanish();
  await run(clock, 20);
  assert.not.ok(d.health().up);
  assert.match(d.health().detail ?? "", /down/);
  const n = h.events.length;
  await run(clock, 2000, 10);
  assert.is(h.events.length, n, "no events while the port is gone");
  const st = d.status!() as { openFailures: number };
  assert.ok(st.openFailures >= 3 && st.openFailures <= 8, `backoff between attempts: ${st.openFailures} attempts in 2 s`);
  line.plugIn();
  await run(clock, 600, 10);
  assert.ok(d.health().up);
  assert.ok(h.events.length > n);
  assert.is(line.opens, 2);
  assert.is(h.count("modbus_port_lost"), 1);
  await d.stop();
  cleanup();
});

test("a port missing at start is retried in the background", async () => {
  const { clock, line, h, d, cleanup } = await started({ before: (l) => (l.present = false) });
  assert.not.ok(d.health().up);
  line.plugIn();
  await run(clock, 1200, 10);
  assert.ok(d.health().up);
  assert.ok(h.events.length > 0);
  await d.stop();
  cleanup();
});

test("a reply that arrives in USB-sized bursts with gaps longer than t3.5 is still one frame", async () => {
  const { clock, line, h, d, cleanup } = await started({
    before: (l) => {
      l.split = 8;
      l.burstGapMs = 10;
    },
  });
  await run(clock, 500, 1);
  const st = d.status!() as { slaves: Record<string, { ok: number; timeouts: number }>; line: { broken: number } };
  assert.ok(h.events.some((e) => e.device === "pump-3" && e.payload.flow_lpm === 12.35));
  assert.is(st.slaves["pump-3"]!.timeouts, 0);
  assert.is(st.line.broken, 0);
  // with the strict host-side t3.5 of 19200 baud, the same bursts break the frame
  await d.stop();
  line.burstGapMs = 10;
  const strict = createModbusDriver({ ...bus, frameGapMs: 2 } as ModbusDriverConfig, devices, { openPort: line.open });
  await strict.start(h.ctx);
  await run(clock, 300, 1);
  const st2 = strict.status!() as { line: { broken: number } };
  assert.ok(st2.line.broken > 0);
  await strict.stop();
  cleanup();
});

test("the same driver instance restarts after stop (the supervisor restarts drivers)", async () => {
  const { clock, h, d, cleanup } = await started();
  await run(clock, 150, 5);
  await d.stop();
  const n = h.events.length;
  await run(clock, 300, 5);
  assert.is(h.events.length, n, "stopped: no polls");
  await d.start(h.ctx);
  await run(clock, 150, 5);
  await d.stop();
  assert.ok(h.events.length > n);
  assert.is(new Set(h.events.map((e) => e.id)).size, h.events.length);
  assert.is(clock.pending(), 0, "no timers left behind");
  cleanup();
});

test("scheduler: an overrunning poll skips its missed slots instead of bursting", async () => {
  const clock = new FakeClock(0);
  const starts: number[] = [];
  const s = new PollScheduler(clock, [{ key: "a/default", device: "a", everyMs: 100 }], {
    run: async () => {
      starts.push(clock.monotonic());
      if (starts.length === 2) await clock.sleep(250);
    },
  });
  s.start();
  await run(clock, 700, 5);
  await s.stop();
  assert.equal(starts.slice(0, 5), [0, 100, 400, 500, 600]);
  assert.is(s.status()[0]!.skipped, 2);
});

test.run();
