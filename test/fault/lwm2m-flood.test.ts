/**
 * Registration flood: 10,000 bogus registrations from one socket. Memory stays bounded (cap on
 * unknown endpoints, rate limit), rejections are counted, the process does not crash, and a
 * configured device is still served, during and after the flood.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createSocket } from "node:dgram";
import { Lwm2mDriver, lwm2mDriverConfig, lwm2mDeviceConfig } from "../../drivers/lwm2m/index.js";
import { decodeCoapMessage, codeString } from "../../codecs/index.js";
import { freeUdpPort, tempDir, waitFor } from "../../peers/process.js";
import { recordingContext, startLwm2mClient, type TestLwm2mClient } from "../helpers/lwm2m-client.js";
import { registerDatagram } from "../../peers/lwm2m-register.js";

const data = tempDir("ridge-lwm2m-flood-");
const { ctx, counts } = recordingContext(data.dir);
let port = 0;
let driver: Lwm2mDriver;
let legit: TestLwm2mClient;
const MAX_UNKNOWN = 500;

test.before(async () => {
  port = await freeUdpPort();
  driver = new Lwm2mDriver(
    lwm2mDriverConfig.parse({ name: "field", listen: `127.0.0.1:${port}`, requestTimeout: "3s", limits: { maxUnknown: MAX_UNKNOWN, registrationsPerSecond: 200, burst: 200 } }),
    [lwm2mDeviceConfig.parse({ id: "legit", driver: "field", endpoint: "legit-ep" }), lwm2mDeviceConfig.parse({ id: "late", driver: "field", endpoint: "late-ep" })],
  );
  await driver.start(ctx);
  legit = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "legit-ep", lifetime: 120 });
  legit.send({ cmd: "register" });
  await legit.waitEvent("registered", (e) => e.event === "registered");
});

test.after(async () => {
  await legit.stop();
  await driver.stop();
  data.cleanup();
});

test("10,000 bogus registrations: bounded, counted, legitimate device still served", async () => {
  if (global.gc) global.gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const s = createSocket("udp4");
  s.unref();
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const replies = new Map<string, number>();
  s.on("message", (m) => {
    const d = decodeCoapMessage(m);
    if (d.ok) replies.set(codeString(d.value.code), (replies.get(codeString(d.value.code)) ?? 0) + 1);
  });
  const N = 10_000;
  let readsOk = 0;
  for (let i = 0; i < N; i++) {
    const msg = registerDatagram(`bogus-${i}`, i, 86400, "</3/0>,</3303/0>");
    s.send(msg, port, "127.0.0.1");
    if (i % 100 === 99) {
      await new Promise((r) => setTimeout(r, 10));
      if (i % 2500 === 2499) {
        // the configured device is served in the middle of the flood
        const v = await driver.lwm2m.read("legit-ep", "/3/0/1");
        if (v[0]?.value === "T-1000") readsOk++;
      }
    }
  }
  // wait until the server is quiet (datagrams the kernel dropped under the flood never arrive)
  let last = -1;
  await waitFor("flood processed", async () => {
    const now = driver.lwm2m.stats.requests;
    const quiet = now === last;
    last = now;
    await new Promise((r) => setTimeout(r, 300));
    return quiet ? true : undefined;
  }, 30_000);
  const stats = driver.lwm2m.stats;
  assert.ok(stats.requests >= N * 0.3, `server processed ${stats.requests} of ${N}`);
  // every processed bogus registration was either admitted (up to the cap) or rejected and answered
  assert.is(stats.registrations + stats.rejected, stats.requests);
  s.close();
  const st = driver.status() as { unknownRegistered: number; registered: number; rejected: { rate: number; cap: number } };
  assert.ok(st.unknownRegistered <= MAX_UNKNOWN, `unknown ${st.unknownRegistered}`);
  assert.ok(st.registered <= MAX_UNKNOWN + 2);
  assert.is(st.rejected.rate + st.rejected.cap, stats.rejected);
  assert.ok(stats.rejected >= stats.requests - MAX_UNKNOWN - 10, JSON.stringify(st.rejected));
  assert.ok((replies.get("4.29") ?? 0) + (replies.get("5.03") ?? 0) > 0);
  assert.ok((counts.get("lwm2m_registrations_rejected_total{E_LWM2M_RATE_LIMITED}") ?? 0) + (counts.get("lwm2m_registrations_rejected_total{E_LWM2M_REGISTRATION_CAP}") ?? 0) > 0);
  assert.is(readsOk, 4);
  // the legitimate device is still served after the flood
  assert.equal((await driver.lwm2m.read("legit-ep", "/3/0/1"))[0]?.value, "T-1000");
  // a configured device registering after the flood is admitted despite the full cap
  const late = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "late-ep", lifetime: 60 });
  late.send({ cmd: "register" });
  const r = await late.waitEvent("late registered", (e) => e.event === "registered" || e.event === "register-failed");
  await late.stop();
  assert.is(r.event, "registered");
  if (global.gc) global.gc();
  const growth = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  assert.ok(growth < 96, `heap grew ${growth.toFixed(1)} MiB`);
});

test.run();
