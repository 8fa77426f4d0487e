/** Embedded broker with anonymous access on: unknown devices, per-client rate limit, connection limit. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { MqttClient } from "mqtt";
import { createMqttDriver, mqttDeviceConfig, mqttDriverConfig, BAD_INPUT_METRIC, type MqttDriver } from "../../drivers/mqtt/index.js";
import { connectMqtt } from "../../peers/mqtt-clients.js";
import { recordingContext, type RecordingContext } from "../helpers/driver-context.js";
import { waitFor } from "../../peers/process.js";

let driver: MqttDriver;
let ctx: RecordingContext;
let url: string;
const clients: MqttClient[] = [];

test.before(async () => {
  const config = mqttDriverConfig.parse({
    name: "open",
    listen: "127.0.0.1:0",
    allowAnonymous: true,
    limits: { messagesPerSecond: 1, burst: 5, maxConnections: 3 },
  });
  driver = createMqttDriver(config, [mqttDeviceConfig.parse({ id: "a", driver: "open" }), mqttDeviceConfig.parse({ id: "b", driver: "open" })]) as MqttDriver;
  ctx = recordingContext();
  await driver.start(ctx);
  url = `mqtt://127.0.0.1:${driver.addresses.plain!.port}`;
});

test.after(async () => {
  for (const c of clients) c.end(true);
  await driver.stop();
});

test("anonymous clients publish for configured devices; unknown devices are counted and dropped", async () => {
  const c = await connectMqtt(url);
  clients.push(c);
  const u0 = ctx.count_(BAD_INPUT_METRIC, { reason: "unknown_device", device: "unknown" });
  await c.publishAsync("devices/ghost/telemetry", "1", { qos: 1 });
  await c.publishAsync("devices/a/telemetry", "2", { qos: 1 });
  await waitFor("event", () => ctx.events.length >= 1);
  assert.is(ctx.events[0]!.device, "a");
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "unknown_device", device: "unknown" }) - u0, 1);
  const ghost = ctx.logs.find((l) => l.obj.reason === "unknown_device");
  assert.is(ghost?.obj.name, "ghost");
  // a topic outside every mapping is an ACL violation even for anonymous clients
  const closed = new Promise<void>((r) => c.once("close", () => r()));
  c.publish("elsewhere/x", "1");
  await closed;
});

test("rate limit: a burst above the bucket is dropped and counted; the connection stays", async () => {
  const c = await connectMqtt(url);
  clients.push(c);
  const n = ctx.events.length;
  const r0 = ctx.count_(BAD_INPUT_METRIC, { reason: "rate_limited" });
  for (let i = 0; i < 20; i++) await c.publishAsync("devices/b/telemetry", String(i), { qos: 1 });
  const limited = ctx.count_(BAD_INPUT_METRIC, { reason: "rate_limited" }) - r0;
  const passed = ctx.events.length - n;
  assert.is(limited + passed, 20);
  assert.ok(passed >= 5 && limited >= 10, `passed ${passed}, limited ${limited}`);
  assert.ok(c.connected);
});

test("connection limit: connections beyond maxConnections are dropped and counted", async () => {
  const d0 = ctx.count_(BAD_INPUT_METRIC, { reason: "max_connections" });
  const open = clients.filter((c) => c.connected).length;
  const results: boolean[] = [];
  for (let i = open; i < 5; i++) {
    try {
      clients.push(await connectMqtt(url));
      results.push(true);
    } catch {
      results.push(false);
    }
  }
  assert.ok(results.includes(false), "some connection was refused");
  assert.ok(ctx.count_(BAD_INPUT_METRIC, { reason: "max_connections" }) - d0 >= 1);
});

test("a second broker on a port in use fails to start with E_MQTT_LISTEN_IN_USE", async () => {
  const config = mqttDriverConfig.parse({ name: "dup", listen: `127.0.0.1:${driver.addresses.plain!.port}` });
  const other = createMqttDriver(config, []) as MqttDriver;
  try {
    await other.start(recordingContext());
    assert.unreachable("started");
  } catch (e) {
    assert.is((e as { code: string }).code, "E_MQTT_LISTEN_IN_USE");
  } finally {
    await other.stop();
  }
  assert.equal(driver.health(), { up: true });
});

test.run();
