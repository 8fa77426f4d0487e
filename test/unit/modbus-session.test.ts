import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import { errorCode } from "../../core/index.js";
import { MasterSession } from "../../drivers/modbus/master-session.js";
import type { PortHandle } from "../../drivers/modbus/serial-transport.js";
import { advanceBy, FakeLine, hex } from "../helpers/modbus.js";

const run = (clock: FakeClock, ms: number, step = 1) => advanceBy(clock, ms, step);

async function setup(o: { retries?: number; timeoutMs?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const line = new FakeLine();
  line.slaves.unit(1).holding.splice(0, 3, 11, 22, 33);
  line.slaves.unit(2).input[5] = 55;
  const session = new MasterSession({ clock, timeoutMs: o.timeoutMs ?? 50, retries: o.retries ?? 2, turnaroundMs: 20, silenceMs: 2 });
  const port: PortHandle = await line.open({ path: "fake", baudRate: 19200, dataBits: 8, parity: "even", stopBits: 1, rs485: "off" });
  port.onData((c) => session.receive(c));
  session.attach(port);
  return { clock, line, session, port };
}

function outcome<T>(p: Promise<T>): { value?: T; code?: string; done: boolean } {
  const o: { value?: T; code?: string; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(o, { value: v, done: true }),
    (e) => Object.assign(o, { code: errorCode(e), done: true }),
  );
  return o;
}

test("reads registers and counts the answer", async () => {
  const { clock, session } = await setup();
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 3 }));
  await run(clock, 5);
  assert.ok(r.done);
  assert.equal(r.value, { kind: "registers", fn: 3, registers: [11, 22, 33] });
  assert.is(session.counters(1).ok, 1);
});

test("a missing slave times out after its retries; the next slave is served", async () => {
  const { clock, session, line } = await setup({ retries: 2, timeoutMs: 50 });
  const missing = outcome(session.request(9, { fn: 3, address: 0, quantity: 1 }));
  const other = outcome(session.request(2, { fn: 4, address: 5, quantity: 1 }));
  await run(clock, 400);
  assert.is(missing.code, "E_MODBUS_TIMEOUT");
  assert.equal(other.value, { kind: "registers", fn: 4, registers: [55] });
  const c = session.counters(9);
  assert.is(c.timeouts, 3);
  assert.is(c.retries, 2);
  assert.is(c.consecutiveFailures, 1);
  assert.is(line.written.filter((w) => w[0] === 9).length, 3);
});

test("one request in flight: nothing else is written while waiting", async () => {
  const { clock, session, line } = await setup({ retries: 0, timeoutMs: 50 });
  line.mute.add(1);
  const a = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  const b = outcome(session.request(2, { fn: 4, address: 5, quantity: 1 }));
  await run(clock, 30);
  assert.is(line.written.length, 1);
  await run(clock, 60);
  assert.is(a.code, "E_MODBUS_TIMEOUT");
  assert.ok(b.done);
  assert.is(line.written.length, 2);
});

test("a corrupted answer is counted as a CRC error and retried", async () => {
  const { clock, session, line } = await setup();
  line.corruptNext = 1;
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 3 }));
  await run(clock, 200);
  assert.equal(r.value, { kind: "registers", fn: 3, registers: [11, 22, 33] });
  const c = session.counters(1);
  assert.is(c.crcErrors, 1);
  assert.is(c.retries, 1);
  assert.ok(session.framerStats.crcErrors >= 1);
  line.corruptNext = 99;
  const bad = outcome(session.request(1, { fn: 3, address: 0, quantity: 3 }));
  await run(clock, 300);
  assert.is(bad.code, "E_MODBUS_CRC");
});

test("noise before the answer and answers split in chunks are fine", async () => {
  const { clock, session, line } = await setup();
  line.noiseBefore = hex("00 FF 01 03 99");
  line.split = 2;
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 3 }));
  await run(clock, 10);
  assert.equal(r.value, { kind: "registers", fn: 3, registers: [11, 22, 33] });
  assert.is(session.counters(1).retries, 0);
});

test("an exception answer maps to its code and is not retried", async () => {
  const { clock, session, line } = await setup();
  const r = outcome(session.request(1, { fn: 3, address: 5000, quantity: 1 }));
  await run(clock, 10);
  assert.is(r.code, "E_MODBUS_ILLEGAL_ADDRESS");
  assert.is(line.written.length, 1);
  assert.is(session.counters(1).exceptions, 1);
  assert.is(session.counters(1).consecutiveFailures, 0);
});

test("broadcast: no answer awaited, the turnaround delay passes before the next request", async () => {
  const { clock, session, line } = await setup();
  const b = outcome(session.request(0, { fn: 6, address: 7, value: 99 }));
  const next = outcome(session.request(1, { fn: 3, address: 7, quantity: 1 }));
  await run(clock, 10);
  assert.is(line.written.length, 1, "the next request waits for the turnaround");
  await run(clock, 20);
  assert.ok(b.done && b.value === undefined);
  assert.is(line.written.length, 2);
  assert.equal(next.value, { kind: "registers", fn: 3, registers: [99] });
  assert.is(line.slaves.unit(2).holding[7], 99);
});

test("writes jump ahead of queued polls", async () => {
  const { clock, session, line } = await setup();
  line.mute.add(1);
  const polls = [0, 1, 2].map((a) => outcome(session.request(1, { fn: 3, address: a, quantity: 1 }, { retries: 0 })));
  const w = outcome(session.request(2, { fn: 6, address: 1, value: 5 }, { priority: "write" }));
  await run(clock, 60);
  assert.ok(w.done && !w.code);
  assert.is(line.written[1]![0], 2, "the write goes right after the request already in flight");
  await run(clock, 200);
  assert.ok(polls.every((p) => p.code === "E_MODBUS_TIMEOUT"));
});

test("a port that is gone fails requests fast; stop rejects what is queued", async () => {
  const { clock, session } = await setup();
  session.attach(undefined);
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  await advanceBy(clock, 1);
  assert.is(r.code, "E_MODBUS_PORT_DOWN");
  const { session: s2, clock: c2 } = await setup();
  const a = outcome(s2.request(9, { fn: 3, address: 0, quantity: 1 }));
  const b = outcome(s2.request(9, { fn: 3, address: 0, quantity: 1 }));
  await run(c2, 2);
  s2.stop();
  await run(c2, 2);
  assert.is(a.code, "E_MODBUS_STOPPED");
  assert.is(b.code, "E_MODBUS_STOPPED");
  await run(clock, 1);
});

test.run();
