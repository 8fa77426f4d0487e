/**
 * The LwM2M driver against the test client in its own process on its own UDP port: register,
 * read/write/execute/discover/write-attributes/create/delete, observe → named events, update,
 * de-register, lifetime expiry, restart with persisted registrations.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Lwm2mDriver, lwm2mDriverConfig, lwm2mDeviceConfig } from "../../drivers/lwm2m/index.js";
import { ContentFormat } from "../../drivers/lwm2m/content-format.js";
import { freeUdpPort, tempDir, waitFor } from "../../peers/process.js";
import { recordingContext, startLwm2mClient, type TestLwm2mClient } from "../helpers/lwm2m-client.js";

const data = tempDir("ridge-lwm2m-");
const { ctx, events } = recordingContext(data.dir);

let port = 0;
let driver: Lwm2mDriver;
const clients: TestLwm2mClient[] = [];

function makeDriver(): Lwm2mDriver {
  const config = lwm2mDriverConfig.parse({
    name: "field",
    listen: `127.0.0.1:${port}`,
    requestTimeout: "3s",
    limits: { minLifetime: "1s" },
    deviceTypes: { thermo: { observe: ["/3303/0/5700", "/3/0/9"], attributes: { pmin: 1, pmax: 60 } } },
  });
  const devices = [lwm2mDeviceConfig.parse({ id: "thermo-1", driver: "field", endpoint: "urn:dev:thermo-1", type: "thermo" })];
  return new Lwm2mDriver(config, devices);
}

test.before(async () => {
  port = await freeUdpPort();
  driver = makeDriver();
  await driver.start(ctx);
});

test.after(async () => {
  for (const c of clients) await c.stop();
  await driver.stop().catch(() => {});
  data.cleanup();
});

test("register: a client in another process registers; a state event and observations follow", async () => {
  const c = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "urn:dev:thermo-1", lifetime: 60 });
  clients.push(c);
  c.send({ cmd: "register" });
  const reg = await c.waitEvent("registered", (e) => e.event === "registered");
  assert.match(String(reg.location), /^\/rd\/[0-9a-f]+$/);
  const online = await waitFor("online event", () => events.find((e) => e.kind === "state" && e.device === "thermo-1" && e.payload.online === true));
  assert.equal(online.payload.objects, ["/3/0", "/3303/0", "/3304/0", "/3311/0", "/5/0"]);
  // Write-Attributes then Observe, both from the server's registered port
  await c.waitEvent("attributes", (e) => e.event === "attributes" && e.path === "/3303/0/5700");
  const first = await waitFor("first temperature event", () => events.find((e) => e.kind === "telemetry" && e.payload.temperature === 21.5));
  assert.is(first.device, "thermo-1");
  assert.is(first.meta?.path, "/3303/0/5700");
  await waitFor("battery event", () => events.find((e) => e.kind === "telemetry" && e.payload.batteryLevel === 87));
  const requests = await waitFor("requests reported", () => {
    const r = c.events.filter((e) => e.event === "request");
    return r.length >= 4 ? r : undefined;
  });
  for (const r of requests) assert.is(r.port, port, "every request comes from the registered server port");
});

test("observe: notifications become events with named fields", async () => {
  const c = clients[0]!;
  c.send({ cmd: "set", path: "/3303/0/5700", value: 23.25 });
  const ev = await waitFor("notification event", () => events.find((e) => e.kind === "telemetry" && e.payload.temperature === 23.25));
  assert.is(ev.device, "thermo-1");
  assert.ok(ev.id.startsWith("thermo-1/"));
});

test("read in every content format the client speaks", async () => {
  const s = driver.lwm2m;
  const dev = await s.read("urn:dev:thermo-1", "/3/0");
  const byPath = new Map(dev.map((v) => [v.path, v.value]));
  assert.is(byPath.get("/3/0/0"), "Ridgeline Test");
  assert.is(byPath.get("/3/0/9"), 87);
  for (const accept of [ContentFormat.tlv, ContentFormat.senmlJson, ContentFormat.senmlCbor, ContentFormat.lwm2mJson]) {
    const v = await s.read("urn:dev:thermo-1", "/3303/0", { accept });
    assert.equal(v.find((x) => x.path === "/3303/0/5700")?.value, 23.25, `format ${accept}`);
  }
  const single = await s.read("urn:dev:thermo-1", "/3/0/1", { accept: ContentFormat.text });
  assert.equal(single, [{ path: "/3/0/1", value: "T-1000" }]);
});

test("write (replace and partial), execute, discover, create, delete", async () => {
  const s = driver.lwm2m;
  const c = clients[0]!;
  await driver.write("thermo-1", "light", true);
  await c.waitEvent("light write", (e) => e.event === "written" && e.path === "/3311/0/5850");
  assert.equal((await s.read("urn:dev:thermo-1", "/3311/0/5850"))[0]?.value, true);
  // partial update of an instance: format chosen from the client's ct list (SenML CBOR first)
  await s.write("urn:dev:thermo-1", "/3311/0", [{ path: "/3311/0/5851", value: 40 }], { partial: true });
  const w = await c.waitEvent("partial write", (e) => e.event === "written" && e.path === "/3311/0");
  assert.is(w.format, ContentFormat.senmlCbor);
  await s.write("urn:dev:thermo-1", "/3311/0", [{ path: "/3311/0/5850", value: false }, { path: "/3311/0/5851", value: 10 }], { format: ContentFormat.tlv });
  await c.waitEvent("TLV replace", (e) => e.event === "written" && e.format === ContentFormat.tlv);
  await s.execute("urn:dev:thermo-1", "/3/0/4", "5");
  await c.waitEvent("execute", (e) => e.event === "executed" && e.path === "/3/0/4");
  const links = await s.discover("urn:dev:thermo-1", "/3303/0");
  assert.ok(links.some((l) => l.target === "/3303/0/5700" && l.attrs.pmin === "1"));
  await s.create("urn:dev:thermo-1", "/3303", [{ path: "/3303/0/5700", value: 5 }]);
  await c.waitEvent("create", (e) => e.event === "created" && e.path === "/3303/1");
  assert.equal((await s.read("urn:dev:thermo-1", "/3303/1/5700"))[0]?.value, 5);
  await s.delete("urn:dev:thermo-1", "/3303/1");
  await c.waitEvent("delete", (e) => e.event === "deleted");
  try {
    await s.read("urn:dev:thermo-1", "/3303/1/5700");
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "E_LWM2M_RESPONSE");
  }
});

test("block-wise both ways (RFC 7959): a 3 kB write goes out in Block1, a 3 kB read comes back in Block2", async () => {
  const s = driver.lwm2m;
  const c = clients[0]!;
  const big = "x".repeat(3000);
  await s.write("urn:dev:thermo-1", "/3/0/15", [{ path: "/3/0/15", value: big }]);
  const w = await c.waitEvent("big write", (e) => e.event === "written" && e.path === "/3/0/15");
  assert.is(((w.values as [string, string][])[0]![1]).length, 3000);
  const back = await s.read("urn:dev:thermo-1", "/3/0/15");
  assert.is(back[0]?.value, big);
});

test("cancel observation reaches the client", async () => {
  const c = clients[0]!;
  const o = await driver.lwm2m.observe("urn:dev:thermo-1", "/3304/0/5700", () => {});
  o.cancel();
  await c.waitEvent("observe cancelled", (e) => e.event === "observe-cancelled" && e.path === "/3304/0/5700");
});

test("update and de-register", async () => {
  const c = clients[0]!;
  c.send({ cmd: "update", lt: 120 });
  const u = await c.waitEvent("update", (e) => e.event === "update");
  assert.is(u.code, "2.04");
  assert.is(driver.lwm2m.registrations.byEndpoint("urn:dev:thermo-1")?.lifetime, 120);
  c.send({ cmd: "deregister" });
  const d = await c.waitEvent("deregistered", (e) => e.event === "deregistered");
  assert.is(d.code, "2.02");
  const off = await waitFor("offline event", () => events.find((e) => e.kind === "state" && e.payload.online === false && e.payload.reason === "deregistered"));
  assert.is(off.device, "thermo-1");
  try {
    await driver.lwm2m.read("urn:dev:thermo-1", "/3/0");
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, "E_LWM2M_NOT_REGISTERED");
  }
});

test("lifetime lapses: device marked offline, event emitted; an Update afterwards gets 4.04", async () => {
  const c = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "short-lived", lifetime: 1 });
  clients.push(c);
  c.send({ cmd: "register" });
  await c.waitEvent("registered", (e) => e.event === "registered");
  const off = await waitFor("lifetime offline", () => events.find((e) => e.device === "short-lived" && e.payload.online === false && e.payload.reason === "lifetime"), 8000);
  assert.ok(off);
  c.send({ cmd: "update" });
  const u = await c.waitEvent("late update", (e) => e.event === "update");
  assert.is(u.code, "4.04");
  await c.stop();
});

test("gateway restart: registrations persist and observations come back", async () => {
  const c = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "urn:dev:thermo-1", lifetime: 60 });
  clients.push(c);
  c.send({ cmd: "register" });
  await c.waitEvent("registered", (e) => e.event === "registered");
  await waitFor("observing", () => driver.lwm2m.observing().length >= 2 || undefined);
  await driver.stop();
  events.length = 0;
  driver = makeDriver();
  await driver.start(ctx);
  const restored = await waitFor("restored online", () => events.find((e) => e.kind === "state" && e.payload.online === true && e.payload.how === "restore"));
  assert.is(restored.device, "thermo-1");
  const v = await driver.lwm2m.read("urn:dev:thermo-1", "/3/0/1");
  assert.equal(v[0]?.value, "T-1000");
  c.send({ cmd: "set", path: "/3303/0/5700", value: 30 });
  await waitFor("notification after restart", () => events.find((e) => e.kind === "telemetry" && e.payload.temperature === 30));
});

test.run();
