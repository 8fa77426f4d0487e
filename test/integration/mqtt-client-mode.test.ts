/** Client mode against a real mosquitto: devices publish with mosquitto_pub; writes reach the device; a broker restart is survived. */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { createMqttDriver, mqttDeviceConfig, mqttDriverConfig, BAD_INPUT_METRIC, type MqttDriver } from "../../drivers/mqtt/index.js";
import { startMosquitto, type Mosquitto } from "../../peers/mosquitto.js";
import { connectMqtt, mosquittoPub } from "../../peers/mqtt-clients.js";
import { recordingContext, type RecordingContext } from "../helpers/driver-context.js";
import { waitFor } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";

const test = withPackages(uvuTest, ["mosquitto", "mosquitto-clients", "openssl"]);
const CBOR_EXAMPLE = Uint8Array.from(Buffer.from(readFileSync(new URL("../vectors/rfc8428/6-cbor.hex", import.meta.url), "utf8").replace(/\s+/g, ""), "hex"));

let broker: Mosquitto;
let driver: MqttDriver;
let ctx: RecordingContext;

test.before(async () => {
  broker = await startMosquitto({ tls: true, persist: true });
  ctx = recordingContext();
});

test.after(async () => {
  await driver?.stop();
  await broker.cleanup();
});

test("client mode over mTLS: subscribes to the mapped topics and turns messages into events", async () => {
  const c = broker.certs!;
  const config = mqttDriverConfig.parse({
    name: "site",
    broker: "client",
    client: { url: broker.tlsUrl, ca: c.caFile, cert: c.clientCertFile, key: c.clientKeyFile, clientId: "ridge-test", reconnect: "200ms" },
  });
  driver = createMqttDriver(config, [mqttDeviceConfig.parse({ id: "dev-1", driver: "site" }), mqttDeviceConfig.parse({ id: "dev-2", driver: "site" })]) as MqttDriver;
  await driver.start(ctx);
  await waitFor("connected", () => driver.health().up);
  // the subscription is in place once a probe message comes through
  await waitFor("first event", async () => {
    await mosquittoPub(broker.port, "devices/dev-1/telemetry", '{"probe":1}');
    return ctx.events.length > 0;
  }, 10_000, 200);
  const n = ctx.events.length;
  assert.is((await mosquittoPub(broker.port, "devices/dev-2/telemetry", CBOR_EXAMPLE)).code, 0);
  assert.is((await mosquittoPub(broker.port, "devices/dev-2/state", "12.5")).code, 0);
  await waitFor("events", () => ctx.events.length >= n + 7);
  const evs = ctx.events.slice(n);
  assert.ok(evs.every((e) => e.device === "dev-2"));
  assert.is(evs[6]!.kind, "state");
  assert.equal(evs[6]!.payload, { value: 12.5 });
});

test("client mode: unknown devices and garbage are counted and dropped", async () => {
  const n = ctx.events.length;
  const u0 = ctx.count_(BAD_INPUT_METRIC, { reason: "unknown_device" });
  const m0 = ctx.count_(BAD_INPUT_METRIC, { reason: "malformed", device: "dev-1" });
  await mosquittoPub(broker.port, "devices/ghost/telemetry", "1");
  await mosquittoPub(broker.port, "devices/dev-1/telemetry", "{oops");
  await mosquittoPub(broker.port, "devices/dev-1/telemetry", "5");
  await waitFor("good event", () => ctx.events.length > n);
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "unknown_device" }) - u0, 1);
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "malformed", device: "dev-1" }) - m0, 1);
});

test("client mode: write() reaches the device's command topic", async () => {
  const dev = await connectMqtt(broker.url, { clientId: "dev-1" });
  const got: string[] = [];
  dev.on("message", (t, p) => got.push(`${t} ${p.toString()}`));
  await dev.subscribeAsync("devices/dev-1/cmd/#", { qos: 1 });
  await driver.write("dev-1", "setpoint", 21);
  await waitFor("command", () => got.length > 0);
  assert.is(got[0], "devices/dev-1/cmd/setpoint 21");
  await dev.endAsync();
});

test("client mode backpressure: emit() → false holds the next message until the pipeline drains", async () => {
  const dev = await connectMqtt(broker.url, { clientId: "dev-2" });
  const n = ctx.events.length;
  ctx.backpressure = true;
  for (let i = 1; i <= 4; i++) await dev.publishAsync("devices/dev-2/telemetry", String(i), { qos: 1 });
  await waitFor("first event", () => ctx.events.length >= n + 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.is(ctx.events.length, n + 1, "MQTT.js takes the next packet only after the held callback");
  ctx.release();
  await waitFor("the rest", () => ctx.events.length >= n + 4);
  assert.equal(ctx.events.slice(n).map((e) => e.payload.value), [1, 2, 3, 4]);
  await dev.endAsync();
});

test("client mode: the broker goes away (kill -9) and comes back; the driver reports down, reconnects and keeps receiving", async () => {
  await broker.kill();
  await waitFor("down", () => !driver.health().up);
  assert.ok(driver.health().detail);
  await broker.restart();
  await waitFor("up again", () => driver.health().up, 15_000);
  const n = ctx.events.length;
  await waitFor("events after restart", async () => {
    await mosquittoPub(broker.port, "devices/dev-1/telemetry", '{"after":"restart"}');
    return ctx.events.length > n;
  }, 10_000, 300);
  assert.equal(ctx.events[n]!.payload, { after: "restart" });
});

test.run();
