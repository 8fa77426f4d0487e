/**
 * A DTLS peer the client stack cannot handle (a PSK ServerKeyExchange with an identity hint) and a
 * DTLS device that vanishes mid-session: the gateway process must not crash; the device is
 * reported down and failures are counted.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { CoapDriver, coapDriverConfig, coapDeviceConfig } from "../../drivers/coap/index.js";
import { startPeer, waitFor } from "../../peers/process.js";
import { freeCoapPortPair, libcoapServer, runCoapClient } from "../helpers/libcoap.js";

test("a handshake message node-dtls-client cannot parse kills the connection, not the process", async () => {
  const bin = libcoapServer();
  assert.ok(bin, "libcoap3-bin is required");
  const port = await freeCoapPortPair();
  // default identity hint → ServerKeyExchange (handshake type 12)
  const srv = startPeer(bin!, ["-A", "127.0.0.1", "-p", String(port), "-k", "secretPSK", "-v", "3"], { maxSeconds: 60 });
  try {
    await waitFor("coap-server up", async () => (await runCoapClient(["-m", "get", `coap://127.0.0.1:${port}/time`], 1)).stdout.length > 0 || undefined, 10_000, 100);
    const events: Event[] = [];
    let failures = 0;
    const ctx: DriverContext = {
      emit: (e) => (events.push(e), true),
      drained: async () => {},
      clock: systemClock,
      log: { debug() {}, info() {}, warn() {}, error() {} },
      count: (m) => void (m === "coap_timeouts_total" || m === "coap_errors_total" ? failures++ : 0),
      dataDir: "/nonexistent",
    };
    const driver = new CoapDriver(coapDriverConfig.parse({ name: "plain", timeout: "1s", downAfter: 2, backoff: { min: "200ms", max: "500ms" } }), [
      coapDeviceConfig.parse({ id: "hinted", driver: "plain", url: `coaps://127.0.0.1:${port + 1}`, psk: { identity: "gw-device-1", key: "secretPSK" }, points: [{ name: "t", path: "/time", every: "200ms" }] }),
    ]);
    await driver.start(ctx);
    await waitFor("reported down", () => events.find((e) => e.kind === "state" && e.payload.online === false), 15_000);
    // still alive and still trying, a few more rounds
    const f = failures;
    await waitFor("more attempts", () => (failures > f + 1 ? true : undefined), 10_000);
    await driver.stop();
    assert.ok(failures >= 2);
  } finally {
    await srv.stop();
  }
});

test.run();
