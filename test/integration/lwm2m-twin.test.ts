/**
 * Issue 18 item 9 end to end through the runtime's twin and command sync (runtime/cloud/twin-sync.ts,
 * used as it is): a desired twin key that names a configured LwM2M point is written to its
 * resource, and `cmd/<dev>/<point>` with `{"value": {"op": "execute"}}` is an Execute. Against
 * the test LwM2M client in its own process.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Lwm2mDriver, lwm2mDriverConfig, lwm2mDeviceConfig } from "../../drivers/lwm2m/index.js";
import { TwinSync, createDownlinkRegistry } from "../../runtime/cloud/index.js";
import { TwinStore, openDatabase } from "../../runtime/store/index.js";
import type { GatewayConfig } from "../../runtime/config/schema.js";
import { systemClock } from "../../core/clock.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { recordingContext, startLwm2mClient, type TestLwm2mClient } from "../helpers/lwm2m-client.js";

const data = tempDir("ridge-lwm2m-twin-");
const { ctx } = recordingContext(data.dir);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
let driver: Lwm2mDriver;
let c: TestLwm2mClient;
let plain: TestLwm2mClient;
const published: [string, string][] = [];
const downlink = createDownlinkRegistry();
let db: ReturnType<typeof openDatabase> | undefined;

const device = {
  id: "thermo-1",
  driver: "field",
  endpoint: "urn:dev:thermo-1",
  points: [
    { name: "lamp", path: "/3311/0/5850", writable: true },
    { name: "reboot", path: "/3/0/4" },
  ],
};

/** no points listed: commands name LwM2M paths (`cmd/plain-1//3/0/4`) */
const plainDevice = { id: "plain-1", driver: "field", endpoint: "urn:dev:plain-1" };

test.before(async () => {
  driver = new Lwm2mDriver(lwm2mDriverConfig.parse({ name: "field", listen: "127.0.0.1:0", requestTimeout: "3s" }), [lwm2mDeviceConfig.parse(device), lwm2mDeviceConfig.parse(plainDevice)]);
  await driver.start(ctx);
  c = await startLwm2mClient({ server: `127.0.0.1:${driver.lwm2m.address().port}`, endpoint: "urn:dev:thermo-1" });
  c.send({ cmd: "register" });
  await c.waitEvent("registered", (e) => e.event === "registered");
  plain = await startLwm2mClient({ server: `127.0.0.1:${driver.lwm2m.address().port}`, endpoint: "urn:dev:plain-1" });
  plain.send({ cmd: "register" });
  await plain.waitEvent("registered", (e) => e.event === "registered");
  db = openDatabase(`${data.dir}/gw`);
  const sync = new TwinSync({
    store: new TwinStore(db, systemClock),
    config: { devices: [device, plainDevice] } as unknown as GatewayConfig,
    drivers: new Map([["field", driver]]),
    log: silent,
    clock: systemClock,
    gatewayId: "gw-1",
    publish: async (suffix, payload) => (published.push([suffix, payload]), true),
  });
  sync.register(downlink);
});

test.after(async () => {
  await c?.stop();
  await plain?.stop();
  await driver?.stop().catch(() => {});
  db?.close();
  data.cleanup();
});

test("a desired twin key naming a configured point is written to its LwM2M resource and reported", async () => {
  await downlink.dispatch("twin/desired/thermo-1", Buffer.from(JSON.stringify({ version: 1, state: { lamp: true } })));
  await c.waitEvent("lamp written", (e) => e.event === "written" && e.path === "/3311/0/5850");
  const rep = await waitFor("reported lamp", () => published.find(([s, p]) => s === "twin/reported/thermo-1" && JSON.parse(p).state?.lamp === true));
  assert.ok(rep);
});

test("cmd/<dev>/<point> with an explicit op is an Execute", async () => {
  await downlink.dispatch("cmd/thermo-1/reboot", Buffer.from(JSON.stringify({ id: "c-1", value: { op: "execute" } })));
  await c.waitEvent("executed", (e) => e.event === "executed" && e.path === "/3/0/4");
  const r = await waitFor("cmd result", () => published.find(([s, p]) => s === "cmd/result" && JSON.parse(p).id === "c-1"));
  assert.is(JSON.parse(r[1]).ok, true, r[1]);
});

test("cmd/<dev>//3/0/4 (a path as the point, no points listed) with op execute: an Execute, not a Write answered 4.05", async () => {
  await downlink.dispatch("cmd/plain-1//3/0/4", Buffer.from(JSON.stringify({ id: "c-2", value: { op: "execute" } })));
  await plain.waitEvent("executed", (e) => e.event === "executed" && e.path === "/3/0/4");
  const r = await waitFor("cmd result", () => published.find(([s, p]) => s === "cmd/result" && JSON.parse(p).id === "c-2"));
  assert.is(JSON.parse(r[1]).ok, true, r[1]);
  assert.not.ok(plain.events.some((e) => e.event === "written" && e.path === "/3/0/4"));
});

test.run();
