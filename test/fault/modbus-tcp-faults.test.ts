/**
 * Modbus TCP against real and hostile peers on loopback: the pymodbus TCP server vanishing
 * (SIGKILL) and coming back on its port, frozen (SIGSTOP: the connection stays, nothing answers),
 * slow (answers after the timeout), a relay that puts garbage into the stream, and a raw peer
 * answering with fast-check's hostile bytes. The driver counts, never takes an answer for the
 * wrong request, drops a stream out of step, reconnects with backoff and carries on.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { systemClock } from "../../core/clock.js";
import { createModbusDriver, encodeMbap, type ModbusDeviceConfig, type ModbusDriverConfig } from "../../drivers/modbus/index.js";
import { recordingContext } from "../helpers/modbus.js";
import { startRawTcpPeer, startTcpRelay, startTcpServer, type RealTcpServer } from "../helpers/modbus-tcp.js";
import { tempDir, waitFor } from "../../peers/process.js";

let unhandled = 0;
process.on("unhandledRejection", () => unhandled++);

const bus = (port: number, extra: Record<string, unknown> = {}) =>
  ({ name: "plc-net", transport: "tcp", host: "127.0.0.1", port, timeoutMs: 300, retries: 0, connectTimeoutMs: 1000, reopen: { minMs: 50, maxMs: 300 }, slaveBackoff: { after: 2, maxMs: 600 }, ...extra }) as unknown as ModbusDriverConfig;

type Status = { open: boolean; opens: number; openFailures: number; lastPortError: string | null; slaves: Record<string, { ok: number; timeouts: number; failing: boolean; badResponses: number }>; line: { unknownTransactions: number; badHeaders: number; wrongUnit: number } };
const statusOf = (d: unknown) => (d as { status(): Status }).status();

/** Two units, each point at an address whose preset value names it: a value from the wrong answer shows. */
const devices = [
  { id: "a", driver: "plc-net", unit: 1, poll: { every: "60ms" }, points: [{ name: "h3", fn: "holding", address: 3 }, { name: "uid", fn: "input", address: 20 }] },
  { id: "b", driver: "plc-net", unit: 2, poll: { every: "60ms" }, points: [{ name: "h7", fn: "holding", address: 7 }, { name: "uid", fn: "input", address: 20 }] },
] as unknown as ModbusDeviceConfig[];
const truth: Record<string, Record<string, number>> = { a: { h3: 103, uid: 1 }, b: { h7: 107, uid: 2 } };

function assertTruth(events: { device: string; payload: Record<string, unknown> }[]): void {
  for (const e of events) for (const [k, v] of Object.entries(e.payload)) assert.is(v, truth[e.device]![k], `${e.device}.${k}: ${JSON.stringify(e.payload)}`);
}

test("the server vanishes (SIGKILL) and comes back on its port: down, connect refused with backoff, reconnected, polling resumes", async () => {
  let server: RealTcpServer = await startTcpServer({ units: [1, 2] });
  const port = server.port;
  const t = tempDir("ridge-modbus-tcp-");
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus(port), devices);
  try {
    await d.start(rec.ctx);
    await waitFor("events from both units", () => rec.events.some((e) => e.device === "a") && rec.events.some((e) => e.device === "b"), 10_000);
    await server.crash();
    await waitFor("reported down", () => !d.health().up, 10_000);
    assert.ok(rec.count("modbus_port_lost") >= 1);
    assert.ok(rec.logs.some((l) => l.includes("TCP connection lost")), rec.logs.join("\n"));
    await waitFor("a refused reconnect", () => statusOf(d).openFailures >= 1, 10_000);
    assert.match(statusOf(d).lastPortError ?? "", /cannot connect to Modbus TCP server 127\.0\.0\.1:\d+/);
    assert.match(d.health().detail ?? "", /TCP connection 127\.0\.0\.1:\d+ down/);
    const during = rec.events.length;
    server = await startTcpServer({ units: [1, 2], port });
    await waitFor("up again", () => d.health().up && statusOf(d).open, 15_000);
    await waitFor("polling resumed", () => rec.events.length >= during + 6, 15_000);
    assert.ok(statusOf(d).opens >= 2);
    assert.ok(rec.logs.some((l) => l.includes("TCP connection is back")));
    assertTruth(rec.events);
    assert.is(unhandled, 0);
  } finally {
    await d.stop();
    await server.stop();
    t.cleanup();
  }
});

test("a frozen server (SIGSTOP: connected, silent): timeouts, backoff, the connection reported down; it thaws and answers again", async () => {
  const server = await startTcpServer({ units: [1, 2] });
  const t = tempDir("ridge-modbus-tcp-");
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus(server.port, { timeoutMs: 150 }), devices);
  try {
    await d.start(rec.ctx);
    await waitFor("events", () => rec.events.length >= 4, 10_000);
    process.kill(server.serverPid, "SIGSTOP");
    await waitFor("every unit failing", () => Object.values(statusOf(d).slaves).every((s) => s.failing), 15_000);
    assert.not.ok(d.health().up, "no unit answers: the bus is down");
    assert.ok(rec.count("modbus_errors", { code: "E_MODBUS_TIMEOUT" }) >= 4);
    process.kill(server.serverPid, "SIGCONT");
    const thawed = rec.events.length;
    await waitFor("answers again", () => rec.events.length >= thawed + 4 && d.health().up, 20_000);
    // the answers queued while frozen came late: dropped as unknown transactions, never taken for newer requests
    assertTruth(rec.events);
    assert.is(unhandled, 0);
  } finally {
    await d.stop();
    try {
      process.kill(server.serverPid, "SIGCONT");
    } catch {
      /* gone */
    }
    await server.stop();
    t.cleanup();
  }
});

