/**
 * The Modbus TCP session (drivers/modbus/tcp-session.ts) on a fake clock against in-memory slaves
 * behind MBAP framing: transaction ids pair answers with requests in any order, `maxInFlight`
 * bounds what is on the wire, retries keep their transaction id, late and foreign answers are
 * dropped, garbage asks the owner to drop the connection, a lost connection fails what is in flight.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import { errorCode, type ErrorCode, type Failure } from "../../core/index.js";
import { encodeMbap } from "../../drivers/modbus/mbap.js";
import { TcpMasterSession } from "../../drivers/modbus/tcp-session.js";
import { advanceBy, hex } from "../helpers/modbus.js";
import { FakeTcpServer } from "../helpers/modbus-tcp.js";

function setup(o: { maxInFlight?: number; retries?: number; timeoutMs?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const server = new FakeTcpServer();
  server.slaves.unit(1).holding.splice(0, 3, 11, 22, 33);
  server.slaves.unit(2).input[5] = 55;
  const desyncs: Failure<ErrorCode>[] = [];
  const session = new TcpMasterSession({ clock, timeoutMs: o.timeoutMs ?? 100, retries: o.retries ?? 0, maxInFlight: o.maxInFlight ?? 1, turnaroundMs: 20, peer: "plc:502", onDesync: (e) => desyncs.push(e) });
  server.deliver = (c) => session.receive(c);
  session.attach(server.link);
  return { clock, server, session, desyncs };
}

function outcome<T>(p: Promise<T>): { value?: T; code?: string; done: boolean } {
  const o: { value?: T; code?: string; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(o, { value: v, done: true }),
    (e) => Object.assign(o, { code: errorCode(e), done: true }),
  );
  return o;
}
const settle = async (clock: FakeClock, ms = 1) => advanceBy(clock, ms);

test("one request: an MBAP frame with a transaction id, answered and counted", async () => {
  const { clock, server, session } = setup();
  server.auto = true;
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 3 }));
  await settle(clock, 2);
  assert.equal(r.value, { kind: "registers", fn: 3, registers: [11, 22, 33] });
  assert.is(server.requests.length, 1);
  assert.is(server.requests[0]!.unit, 1);
  assert.is(session.counters(1).ok, 1);
  assert.is(session.counters(1).requests, 1);
});

test("maxInFlight 1: the next request goes out only after the answer", async () => {
  const { clock, server, session } = setup({ maxInFlight: 1 });
  const a = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  const b = outcome(session.request(2, { fn: 4, address: 5, quantity: 1 }));
  await settle(clock, 5);
  assert.is(server.requests.length, 1);
  server.release();
  await settle(clock, 2);
  assert.ok(a.done && !b.done);
  assert.is(server.requests.length, 2);
  server.release();
  await settle(clock, 2);
  assert.equal(b.value, { kind: "registers", fn: 4, registers: [55] });
});

test("maxInFlight 3: three on the wire at once, answers in reverse order each settle their own request", async () => {
  const { clock, server, session } = setup({ maxInFlight: 3 });
  const rs = [0, 1, 2, 3].map((i) => outcome(session.request(1, { fn: 3, address: i, quantity: 1 })));
  await settle(clock, 5);
  assert.is(server.requests.length, 3, "the fourth waits for a free place");
  assert.is(new Set(server.requests.map((q) => q.transaction)).size, 3, "distinct transaction ids");
  assert.is(session.pending, 3);
  server.release([2, 1, 0]);
  await settle(clock, 2);
  assert.equal(rs.slice(0, 3).map((r) => r.value), [0, 1, 2].map((i) => ({ kind: "registers", fn: 3, registers: [[11, 22, 33][i]] })));
  assert.is(server.requests.length, 4);
  server.release();
  await settle(clock, 2);
  assert.ok(rs[3]!.done);
});

test("a retry resends the same transaction id; the late answer to the first attempt settles it", async () => {
  const { clock, server, session } = setup({ retries: 1, timeoutMs: 100 });
  const r = outcome(session.request(1, { fn: 3, address: 1, quantity: 1 }));
  await settle(clock, 110);
  assert.is(server.requests.length, 2, "resent after the timeout");
  assert.is(server.requests[0]!.transaction, server.requests[1]!.transaction);
  server.release([0]);
  await settle(clock, 2);
  assert.equal(r.value, { kind: "registers", fn: 3, registers: [22] });
  const c = session.counters(1);
  assert.is(c.timeouts, 1);
  assert.is(c.retries, 1);
  // the second attempt's answer comes too: its transaction is no longer in flight
  server.release();
  await settle(clock, 2);
  assert.is(session.stats.unknownTransactions, 1);
});

test("after its retries a silent unit fails with E_MODBUS_TIMEOUT; its late answer is dropped and counted", async () => {
  const { clock, server, session } = setup({ retries: 2, timeoutMs: 50 });
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  await settle(clock, 200);
  assert.is(r.code, "E_MODBUS_TIMEOUT");
  assert.is(session.counters(1).timeouts, 3);
  assert.is(session.counters(1).consecutiveFailures, 1);
  server.release();
  await settle(clock, 2);
  assert.is(session.stats.unknownTransactions, 3);
});

test("an answer from another unit id is not taken; an exception is an answer", async () => {
  const { clock, server, session } = setup({ timeoutMs: 50 });
  server.auto = true;
  server.answerUnit = 7;
  const wrong = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  await settle(clock, 60);
  assert.is(wrong.code, "E_MODBUS_TIMEOUT");
  assert.is(session.stats.wrongUnit, 1);
  server.answerUnit = undefined;
  const exc = outcome(session.request(1, { fn: 3, address: 5000, quantity: 1 }));
  await settle(clock, 2);
  assert.is(exc.code, "E_MODBUS_ILLEGAL_ADDRESS");
  assert.is(session.counters(1).exceptions, 1);
  assert.is(session.counters(1).consecutiveFailures, 0);
});

test("writes jump ahead of queued polls", async () => {
  const { clock, server, session } = setup({ maxInFlight: 1 });
  const polls = [0, 1, 2].map((i) => outcome(session.request(1, { fn: 3, address: i, quantity: 1 })));
  const w = outcome(session.request(1, { fn: 6, address: 9, value: 42 }, { priority: "write" }));
  for (let i = 0; i < 4; i++) {
    await settle(clock, 2);
    server.release();
  }
  await settle(clock, 2);
  assert.equal(server.requests.map((q) => q.pdu[0]), [3, 6, 3, 3]);
  assert.ok(w.done && polls.every((p) => p.done));
  assert.is(server.slaves.unit(1).holding[9], 42);
});

test("garbage on the socket: onDesync with E_MODBUS_MBAP; detaching fails what is in flight with E_MODBUS_CONNECTION_DOWN", async () => {
  const { clock, session, desyncs, server } = setup({ maxInFlight: 2 });
  const a = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  const b = outcome(session.request(2, { fn: 4, address: 5, quantity: 1 }));
  const queued = outcome(session.request(1, { fn: 3, address: 1, quantity: 1 }));
  await settle(clock, 2);
  session.receive(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
  assert.is(desyncs.length, 1);
  assert.is(desyncs[0]!.code, "E_MODBUS_MBAP");
  session.receive(encodeMbap(server.requests[0]!.transaction, 1, hex("03 02 00 0B")));
  await settle(clock, 1);
  assert.ok(!a.done, "nothing is read from a stream out of step");
  session.attach(undefined);
  await settle(clock, 1);
  assert.equal([a.code, b.code, queued.code], ["E_MODBUS_CONNECTION_DOWN", "E_MODBUS_CONNECTION_DOWN", "E_MODBUS_CONNECTION_DOWN"]);
  assert.is(session.counters(1).lastError, "E_MODBUS_CONNECTION_DOWN");
  const later = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  await settle(clock, 1);
  assert.is(later.code, "E_MODBUS_CONNECTION_DOWN", "fails fast while down");
  // a new connection starts a fresh stream
  const server2 = new FakeTcpServer();
  server2.slaves.unit(1).holding[0] = 7;
  server2.auto = true;
  server2.deliver = (c) => session.receive(c);
  session.attach(server2.link);
  const again = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  await settle(clock, 2);
  assert.equal(again.value, { kind: "registers", fn: 3, registers: [7] });
});

test("a frame that stalls part-way past the timeout puts the stream out of step (E_MODBUS_MBAP), not a CRC error", async () => {
  const { clock, session, desyncs, server } = setup({ timeoutMs: 50 });
  const r = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  await settle(clock, 2);
  const tid = server.requests[0]!.transaction;
  session.receive(Uint8Array.of(tid >> 8, tid & 0xff, 0, 0, 0, 5, 1, 3)); // 8 of 11 bytes
  await settle(clock, 60);
  assert.is(r.code, "E_MODBUS_TIMEOUT");
  assert.is(desyncs.length, 1);
  assert.is(desyncs[0]!.code, "E_MODBUS_MBAP");
  assert.match(desyncs[0]!.reason, /stalled after 8 bytes/);
  assert.is(session.counters(1).crcErrors, 0);
});

test("an answer split into single bytes and several answers in one chunk are both taken", async () => {
  const { clock, server, session } = setup({ maxInFlight: 2 });
  const deliver = server.deliver!;
  const chunks: Uint8Array[] = [];
  server.deliver = (c) => chunks.push(c);
  const a = outcome(session.request(1, { fn: 3, address: 0, quantity: 3 }));
  const b = outcome(session.request(2, { fn: 4, address: 5, quantity: 1 }));
  await settle(clock, 2);
  server.release();
  const [first, second] = chunks;
  for (const byte of first!) deliver(Uint8Array.of(byte));
  await settle(clock, 1);
  assert.ok(a.done && !b.done);
  const c = outcome(session.request(1, { fn: 3, address: 2, quantity: 1 }));
  await settle(clock, 2);
  server.release();
  deliver(Uint8Array.from([...second!, ...chunks[2]!]));
  await settle(clock, 1);
  assert.equal([b.value, c.value], [{ kind: "registers", fn: 4, registers: [55] }, { kind: "registers", fn: 3, registers: [33] }]);
});

test("stop fails queued and in-flight requests with E_MODBUS_STOPPED", async () => {
  const { clock, session } = setup({ maxInFlight: 1 });
  const a = outcome(session.request(1, { fn: 3, address: 0, quantity: 1 }));
  const b = outcome(session.request(1, { fn: 3, address: 1, quantity: 1 }));
  await settle(clock, 2);
  session.stop();
  await settle(clock, 1);
  assert.equal([a.code, b.code], ["E_MODBUS_STOPPED", "E_MODBUS_STOPPED"]);
});

test.run();
