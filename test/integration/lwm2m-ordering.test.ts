/**
 * Issue 18 item 10 on the wire: the server answers Register (2.01) before it sends any request
 * to that client, checked with a client that, like Eclipse Wakaama, drops requests until its
 * Register is acknowledged and records the order of what it receives: no request is dropped and
 * none had to be retransmitted. After a gateway restart, a client re-registering while the
 * restored observations are in flight gets its 2.01 first and no "observe failed" is logged.
 * IPv6 listeners (`[::1]:PORT`, dual-stack `[::]:PORT`) and LwM2M 1.1 Send (`/dp`).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Lwm2mDriver, lwm2mDriverConfig, lwm2mDeviceConfig } from "../../drivers/lwm2m/index.js";
import { encodeSenmlCbor } from "../../codecs/index.js";
import { freeUdpPort, tempDir, waitFor } from "../../peers/process.js";
import { recordingContext } from "../helpers/lwm2m-client.js";
import { startStrictClient, type StrictClient } from "../helpers/lwm2m-strict-client.js";
import type { DriverContext } from "../../core/driver.js";

const data = tempDir("ridge-lwm2m-order-");
const clients: StrictClient[] = [];
const drivers: Lwm2mDriver[] = [];

function withWarnings(dir: string) {
  const r = recordingContext(dir);
  const warnings: string[] = [];
  const ctx: DriverContext = { ...r.ctx, log: { debug() {}, info() {}, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)), error: (_o: unknown, msg?: string) => void warnings.push(String(msg)) } };
  return { ...r, ctx, warnings };
}

async function startDriver(listen: string, ctx: DriverContext): Promise<Lwm2mDriver> {
  const config = lwm2mDriverConfig.parse({
    name: "field",
    listen,
    requestTimeout: "8s",
    deviceTypes: { thermo: { observe: ["/3303/0/5700", "/3/0/9"], attributes: { pmin: 1, pmax: 60 } } },
    defaultType: "thermo",
  });
  const d = new Lwm2mDriver(config, [lwm2mDeviceConfig.parse({ id: "thermo-1", driver: "field", endpoint: "urn:dev:thermo-1", type: "thermo" })]);
  await d.start(ctx);
  drivers.push(d);
  return d;
}

async function client(server: { host: string; port: number }, endpoint: string): Promise<StrictClient> {
  const c = await startStrictClient({ server, endpoint });
  clients.push(c);
  return c;
}

/** Observed both paths: Write-Attributes + Observe per path, four requests, all answered. */
const observedBoth = (c: StrictClient) => c.answered.filter((a) => a.startsWith("0.01")).length >= 2 && c.answered.length >= 4;

test.after(async () => {
  for (const c of clients) await c.close();
  for (const d of drivers) await d.stop().catch(() => {});
  data.cleanup();
});

test("Register is answered before any request; a Wakaama-like client needs no retransmission", async () => {
  const { ctx, events, counts, warnings } = withWarnings(`${data.dir}/a`);
  const d = await startDriver("127.0.0.1:0", ctx);
  const c = await client({ host: "127.0.0.1", port: d.lwm2m.address().port }, "urn:dev:thermo-1");
  await c.register();
  await waitFor("both paths observed", () => observedBoth(c));
  await waitFor("temperature event", () => events.find((e) => e.kind === "telemetry" && e.payload.temperature === 21.5));
  await waitFor("battery event", () => events.find((e) => e.kind === "telemetry" && e.payload.batteryLevel === 87));
  assert.is(c.received[0]?.type, "ACK");
  assert.is(c.received[0]?.code, "2.01", "the first thing the client receives is the answer to its Register");
  assert.equal(c.received.filter((r) => r.ignored), [], "no request arrived before the 2.01");
  assert.equal(c.received.filter((r) => r.retransmission), [], "no request had to be retransmitted");
  assert.equal(c.answered.slice(0, 2), ["0.03 /3303/0/5700", "0.01 /3303/0/5700"]);
  assert.is(counts.get("lwm2m_observe_failures_total"), undefined);
  assert.equal(warnings, []);
  await d.stop();
});