test("a slow server: answers after the timeout are counted and dropped, never matched to a later request; a longer timeout reads it", async () => {
  const server = await startTcpServer({ units: [1, 2], delayMs: 120 });
  const t = tempDir("ridge-modbus-tcp-");
  try {
    const rec = recordingContext(systemClock, t.dir);
    const d = createModbusDriver(bus(server.port, { timeoutMs: 60, retries: 1, slaveBackoff: { after: 100, maxMs: 600 } }), devices);
    try {
      await d.start(rec.ctx);
      await waitFor("late answers dropped", () => statusOf(d).line.unknownTransactions >= 3, 20_000);
      assert.ok(statusOf(d).slaves.a!.timeouts + statusOf(d).slaves.b!.timeouts >= 3);
      assertTruth(rec.events);
    } finally {
      await d.stop();
    }
    const rec2 = recordingContext(systemClock, t.dir);
    const patient = createModbusDriver(bus(server.port, { timeoutMs: 2000, maxInFlight: 2 }), devices);
    try {
      await patient.start(rec2.ctx);
      await waitFor("both units read through the delay", () => rec2.events.some((e) => e.device === "a") && rec2.events.some((e) => e.device === "b"), 20_000);
      assertTruth(rec2.events);
      assert.is(rec2.count("modbus_errors"), 0, JSON.stringify([...rec2.counts]));
    } finally {
      await patient.stop();
    }
    assert.is(unhandled, 0);
  } finally {
    await server.stop();
    t.cleanup();
  }
});

test("garbage in the stream (a relay in front of the real server): E_MODBUS_MBAP, the connection dropped and reopened, values stay right", async () => {
  const server = await startTcpServer({ units: [1, 2] });
  // On the first two connections, the 4th answer is replaced by text; later connections pass through.
  const relay = await startTcpRelay(server.port, { tamper: (chunk, n, k) => (n <= 2 && k === 4 ? Buffer.from("+++ATH0\r\nNO CARRIER\r\n") : chunk) });
  const t = tempDir("ridge-modbus-tcp-");
  const rec = recordingContext(systemClock, t.dir);
  const d = createModbusDriver(bus(relay.port), devices);
  try {
    await d.start(rec.ctx);
    await waitFor("two dropped connections and a third that works", () => relay.connections >= 3 && rec.events.length >= 12, 20_000);
    assert.ok(statusOf(d).line.badHeaders >= 2, JSON.stringify(statusOf(d).line));
    assert.ok(rec.count("modbus_errors", { code: "E_MODBUS_MBAP" }) >= 2, JSON.stringify([...rec.counts]));
    assert.ok(rec.logs.some((l) => /protocol id 0x2b41 is not 0/.test(l)), rec.logs.join("\n"));
    assert.ok(statusOf(d).opens >= 3);
    assertTruth(rec.events);
    assert.is(unhandled, 0);
  } finally {
    await d.stop();
    await relay.close();
    await server.stop();
    t.cleanup();
  }
});

/** What a hostile peer answers a request with (tid: the request's transaction id). */
const hostileAnswer = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => () => b),
  // the right transaction id and a random PDU: must decode or be refused, never throw
  fc.record({ unit: fc.integer({ min: 0, max: 255 }), pdu: fc.uint8Array({ minLength: 1, maxLength: 253 }) }).map(({ unit, pdu }) => (tid: number) => encodeMbap(tid, unit, pdu)),
  // a header that claims more than it sends, then stalls
  fc.integer({ min: 2, max: 254 }).map((len) => (tid: number) => Uint8Array.of(tid >> 8, tid & 0xff, 0, 0, len >> 8, len & 0xff, 1)),
  // a header with a bad protocol id or length
  fc.record({ proto: fc.integer({ min: 1, max: 0xffff }), len: fc.integer({ min: 0, max: 0xffff }) }).map(({ proto, len }) => (tid: number) => Uint8Array.of(tid >> 8, tid & 0xff, proto >> 8, proto & 0xff, len >> 8, len & 0xff, 1, 3)),
);

test("fuzz: a raw TCP peer answering every request with fast-check's hostile bytes: the driver counts, reconnects, stops cleanly", async () => {
  const t = tempDir("ridge-modbus-tcp-");
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileAnswer, { minLength: 1, maxLength: 12 }), async (answers) => {
        let served = 0;
        const peer = await startRawTcpPeer((sock) => {
          sock.on("data", (req: Buffer) => {
            const tid = req.length >= 2 ? (req[0]! << 8) | req[1]! : 0;
            const a = answers[served++ % answers.length]!;
            if (!sock.destroyed) sock.write(a(tid));
          });
        });
        const rec = recordingContext(systemClock, t.dir);
        const d = createModbusDriver(bus(peer.port, { timeoutMs: 40, reopen: { minMs: 10, maxMs: 40 }, maxInFlight: 2, slaveBackoff: { after: 50, maxMs: 100 } }), devices);
        try {
          await d.start(rec.ctx);
          try {
            await waitFor("the hostile answers served", () => served >= answers.length + 2, 20_000, 10);
          } catch (e) {
            throw new Error(`${String(e)}: served ${served} of ${answers.length}; ${JSON.stringify(statusOf(d))}`);
          }
          const h = d.health();
          assert.type(h.up, "boolean");
          const st = statusOf(d);
          for (const s of Object.values(st.slaves)) assert.ok(s.ok >= 0 && s.timeouts >= 0);
          for (const e of rec.events) assert.ok(e.device === "a" || e.device === "b");
        } finally {
          await d.stop();
          await peer.close();
        }
      }),
      { numRuns: 25, endOnFailure: true },
    );
    assert.is(unhandled, 0);
  } finally {
    t.cleanup();
  }
});

test.run();
