// Issue 18 item 8: desired twin changes for MQTT devices are delivered — the whole document,
// retained, on the device's desired topic (devices/<id>/desired) — and the device's reported
// state comes back to the cloud. Through `ridge run` (embedded broker), a cloud mosquitto, and
// mqtt.js clients as the device and the cloud.
import { test } from "uvu";
import * as assert from "uvu/assert";
import mqtt from "mqtt";
import { join } from "node:path";
import { startMosquitto } from "../../peers/mosquitto.js";
import { freeTcpPort, tempDir, waitFor } from "../../peers/process.js";
import { startGateway } from "../helpers/gateway.js";

async function client(url: string, id: string): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(url, { clientId: id, reconnectPeriod: 0 });
  await new Promise<void>((res, rej) => c.once("connect", () => res()).once("error", rej));
  return c;
}

test("desired → the device's retained desired topic (a device that connects later gets it too); the device's state → twin/reported", async () => {
  const t = tempDir("ridge-mqtt-twin-");
  const cloud = await startMosquitto({ maxSeconds: 120 });
  const port = await freeTcpPort();
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  const clients: mqtt.MqttClient[] = [];
  try {
    const ops = await client(cloud.url, "ops");
    clients.push(ops);
    const reported: { state: Record<string, unknown>; rejected?: Record<string, unknown> }[] = [];
    ops.on("message", (topic, m) => {
      if (topic === "ridge/twin-gw/twin/reported/lamp-1") reported.push(JSON.parse(m.toString()));
    });
    await ops.subscribeAsync("ridge/twin-gw/twin/reported/+", { qos: 1 });
    gw = await startGateway({
      dataDir: join(t.dir, "data"),
      config: `gateway: { id: twin-gw }
board: sim
drivers:
  - mqtt: { name: site, listen: "127.0.0.1:${port}", allowAnonymous: true }
devices:
  - { id: lamp-1, driver: site }
attest: { tpm: off }
cloud:
  mqtt: { url: "${cloud.url}" }
pipeline:
  sources: { dev: { from: site } }
  sinks: { cloud: { uplink: {}, input: dev } }
`,
    });
    const lamp = await client(`mqtt://127.0.0.1:${port}`, "lamp-1");
    clients.push(lamp);
    const got: { version: number; state: Record<string, unknown> }[] = [];
    lamp.on("message", (topic, m) => topic === "devices/lamp-1/desired" && got.push(JSON.parse(m.toString())));
    await lamp.subscribeAsync("devices/lamp-1/desired", { qos: 1 });
    // retained: the gateway gets it whenever its link comes up
    await ops.publishAsync("ridge/twin-gw/down/twin/desired/lamp-1", JSON.stringify({ version: 3, state: { brightness: 40, mode: "eco" } }), { qos: 1, retain: true });
    await waitFor("the lamp got its desired document", () => (got.length > 0 ? true : undefined), 20_000, 100);
    assert.equal(got[got.length - 1], { version: 3, state: { brightness: 40, mode: "eco" } });
    // a change merges into the whole document
    await ops.publishAsync("ridge/twin-gw/down/twin/desired/lamp-1", JSON.stringify({ version: 4, state: { brightness: 70 } }), { qos: 1 });
    await waitFor("version 4 delivered", () => (got.some((g) => g.version === 4) ? true : undefined), 20_000, 100);
    assert.equal(got.find((g) => g.version === 4), { version: 4, state: { brightness: 70, mode: "eco" } });
    // a device that connects later gets the retained document
    const late = await client(`mqtt://127.0.0.1:${port}`, "lamp-1-late");
    clients.push(late);
    const lateGot: unknown[] = [];
    late.on("message", (_t, m) => lateGot.push(JSON.parse(m.toString())));
    await late.subscribeAsync("devices/lamp-1/desired", { qos: 1 });
    await waitFor("the retained document", () => (lateGot.length > 0 ? true : undefined), 10_000, 100);
    assert.equal(lateGot[0], { version: 4, state: { brightness: 70, mode: "eco" } });
    // the lamp applies it and says so: the cloud hears the reported state
    await lamp.publishAsync("devices/lamp-1/state", JSON.stringify({ brightness: 70, mode: "eco" }), { qos: 1 });
    await waitFor("reported back", () => (reported.some((r) => r.state.brightness === 70) ? true : undefined), 20_000, 100);
    assert.ok(reported.every((r) => r.rejected === undefined), JSON.stringify(reported));
  } finally {
    for (const c of clients) c.end(true);
    await gw?.stop();
    await cloud.stop();
    t.cleanup();
  }
});

test.run();
