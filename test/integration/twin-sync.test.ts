/** Device twin through a real mosquitto: desired → Driver.write → reported; offline reported changes merged and sent on reconnect; commands. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import mqtt from "mqtt";
import { startMosquitto, type Mosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { collect, createUplink, makeParts, type Collector, type TestParts, type Uplink } from "../helpers/cloud.js";
import type { Driver } from "../../core/driver.js";
import { RidgeError } from "../../core/index.js";

let broker: Mosquitto;
let sub: Collector;
let pub: mqtt.MqttClient;
let up: Uplink;
let s: TestParts;
const writes: { device: string; point: string; value: unknown }[] = [];
const t = tempDir();

const bus: Driver = {
  name: "bus",
  async start() {},
  async stop() {},
  health: () => ({ up: true }),
  async write(device, point, value) {
    if (point === "limit" && typeof value === "number" && value > 100) throw new RidgeError("E_MODBUS_VALUE", `limit ${value} is above the register's 100`);
    writes.push({ device, point, value });
  },
};

test.before(async () => {
  broker = await startMosquitto({ persist: true, maxSeconds: 120 });
  sub = await collect(broker.url, "gw-twin");
  pub = mqtt.connect(broker.url, { reconnectPeriod: 100 });
  pub.on("error", () => {});
  await new Promise((r) => pub.once("connect", r));
  s = makeParts({
    dataDir: t.dir,
    config: { gateway: { id: "gw-twin" }, cloud: { mqtt: { url: broker.url, backoff: { base: 20, cap: 200 } } } },
    drivers: new Map([["bus", bus]]),
    devices: [{ id: "pump-3", driver: "bus", points: [{ name: "run", writable: true }, { name: "flow" }, { name: "limit", writable: true }] }],
  });
  up = await createUplink(s);
  await up.start();
  await waitFor("link up", () => up.link!.connected);
  await waitFor("twin/get asked on connect", () => sub.control.some((m) => m.topic === "ridge/gw-twin/twin/get"));
});

test.after(async () => {
  await up.stop();
  await pub.endAsync(true);
  await sub.close();
  s.db.close();
  await broker.cleanup();
  t.cleanup();
});

const reported = (device: string) => sub.control.filter((m) => m.topic === `ridge/gw-twin/twin/reported/${device}`).map((m) => JSON.parse(m.payload) as { version: number; state: Record<string, unknown>; versions: Record<string, number> });

test("a desired change while online is written to the device point and reported", async () => {
  await pub.publishAsync("ridge/gw-twin/down/twin/desired/pump-3", JSON.stringify({ version: 1, state: { run: true, label: "north" } }), { qos: 1 });
  await waitFor("reported run=true", () => reported("pump-3").some((r) => r.state.run === true));
  assert.equal(writes, [{ device: "pump-3", point: "run", value: true }], "only the writable point is written");
  assert.equal(up.twin && s.routes.match("GET", "/twin") !== undefined, true);
  const doc = (await s.routes.match("GET", "/twin")!({ query: new URLSearchParams("device=pump-3") } as never)).body as { desired: { version: number; state: Record<string, unknown> }; reported: { state: Record<string, unknown> } };
  assert.is(doc.desired.version, 1);
  assert.equal(doc.desired.state, { run: true, label: "north" });
  assert.equal(doc.reported.state, { run: true });
  // `label` is no point of pump-3: the cloud hears why it was not applied
  assert.equal((doc.reported as { rejected?: unknown }).rejected, { label: { code: "E_CMD_NOT_WRITABLE", reason: '"label" is not a writable point of pump-3 in the config', desiredVersion: 1 } });
  await waitFor("the rejection reported", () => reported("pump-3").some((r) => (r as { rejected?: Record<string, unknown> }).rejected?.label !== undefined));
});

test("a stale desired version is ignored (cloud wins only with a newer version)", async () => {
  await pub.publishAsync("ridge/gw-twin/down/twin/desired/pump-3", JSON.stringify({ version: 1, state: { run: false } }), { qos: 1 });
  await pub.publishAsync("ridge/gw-twin/down/twin/snapshot", JSON.stringify({ devices: { "pump-3": { version: 2, state: { run: true, label: "south" } } } }), { qos: 1 });
  await waitFor("snapshot applied", async () => ((await s.routes.match("GET", "/twin")!({ query: new URLSearchParams("device=pump-3") } as never)).body as { desired: { version: number } }).desired.version === 2);
  assert.equal(writes.length, 1, "run did not change, so nothing was written");
});

test("a desired value the device refuses (out of range) is reported to the cloud with its reason; a later good value clears it", async () => {
  await pub.publishAsync("ridge/gw-twin/down/twin/desired/pump-3", JSON.stringify({ version: 5, state: { limit: 500 } }), { qos: 1 });
  const rejectedLimit = () => reported("pump-3").map((r) => (r as { rejected?: Record<string, { code: string; reason: string; desiredVersion: number } | null> }).rejected?.limit).filter((x) => x !== undefined);
  await waitFor("the rejection on twin/reported", () => rejectedLimit().some((x) => x?.code === "E_MODBUS_VALUE")).catch((e) => { throw new Error(`${e}: ${JSON.stringify(reported("pump-3"))} writes ${JSON.stringify(writes)}`); });
  assert.equal(rejectedLimit().find((x) => x?.code === "E_MODBUS_VALUE"), { code: "E_MODBUS_VALUE", reason: "limit 500 is above the register's 100", desiredVersion: 5 });
  await pub.publishAsync("ridge/gw-twin/down/twin/desired/pump-3", JSON.stringify({ version: 6, state: { limit: 50 } }), { qos: 1 });
  await waitFor("applied and the rejection cleared", () => reported("pump-3").some((r) => r.state.limit === 50 && (r as { rejected?: Record<string, unknown> }).rejected?.limit === null));
  assert.equal(writes[writes.length - 1], { device: "pump-3", point: "limit", value: 50 });
});

test("reported changes made offline arrive merged, with versions, after reconnect", async () => {
  await broker.stop();
  await waitFor("link down", () => !up.link!.connected);
  const sink = up.sink;
  await sink.accept([{ id: "pump-3/s1", ts: 1, device: "pump-3", kind: "state", payload: { flow: 10, temp: 4 } }]);
  await sink.accept([{ id: "pump-3/s2", ts: 2, device: "pump-3", kind: "state", payload: { flow: 12 } }]);
  const before = reported("pump-3").length;
  await broker.restart();
  await waitFor("reported after reconnect", () => reported("pump-3").length > before && reported("pump-3").some((r) => r.state.flow === 12), 15_000);
  const last = reported("pump-3").find((r) => r.state.flow === 12)!;
  assert.equal(last.state, { flow: 12, temp: 4 }, "latest value per key");
  assert.ok(last.versions.flow! > last.versions.temp!, "each key carries the version it changed at");
  assert.is(last.version, last.versions.flow);
  // the state events themselves also went up as events
  await waitFor("state events delivered", () => sub.ids.has("pump-3/s2"), 10_000);
  // and the gateway asked for the desired state it may have missed
  assert.ok(sub.control.filter((m) => m.topic === "ridge/gw-twin/twin/get").length >= 2);
});

test("commands: written through the driver and answered; a non-writable point is refused with a code", async () => {
  await waitFor("link up", () => up.link!.connected, 10_000);
  await pub.publishAsync("ridge/gw-twin/down/cmd/pump-3/run", JSON.stringify({ id: "c-1", value: false }), { qos: 1 });
  await pub.publishAsync("ridge/gw-twin/down/cmd/pump-3/flow", JSON.stringify({ id: "c-2", value: 5 }), { qos: 1 });
  await waitFor("two results", () => sub.control.filter((m) => m.topic === "ridge/gw-twin/cmd/result").length >= 2);
  const results = sub.control.filter((m) => m.topic === "ridge/gw-twin/cmd/result").map((m) => JSON.parse(m.payload) as { id: string; ok: boolean; code?: string });
  assert.equal(results.find((r) => r.id === "c-1"), { id: "c-1", device: "pump-3", point: "run", ok: true });
  assert.is(results.find((r) => r.id === "c-2")?.code, "E_CMD_NOT_WRITABLE");
  assert.equal(writes[writes.length - 1], { device: "pump-3", point: "run", value: false });
});

test.run();