test("after a gateway restart, a client re-registering while restored observations are in flight: 2.01 first, no observe failure", async () => {
  const dir = `${data.dir}/b`;
  const port = await freeUdpPort();
  const first = withWarnings(dir);
  const d1 = await startDriver(`127.0.0.1:${port}`, first.ctx);
  const c = await client({ host: "127.0.0.1", port }, "urn:dev:thermo-1");
  await c.register();
  await waitFor("observed before the restart", () => observedBoth(c));
  await d1.stop();
  // the client will register again (its Update went unanswered while the gateway was down):
  // from now on it drops requests, as Wakaama does while registering
  c.unregisterLocally();
  const seen = c.received.length;
  const second = withWarnings(dir);
  const d2 = await startDriver(`127.0.0.1:${port}`, second.ctx);
  // the restored registration's observation reaches the client and is dropped
  await waitFor("a restored request arrived (dropped)", () => c.received.slice(seen).some((r) => r.ignored));
  await c.register();
  const ackAt = c.received.findIndex((r, i) => i >= seen && r.type === "ACK" && r.code === "2.01");
  assert.ok(ackAt >= seen);
  const answeredBefore = c.answered.length;
  await waitFor("observed again after the re-register", () => c.answered.slice(answeredBefore).filter((a) => a.startsWith("0.01")).length >= 2);
  await waitFor("temperature event after restart", () => second.events.find((e) => e.kind === "telemetry" && e.payload.temperature === 21.5));
  const after = c.received.slice(ackAt + 1).filter((r) => r.code.startsWith("0."));
  assert.ok(after.length >= 4, "Write-Attributes and Observe for both paths after the 2.01");
  assert.equal(after.filter((r) => r.ignored || r.retransmission), [], "nothing after the 2.01 was dropped or retransmitted");
  assert.ok(d2.lwm2m.stats.abandoned >= 1, "the restored requests were abandoned when the client registered again");
  assert.is(second.counts.get("lwm2m_observe_failures_total"), undefined);
  assert.equal(second.warnings.filter((w) => /observe failed/.test(w)), []);
  await d2.stop();
});

test("IPv6: listen [::1]:PORT, a client on ::1 registers, is observed and can Send", async () => {
  assert.ok(lwm2mDriverConfig.safeParse({ name: "x", listen: "[::]:5683" }).success, "config accepts [::]:5683");
  const { ctx, events } = withWarnings(`${data.dir}/c`);
  const d = await startDriver("[::1]:0", ctx);
  const a = d.lwm2m.address();
  assert.is(a.address, "::1");
  const c = await client({ host: "::1", port: a.port }, "urn:dev:thermo-1");
  await c.register();
  await waitFor("observed over IPv6", () => observedBoth(c));
  assert.is(c.received[0]?.code, "2.01");
  assert.equal(c.received.filter((r) => r.ignored || r.retransmission), []);
  const reply = await c.send(new TextEncoder().encode(JSON.stringify([{ bn: "/3303/0/", n: "5700", v: 30.5 }])), 110);
  assert.is(reply.code, "2.04");
  const ev = await waitFor("sent event", () => events.find((e) => e.payload.temperature === 30.5));
  assert.is(ev.device, "thermo-1");
  assert.is(ev.meta?.path, "/dp");
  assert.is(d.lwm2m.registrations.byEndpoint("urn:dev:thermo-1")?.address, "::1");
  await d.stop();
});

test("IPv6 dual-stack: listen [::]:PORT takes an IPv4 client too", async () => {
  const { ctx, events } = withWarnings(`${data.dir}/d`);
  const d = await startDriver("[::]:0", ctx);
  const port = d.lwm2m.address().port;
  const v4 = await client({ host: "127.0.0.1", port }, "urn:dev:thermo-1");
  await v4.register();
  await waitFor("IPv4 client observed through the dual-stack socket", () => observedBoth(v4));
  assert.match(d.lwm2m.registrations.byEndpoint("urn:dev:thermo-1")?.address ?? "", /127\.0\.0\.1$/);
  const v6 = await client({ host: "::1", port }, "urn:dev:v6-only");
  await v6.register();
  await waitFor("IPv6 client observed", () => observedBoth(v6));
  await waitFor("events from both", () => events.filter((e) => e.payload.temperature === 21.5).length >= 2);
  await d.stop();
});

