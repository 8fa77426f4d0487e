/**
 * The LwM2M driver under backpressure with a fake ctx: a raw UDP device on loopback registers and
 * pushes notifications; while emit() answers false nothing more is emitted, notifications wait in a
 * bounded queue (oldest dropped, counted) and are flushed in order once drained() resolves.
 */
import { createSocket, type Socket } from "node:dgram";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { systemClock } from "../../core/clock.js";
import { CoapOption, CoapType, codeFromString, decodeCoapMessage, encodeCoapMessage, encodeUint, optionUint, pathOptions, queryOptions, uriPath, type CoapMessage } from "../../codecs/index.js";
import { recordingContext } from "../helpers/driver-context.js";
import { Lwm2mDriver, lwm2mDeviceConfig, lwm2mDriverConfig } from "../../drivers/lwm2m/index.js";
import { freeUdpPort, tempDir, waitFor } from "../../peers/process.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A minimal LwM2M device: registers, answers the observe of /3303/0/5700 and pushes NON notifications. */
class RawDevice {
  readonly sock: Socket = createSocket("udp4");
  private mid = 1000;
  private observeToken: Uint8Array | undefined;
  private seq = 2;
  readonly requests: CoapMessage[] = [];
  registered = false;
  created = 0;

  constructor(private readonly port: number) {
    this.sock.on("message", (buf) => {
      const r = decodeCoapMessage(buf);
      if (!r.ok) return;
      const m = r.value;
      if (m.type === CoapType.ACK && m.code === codeFromString("2.01")) (this.registered = true), this.created++;
      if (m.code === codeFromString("0.01")) {
        this.requests.push(m);
        if (uriPath(m) === "/3303/0/5700" && optionUint(m, CoapOption.Observe) === 0) {
          this.observeToken = m.token;
          this.send({ type: CoapType.ACK, code: codeFromString("2.05"), messageId: m.messageId, token: m.token, options: [{ number: CoapOption.Observe, value: encodeUint(1) }, { number: CoapOption.ContentFormat, value: encodeUint(0) }], payload: utf8("20") });
        } else if (m.type === CoapType.CON) {
          this.send({ type: CoapType.ACK, code: codeFromString("4.04"), messageId: m.messageId, token: m.token, options: [], payload: new Uint8Array(0) });
        }
      }
    });
  }

  async bind(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, "127.0.0.1", r));
  }

  send(m: CoapMessage): void {
    this.sock.send(encodeCoapMessage(m), this.port, "127.0.0.1");
  }

  register(): void {
    this.send({
      type: CoapType.CON,
      code: codeFromString("0.02"),
      messageId: this.mid++,
      token: Uint8Array.of(1, 2, 3, 4),
      options: [...pathOptions("/rd"), { number: CoapOption.ContentFormat, value: encodeUint(40) }, ...queryOptions(["ep=urn:dev:t1", "lt=60", "lwm2m=1.1", "b=U"])],
      payload: utf8("</>;rt=\"oma.lwm2m\",</3/0>,</3303/0>"),
    });
  }

  get observed(): boolean {
    return this.observeToken !== undefined;
  }

  notify(value: number): void {
    this.send({ type: CoapType.NON, code: codeFromString("2.05"), messageId: this.mid++, token: this.observeToken!, options: [{ number: CoapOption.Observe, value: encodeUint(this.seq++) }, { number: CoapOption.ContentFormat, value: encodeUint(0) }], payload: utf8(String(value)) });
  }

  close(): void {
    this.sock.close();
  }
}

function fakeCtx(dataDir: string) {
  const ctx = recordingContext(systemClock, dataDir);
  return { ctx, emitted: ctx.events, pushBack: () => ctx.pushBack(), release: () => ctx.release() };
}

test("emit → false: notifications are held (bounded, oldest dropped and counted), flushed in order after drained(); registration unaffected", async () => {
  const data = tempDir("ridge-lwm2m-bp-");
  const port = await freeUdpPort();
  const driver = new Lwm2mDriver(
    lwm2mDriverConfig.parse({ name: "field", listen: `127.0.0.1:${port}`, requestTimeout: "2s", deviceTypes: { thermo: { observe: ["/3303/0/5700"] } } }),
    [lwm2mDeviceConfig.parse({ id: "t1", driver: "field", endpoint: "urn:dev:t1", type: "thermo" })],
    { backpressureQueue: 5 },
  );
  const f = fakeCtx(data.dir);
  const dev = new RawDevice(port);
  try {
    await dev.bind();
    await driver.start(f.ctx);
    dev.register();
    await waitFor("registered and observed", () => dev.registered && dev.observed, 5000);
    await waitFor("first temperature", () => f.emitted.some((e) => e.kind === "telemetry" && e.payload.temperature === 20), 5000);
    const before = f.emitted.length;

    f.pushBack();
    dev.notify(21); // refused
    await waitFor("the refused emit", () => f.emitted.length === before + 1, 5000);
    assert.is(f.ctx.count_("lwm2m_backpressure_total"), 1);
    for (let v = 22; v <= 29; v++) dev.notify(v);
    await waitFor("8 more notifications received", () => (driver.status().stats as { notifications: number }).notifications >= 10, 5000);
    await sleep(50);
    assert.is(f.emitted.length, before + 1, "nothing emitted while pushed back");
    assert.is(f.ctx.count_("lwm2m_backpressure_dropped"), 3);
    assert.is(driver.status().held, 5);
    assert.ok(driver.health().up);

    f.release();
    await waitFor("flush", () => f.emitted.length === before + 6, 5000);
    assert.equal(
      f.emitted.slice(before).map((e) => e.payload.temperature),
      [21, 25, 26, 27, 28, 29],
    );
    dev.notify(30);
    await waitFor("emitting again", () => f.emitted.at(-1)?.payload.temperature === 30, 5000);
    assert.is(new Set(f.emitted.map((e) => e.id)).size, f.emitted.length);

    // stop() under backpressure: drained() resolving afterwards brings nothing back
    f.pushBack();
    dev.notify(31);
    await waitFor("refused again", () => f.emitted.at(-1)?.payload.temperature === 31, 5000);
    dev.notify(32);
    // registration handling goes on while pushed back: a re-registration is answered 2.01
    const created = dev.created;
    dev.register();
    await waitFor("re-registration answered", () => dev.created === created + 1, 5000);
    assert.is(driver.lwm2m.registrations.size, 1);
    await sleep(50);
    const n = f.emitted.length;
    assert.is(f.emitted.at(-1)?.payload.temperature, 31, "nothing emitted after the refusal");
    await driver.stop();
    f.release();
    await sleep(50);
    assert.is(f.emitted.length, n);
  } finally {
    await driver.stop();
    dev.close();
    data.cleanup();
  }
});

test.run();
