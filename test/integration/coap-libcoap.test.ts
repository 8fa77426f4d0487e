/**
 * Plain CoAP devices: libcoap's coap-server as the device, polled and observed through
 * the driver's own CoAP client, over UDP and DTLS-PSK; a device that is stopped is reported down.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { CoapDriver, coapDriverConfig, coapDeviceConfig } from "../../drivers/coap/index.js";
import { waitFor } from "../../peers/process.js";
import { coapClientSync, startLibcoapServer, type LibcoapServer } from "../helpers/libcoap.js";

const events: Event[] = [];
const counts = new Map<string, number>();
const ctx: DriverContext = {
  emit: (e) => (events.push(e), true),
  drained: async () => {},
  clock: systemClock,
  log: { debug() {}, info() {}, warn() {}, error() {} },
  count: (m, _l, by = 1) => void counts.set(m, (counts.get(m) ?? 0) + by),
  dataDir: "/nonexistent",
};
let srv: LibcoapServer;
let driver: CoapDriver;

test.before(async () => {
  srv = await startLibcoapServer();
  const U = `coap://127.0.0.1:${srv.port}`;
  coapClientSync(["-m", "put", "-t", "application/json", "-e", '{"temp":21.5}', `${U}/sensors/temp`]);
  coapClientSync(["-m", "put", "-e", "v1", `${U}/example_data`]);
  driver = new CoapDriver(coapDriverConfig.parse({ name: "plain", timeout: "2s", downAfter: 2, backoff: { min: "200ms", max: "1s" } }), [
    coapDeviceConfig.parse({
      id: "lib-1",
      driver: "plain",
      url: U,
      points: [
        { name: "temp", path: "/sensors/temp", every: "200ms", decoder: "json", field: "temp" },
        { name: "data", path: "/example_data", mode: "observe" },
      ],
    }),
    coapDeviceConfig.parse({ id: "lib-dtls", driver: "plain", url: `coaps://127.0.0.1:${srv.coapsPort}`, psk: { identity: srv.pskIdentity, key: srv.pskKey }, points: [{ name: "clock", path: "/time", every: "300ms" }] }),
  ]);
  await driver.start(ctx);
});

test.after(async () => {
  await driver.stop();
  await srv.stop();
});

test("GET polling of a libcoap resource, JSON decoded into a named field", async () => {
  const e = await waitFor("temp event", () => events.find((x) => x.device === "lib-1" && x.payload.temp === 21.5));
  assert.is(e.kind, "telemetry");
  assert.is(e.meta?.path, "/sensors/temp");
  assert.ok(events.some((x) => x.device === "lib-1" && x.kind === "state" && x.payload.online === true));
});

test("Observe: a PUT on the libcoap server becomes a notification event", async () => {
  await waitFor("initial observe value", () => events.find((x) => x.device === "lib-1" && x.payload.data === "v1"));
  coapClientSync(["-m", "put", "-e", "v2", `coap://127.0.0.1:${srv.port}/example_data`]);
  await waitFor("notification v2", () => events.find((x) => x.device === "lib-1" && x.payload.data === "v2"));
});

test("DTLS-PSK: polling over coaps with the configured identity and key", async () => {
  const e = await waitFor("dtls event", () => events.find((x) => x.device === "lib-dtls" && x.kind === "telemetry"), 15_000);
  assert.type(e.payload.clock, "string");
});

test("a device that stops answering is reported down, timeouts counted", async () => {
  await srv.stop();
  const down = await waitFor("down event", () => events.find((x) => x.device === "lib-1" && x.kind === "state" && x.payload.online === false), 20_000);
  assert.ok(down);
  assert.ok((counts.get("coap_timeouts_total") ?? 0) + (counts.get("coap_errors_total") ?? 0) >= 2);
  assert.match(driver.health().detail ?? "", /lib-1/);
});

test.run();
