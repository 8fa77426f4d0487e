/**
 * Issue 18 item 9 at the driver: commands with an explicit operation reach Execute, Read,
 * Discover, Write-Attributes, Observe and Cancel on an LwM2M device (before, `cmd/<dev>//3/0/4`
 * became a Write answered 4.05), and configured points map twin keys to resources. Against the
 * test client in its own process.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Lwm2mDriver, lwm2mDriverConfig, lwm2mDeviceConfig } from "../../drivers/lwm2m/index.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { recordingContext, startLwm2mClient, type TestLwm2mClient } from "../helpers/lwm2m-client.js";

const data = tempDir("ridge-lwm2m-cmd-");
const { ctx, events } = recordingContext(data.dir);
let driver: Lwm2mDriver;
let c: TestLwm2mClient;

test.before(async () => {
  driver = new Lwm2mDriver(lwm2mDriverConfig.parse({ name: "field", listen: "127.0.0.1:0", requestTimeout: "3s" }), [
    lwm2mDeviceConfig.parse({
      id: "thermo-1",
      driver: "field",
      endpoint: "urn:dev:thermo-1",
      points: [
        { name: "lamp", path: "/3311/0/5850", writable: true },
        { name: "reboot", path: "/3/0/4" },
      ],
    }),
  ]);
  await driver.start(ctx);
  c = await startLwm2mClient({ server: `127.0.0.1:${driver.lwm2m.address().port}`, endpoint: "urn:dev:thermo-1" });
  c.send({ cmd: "register" });
  await c.waitEvent("registered", (e) => e.event === "registered");
  await waitFor("online", () => events.find((e) => e.kind === "state" && e.payload.online === true));
});

test.after(async () => {
  await c?.stop();
  await driver?.stop().catch(() => {});
  data.cleanup();
});

test("execute: a command with op execute on a path (cmd/<dev>//3/0/4) is an Execute, not a Write", async () => {
  await driver.write("thermo-1", "/3/0/4", { op: "execute" });
  await c.waitEvent("executed /3/0/4", (e) => e.event === "executed" && e.path === "/3/0/4");
  // by configured point name, with arguments
  await driver.write("thermo-1", "reboot", { op: "execute", args: "5" });
  await c.waitEvent("executed with args", (e) => e.event === "executed" && e.args === "5");
  assert.not.ok(c.events.some((e) => e.event === "written" && e.path === "/3/0/4"));
});

test("read: values come back from command() and as a telemetry event", async () => {
  const r = await driver.command("thermo-1", "", { op: "read", path: "/3303/0/5700" });
  assert.equal(r.values, { "/3303/0/5700": 21.5 });
  const ev = await waitFor("read event", () => events.find((e) => e.kind === "telemetry" && e.meta?.path === "/3303/0/5700"));
  assert.is(ev.payload.temperature, 21.5);
});

test("discover and write-attributes", async () => {
  await driver.command("thermo-1", "/3303/0/5700", { op: "write-attributes", attributes: { pmin: 2, pmax: 30 } });
  await c.waitEvent("attributes", (e) => e.event === "attributes" && e.path === "/3303/0/5700");
  const d = await driver.command("thermo-1", "", { op: "discover", path: "/3303/0" });
  assert.ok(d.links?.some((l) => l.target === "/3303/0/5700" && l.attrs.pmin === "2"), JSON.stringify(d.links));
});

test("observe and cancel by command", async () => {
  await driver.command("thermo-1", "/3304/0/5700", { op: "observe" });
  c.send({ cmd: "set", path: "/3304/0/5700", value: 55 });
  await waitFor("humidity notification", () => events.find((e) => e.meta?.path === "/3304/0/5700" && Object.values(e.payload).includes(55)));
  await driver.command("thermo-1", "/3304/0/5700", { op: "cancel" });
  await c.waitEvent("observe cancelled", (e) => e.event === "observe-cancelled" && e.path === "/3304/0/5700");
});

test("write: a configured point name maps to its resource (the twin key 'lamp'); op write works too", async () => {
  await driver.write("thermo-1", "lamp", true);
  await c.waitEvent("lamp written", (e) => e.event === "written" && e.path === "/3311/0/5850");
  await driver.write("thermo-1", "/3311/0/5851", { op: "write", value: 30 });
  await c.waitEvent("dimmer written", (e) => e.event === "written" && e.path === "/3311/0/5851");
});

test("bad commands are refused with E_LWM2M_COMMAND before anything is sent", async () => {
  const before = c.events.filter((e) => e.event === "request").length;
  for (const bad of [{ op: "reboot" }, { op: "execute", path: "3/0/4" }, { op: "write" }, { op: "read", extra: 1 }]) {
    try {
      await driver.command("thermo-1", "", bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (e) {
      assert.is((e as { code?: string }).code, "E_LWM2M_COMMAND", JSON.stringify(bad));
    }
  }
  try {
    await driver.command("thermo-1", "", { op: "read" });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code?: string }).code, "E_LWM2M_COMMAND");
  }
  assert.is(c.events.filter((e) => e.event === "request").length, before);
});

test.run();