test("Send (/dp): SenML JSON and CBOR become events; a series gives one event per time; bad ones are refused with a code and counted", async () => {
  const { ctx, events, counts } = withWarnings(`${data.dir}/e`);
  const d = await startDriver("127.0.0.1:0", ctx);
  const server = { host: "127.0.0.1", port: d.lwm2m.address().port };
  const c = await client(server, "urn:dev:thermo-1");
  const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
  // before registering: refused
  const early = await c.send(enc([{ n: "/3303/0/5700", v: 1 }]), 110);
  assert.is(early.code, "4.03");
  assert.match(early.payload, /^E_LWM2M_SEND_NOT_REGISTERED: /);
  await c.register();
  assert.is((await c.send(enc([{ bn: "/3303/0/", n: "5700", v: 24.5 }, { n: "5701", vs: "Cel" }]), 110)).code, "2.04");
  const j = await waitFor("JSON send event", () => events.find((e) => e.payload.temperature === 24.5));
  assert.equal(j.payload, { temperature: 24.5, temperature_sensorUnits: "Cel" });
  assert.is(j.meta?.path, "/dp");
  assert.is((await c.send(encodeSenmlCbor([{ n: "/3/0/9", v: 55 }]), 112)).code, "2.04");
  await waitFor("CBOR send event", () => events.find((e) => e.payload.batteryLevel === 55));
  assert.is((await c.send(enc([{ bn: "/3303/0/5700", bt: 1_700_000_000, v: 1 }, { t: 60, v: 2 }]), 110)).code, "2.04");
  const series = await waitFor("series", () => {
    const s = events.filter((e) => e.meta?.path === "/dp" && (e.payload.temperature === 1 || e.payload.temperature === 2));
    return s.length === 2 ? s : undefined;
  });
  assert.equal(series.map((e) => e.ts), [1_700_000_000_000, 1_700_000_060_000]);
  const bad: [Uint8Array, number | undefined, string, string][] = [
    [enc([{ n: "/3303/0/5700", v: 1 }]), 0, "4.15", "E_LWM2M_SEND_FORMAT"],
    [enc([{ n: "/3303/0/5700", v: 1 }]), undefined, "4.15", "E_LWM2M_SEND_FORMAT"],
    [new TextEncoder().encode("{not json"), 110, "4.00", "E_SENML_SYNTAX"],
    [enc([]), 110, "4.00", "E_SENML_SHAPE"],
    [enc([{ n: "temperature", v: 1 }]), 110, "4.00", "E_SENML_NAME"],
    [enc([{ n: "/3/0/9", v: 1.5 }]), 110, "4.00", "E_SENML_VALUE"],
    [enc([{ n: "/3303/0/5700" }]), 110, "4.00", "E_SENML_VALUE"],
    [new Uint8Array([0xff, 0x00]), 112, "4.00", "E_SENML_SYNTAX"],
    [enc(Array.from({ length: 800 }, (_, i) => ({ n: `/3303/${i}/5700`, v: i }))), 110, "4.13", "E_LWM2M_SEND_TOO_LARGE"],
  ];
  for (const [payload, format, code, reason] of bad) {
    const r = await c.send(payload, format);
    assert.is(r.code, code, reason);
    assert.ok(r.payload.startsWith(`${reason}: `), `${reason}: ${r.payload}`);
  }
  assert.is(counts.get("lwm2m_send_rejected_total"), bad.length + 1);
  assert.is(counts.get("lwm2m_send_rejected_total{E_LWM2M_SEND_FORMAT}"), 2);
  assert.is(d.lwm2m.stats.sends, 3);
  assert.is(d.lwm2m.stats.sendsRejected, bad.length + 1);
  await d.stop();
});

test.run();
