/**
 * Hostile bytes at the embedded broker's socket: random garbage, a malformed Remaining Length, a
 * header announcing a huge packet, a connection that never sends CONNECT, random payloads from an
 * authenticated client. The broker and the driver keep running and keep serving a good client.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createConnection, type Socket } from "node:net";
import fc from "fast-check";
import { createMqttDriver, decodePayload, mqttDeviceConfig, mqttDriverConfig, BAD_INPUT_METRIC, type MqttDriver } from "../../drivers/mqtt/index.js";
import { connectMqtt } from "../../peers/mqtt-clients.js";
import { recordingContext, type RecordingContext } from "../helpers/driver-context.js";
import { waitFor } from "../../peers/process.js";

let driver: MqttDriver;
let ctx: RecordingContext;
let port: number;

test.before(async () => {
  const config = mqttDriverConfig.parse({
    name: "hostile",
    listen: "127.0.0.1:0",
    allowAnonymous: true,
    limits: { maxPacket: 2048, connectTimeout: "300ms", messagesPerSecond: 100_000, burst: 100_000 },
  });
  driver = createMqttDriver(config, [mqttDeviceConfig.parse({ id: "d1", driver: "hostile" })]) as MqttDriver;
  ctx = recordingContext();
  await driver.start(ctx);
  port = driver.addresses.plain!.port;
});

test.after(async () => {
  await driver.stop();
});

/** Send bytes and wait until the broker closes the socket (or 3 s pass). Resolves true if it closed. */
function sendAndWaitClose(bytes: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Socket = createConnection({ port, host: "127.0.0.1" }, () => s.write(bytes));
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 3000);
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stillServes(): Promise<void> {
  const c = await connectMqtt(`mqtt://127.0.0.1:${port}`);
  const n = ctx.events.length;
  await c.publishAsync("devices/d1/telemetry", "1", { qos: 1 });
  await waitFor("event", () => ctx.events.length > n);
  await c.endAsync();
}

test("a header announcing a 256 MiB packet is closed at once and counted as oversize", async () => {
  const o0 = ctx.count_(BAD_INPUT_METRIC, { reason: "oversize" });
  // PUBLISH, Remaining Length 268,435,455 (0xff 0xff 0xff 0x7f), then nothing
  assert.ok(await sendAndWaitClose(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f)));
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "oversize" }) - o0, 1);
  await stillServes();
});

test("a Remaining Length longer than 4 bytes is malformed and closed", async () => {
  const m0 = ctx.count_(BAD_INPUT_METRIC, { reason: "malformed" });
  assert.ok(await sendAndWaitClose(Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0x01)));
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "malformed" }) - m0, 1);
  await stillServes();
});

test("a connection that never sends CONNECT is closed after connectTimeout", async () => {
  assert.ok(await sendAndWaitClose(new Uint8Array(0)));
});

test("random garbage on fresh connections never brings the broker down", async () => {
  const samples = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), { numRuns: 40, seed: 42 });
  await Promise.all(samples.map((b) => sendAndWaitClose(b)));
  await stillServes();
});

test("random payloads from a connected client are decoded or counted, never crash", async () => {
  const c = await connectMqtt(`mqtt://127.0.0.1:${port}`);
  const samples = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.json().map((s) => new TextEncoder().encode(s))), { numRuns: 300, seed: 7 });
  const n = ctx.events.length;
  const m0 = ctx.count_(BAD_INPUT_METRIC, { reason: "malformed" });
  for (const s of samples) await c.publishAsync("devices/d1/telemetry", Buffer.from(s), { qos: 1 });
  const good = samples.filter((x) => decodePayload("auto", x, 0).ok).length;
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "malformed" }) - m0, samples.length - good, "every undecodable payload is counted");
  assert.ok(ctx.events.length - n >= good, "every decodable payload became at least one event");
  assert.ok(c.connected);
  await c.endAsync();
  await stillServes();
  assert.equal(driver.health(), { up: true });
});

test.run();
