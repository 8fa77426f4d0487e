/**
 * The embedded broker with real clients on loopback: MQTT.js and mosquitto_pub/sub. Passwords,
 * client certificates, ACL, every payload format, garbage, oversize packets, unknown devices,
 * rate limits, writes to the command topic, backpressure.
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { createMqttDriver, hashPassword, mqttDeviceConfig, mqttDriverConfig, type MqttDriver, BAD_INPUT_METRIC } from "../../drivers/mqtt/index.js";
import { generateTestCerts, type MosquittoCerts } from "../../peers/mosquitto.js";
import { connectMqtt, mosquittoPub, runCommand } from "../../peers/mqtt-clients.js";
import { recordingContext, type RecordingContext } from "../helpers/driver-context.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";

const test = withPackages(uvuTest, ["mosquitto-clients", "openssl"]);
const tmp = tempDir("ridge-mqtt-embedded-");
let certs: MosquittoCerts;
const CBOR_EXAMPLE = Uint8Array.from(Buffer.from(readFileSync(new URL("../vectors/rfc8428/6-cbor.hex", import.meta.url), "utf8").replace(/\s+/g, ""), "hex"));

let driver: MqttDriver;
let ctx: RecordingContext;
let url: string;
let tlsUrl: string;
let port: number;
const clients: MqttClient[] = [];

test.before(async () => {
  certs = generateTestCerts(join(tmp.dir, "pki"), "device-1");
  const pw = (p: string) => hashPassword(p, { ln: 10 });
  const config = mqttDriverConfig.parse({
    name: "site",
    broker: "embedded",
    listen: "127.0.0.1:0",
    tls: { listen: "127.0.0.1:0", cert: certs.serverCertFile, key: certs.serverKeyFile, ca: certs.caFile, requireClientCert: true },
    auth: { users: { "dev-2": await pw("two-secret") } },
    allowAnonymous: false,
    limits: { maxPacket: 4096, messagesPerSecond: 1000, burst: 1000 },
  });
  const devices = [
    mqttDeviceConfig.parse({ id: "dev-1", driver: "site", password: await pw("one-secret") }),
    mqttDeviceConfig.parse({ id: "dev-2", driver: "site" }),
    mqttDeviceConfig.parse({ id: "device-1", driver: "site" }),
    mqttDeviceConfig.parse({ id: "meter-9", driver: "site", username: "m9", password: await pw("nine"), topics: [{ pattern: "meters/{device}/kwh", kind: "telemetry", format: "number" }] }),
  ];
  driver = createMqttDriver(config, devices) as MqttDriver;
  ctx = recordingContext();
  await driver.start(ctx);
  port = driver.addresses.plain!.port;
  url = `mqtt://127.0.0.1:${port}`;
  tlsUrl = `mqtts://127.0.0.1:${driver.addresses.tls!.port}`;
});

test.after(async () => {
  for (const c of clients) c.end(true);
  await driver.stop();
  tmp.cleanup();
});

async function dev1(): Promise<MqttClient> {
  const c = await connectMqtt(url, { username: "dev-1", password: "one-secret", clientId: `dev-1-${clients.length}` });
  clients.push(c);
  return c;
}

test("health is up and the broker listens on loopback", () => {
  assert.equal(driver.health(), { up: true });
  assert.is(driver.addresses.plain!.host, "127.0.0.1");
});

test("a device with the right password publishes JSON; id and ts come from the payload", async () => {
  const c = await dev1();
  const n = ctx.events.length;
  await c.publishAsync("devices/dev-1/telemetry", JSON.stringify({ id: "m-1", ts: 1_700_000_000_000, temp: 21.5 }), { qos: 1 });
  await c.publishAsync("devices/dev-1/state", JSON.stringify({ door: "open" }), { qos: 1 });
  await waitFor("2 events", () => ctx.events.length >= n + 2);
  const [a, b] = ctx.events.slice(n);
  assert.equal(a, { id: "m-1", ts: 1_700_000_000_000, device: "dev-1", kind: "telemetry", payload: { temp: 21.5 }, meta: { driver: "site", topic: "devices/dev-1/telemetry" } });
  assert.is(b!.kind, "state");
  assert.match(b!.id, /^dev-1\/\d+$/);
  assert.equal(b!.payload, { door: "open" });
});

test("wrong password and missing credentials are refused and counted", async () => {
  const before = ctx.count_(BAD_INPUT_METRIC, { reason: "auth_failed" });
  for (const opts of [{ username: "dev-1", password: "nope" }, { username: "nobody", password: "x" }, {}]) {
    let refused = false;
    try {
      clients.push(await connectMqtt(url, { ...opts, clientId: "intruder" }));
    } catch {
      refused = true;
    }
    assert.ok(refused, JSON.stringify(opts));
  }
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "auth_failed" }) - before, 3);
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "auth_failed", device: "dev-1" }) >= 1, true);
});

test("auth.users entry and per-device username work", async () => {
  const c2 = await connectMqtt(url, { username: "dev-2", password: "two-secret" });
  const c9 = await connectMqtt(url, { username: "m9", password: "nine" });
  clients.push(c2, c9);
  const n = ctx.events.length;
  await c2.publishAsync("devices/dev-2/telemetry", "42", { qos: 1 });
  await c9.publishAsync("meters/meter-9/kwh", "1234.5", { qos: 1 });
  await waitFor("2 events", () => ctx.events.length >= n + 2);
  const got = ctx.events.slice(n).map((e) => [e.device, e.payload]);
  assert.equal(got, [["dev-2", { value: 42 }], ["meter-9", { value: 1234.5 }]]);
});

test("ACL: publishing as another device closes the connection; subscribing to another device's commands is refused", async () => {
  const before = ctx.count_(BAD_INPUT_METRIC, { reason: "acl_denied", device: "dev-1" });
  const c = await dev1();
  const suback = async (f: string) => c.subscribeAsync(f, { qos: 1 }).then((g) => g[0]!.qos, () => 128);
  assert.equal([await suback("devices/dev-2/cmd/#"), await suback("devices/dev-1/cmd/#"), await suback("#")], [128, 1, 128]);
  const closed = new Promise<void>((r) => c.once("close", () => r()));
  const n = ctx.events.length;
  c.publish("devices/dev-2/telemetry", "{}", { qos: 1 });
  await closed;
  assert.is(ctx.events.length, n, "no event from a denied publish");
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "acl_denied", device: "dev-1" }) - before, 3);
});

test("every payload format decodes: JSON, SenML JSON, SenML CBOR (RFC 8428 §6 bytes), bare number", async () => {
  const c = await dev1();
  const n = ctx.events.length;
  await c.publishAsync("devices/dev-1/telemetry", '[{"bn":"dev-1:","n":"temp","u":"Cel","v":23.1},{"n":"rh","u":"%RH","v":40}]', { qos: 1 });
  await c.publishAsync("devices/dev-1/telemetry", Buffer.from(CBOR_EXAMPLE), { qos: 1 });
  await c.publishAsync("devices/dev-1/telemetry", " -17.25 ", { qos: 1 });
  await c.publishAsync("devices/dev-1/telemetry", '{"a":{"b":[1,2]}}', { qos: 1 });
  // SenML JSON: 1 event; CBOR example: 7 records at 6 distinct times (voltage and current at t=0 share one); number; json
  await waitFor("events", () => ctx.events.length >= n + 1 + 6 + 1 + 1);
  const evs = ctx.events.slice(n);
  assert.equal(evs[0]!.payload, { temp: 23.1, rh: 40 });
  assert.equal(evs[0]!.meta, { driver: "site", topic: "devices/dev-1/telemetry", format: "senml", bn: "dev-1:", "unit.temp": "Cel", "unit.rh": "%RH" });
  const cbor = evs.slice(1, 7);
  assert.equal(cbor.map((e) => e.ts), [1276020071001, 1276020072001, 1276020073001, 1276020074001, 1276020075001, 1276020076001]);
  assert.equal(cbor[5]!.payload, { voltage: 120.1, current: 1.7 });
  assert.equal(evs[7]!.payload, { value: -17.25 });
  assert.equal(evs[8]!.payload, { a: { b: [1, 2] } });
});

test("mosquitto_pub: JSON, SenML CBOR from stdin, number; wrong password refused", async () => {
  const n = ctx.events.length;
  const auth = ["-u", "dev-1", "-P", "one-secret"];
  assert.is((await mosquittoPub(port, "devices/dev-1/telemetry", '{"t":21.5}', auth)).code, 0);
  assert.is((await mosquittoPub(port, "devices/dev-1/telemetry", CBOR_EXAMPLE, auth)).code, 0);
  assert.is((await mosquittoPub(port, "devices/dev-1/alarm", "1", auth)).code, 0);
  await waitFor("events", () => ctx.events.length >= n + 1 + 6 + 1);
  const evs = ctx.events.slice(n);
  assert.equal(evs[0]!.payload, { t: 21.5 });
  assert.is(evs[7]!.kind, "alarm");
  const bad = await mosquittoPub(port, "devices/dev-1/telemetry", "1", ["-u", "dev-1", "-P", "wrong"]);
  assert.is.not(bad.code, 0);
});

test("garbage payloads are counted per device and dropped; the broker keeps serving", async () => {
  const c = await dev1();
  const before = ctx.count_(BAD_INPUT_METRIC, { reason: "malformed", device: "dev-1" });
  const n = ctx.events.length;
  const garbage = ["{not json", "[1,2", "[]", "[{\"n\":\"x\"}]", "abc", "", "{\"id\":5}", "\u0000\u0001"];
  for (const g of garbage) await c.publishAsync("devices/dev-1/telemetry", g, { qos: 1 });
  await c.publishAsync("devices/dev-1/telemetry", Buffer.from([0x9f, 0xa1, 0x00]), { qos: 1 });
  await c.publishAsync("devices/dev-1/telemetry", "7", { qos: 1 });
  await waitFor("the good one", () => ctx.events.length >= n + 1);
  assert.is(ctx.events.length, n + 1);
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "malformed", device: "dev-1" }) - before, garbage.length + 1);
  const warn = ctx.logs.find((l) => l.obj.reason === "malformed");
  assert.ok(warn, "logged");
  assert.is(warn!.obj.device, "dev-1");
  assert.ok(ctx.logs.filter((l) => l.obj.reason === "malformed").length < garbage.length, "rate-limited log");
});

test("an oversize packet closes that connection before it is buffered; others keep going", async () => {
  const c = await dev1();
  const other = await dev1();
  const before = ctx.count_(BAD_INPUT_METRIC, { reason: "oversize" });
  const closed = new Promise<void>((r) => c.once("close", () => r()));
  c.publish("devices/dev-1/telemetry", Buffer.alloc(10_000, 0x31), { qos: 0 });
  await closed;
  assert.is(ctx.count_(BAD_INPUT_METRIC, { reason: "oversize" }) - before, 1);
  const n = ctx.events.length;
  await other.publishAsync("devices/dev-1/telemetry", "3", { qos: 1 });
  await waitFor("event", () => ctx.events.length > n);
});

test("write() publishes to the device's command topic (MQTT.js and mosquitto_sub receive it)", async () => {
  const c = await dev1();
  await c.subscribeAsync("devices/dev-1/cmd/#", { qos: 1 });
  const got: [string, string][] = [];
  c.on("message", (t, p) => got.push([t, p.toString()]));
  await driver.write("dev-1", "valve", { open: true });
  await waitFor("command", () => got.length >= 1);
  assert.equal(got[0], ["devices/dev-1/cmd/valve", '{"open":true}']);
  let done = false;
  const sub = runCommand("mosquitto_sub", ["-h", "127.0.0.1", "-p", String(port), "-u", "dev-1", "-P", "one-secret", "-t", "devices/dev-1/cmd/#", "-C", "1", "-W", "10", "-v", "-q", "1"]).finally(() => (done = true));
  // repeat the write until the subscriber (started asynchronously) has its subscription in place
  await waitFor("mosquitto_sub got the command", async () => done || (await driver.write("dev-1", "valve", { open: true }), false), 10_000, 200);
  assert.is((await sub).out.trim(), 'devices/dev-1/cmd/valve {"open":true}');
  try {
    await driver.write("ghost", "x", 1);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "E_MQTT_UNKNOWN_DEVICE");
  }
});

test("TLS: a client certificate names the device; an untrusted certificate is refused", async () => {
  const tlsOpts = (cert: string, key: string) => ({ ca: readFileSync(certs.caFile), cert: readFileSync(cert), key: readFileSync(key), servername: "localhost" });
  const c = await connectMqtt(tlsUrl, tlsOpts(certs.clientCertFile, certs.clientKeyFile));
  clients.push(c);
  const n = ctx.events.length;
  await c.publishAsync("devices/device-1/telemetry", '{"v":1}', { qos: 1 });
  await waitFor("event", () => ctx.events.length > n);
  assert.is(ctx.events[n]!.device, "device-1");
  let refused = false;
  try {
    clients.push(await connectMqtt(tlsUrl, tlsOpts(certs.untrustedCertFile, certs.untrustedKeyFile)));
  } catch {
    refused = true;
  }
  assert.ok(refused);
});

test("backpressure: emit() → false stops reading that client until the pipeline drains", async () => {
  const c = await dev1();
  const n = ctx.events.length;
  ctx.backpressure = true;
  await c.publishAsync("devices/dev-1/telemetry", "1", { qos: 1 });
  await waitFor("first event", () => ctx.events.length >= n + 1);
  // aedes reads a socket batch by batch; with the first batch's callback held, nothing more is read
  const acks = [2, 3, 4].map((i) => c.publishAsync("devices/dev-1/telemetry", String(i), { qos: 1 }));
  await new Promise((r) => setTimeout(r, 200));
  assert.is(ctx.events.length, n + 1, "nothing more is read while the pipeline is full");
  ctx.release();
  await Promise.all(acks);
  await waitFor("all", () => ctx.events.length >= n + 4);
  assert.equal(ctx.events.slice(n).map((e) => e.payload.value), [1, 2, 3, 4]);
});

test.run();
