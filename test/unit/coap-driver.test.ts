/** Plain CoAP driver logic with a fake transport and a fake clock: polling, decoding, down/up, backoff. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { FakeClock, SeededRandom } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { CoapDriver, coapDriverConfig, coapDeviceConfig, decodePoint, type CoapResult, type CoapTransport } from "../../drivers/coap/index.js";
import { encodeCbor, encodeSenmlCbor } from "../../codecs/index.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

function setup(answer: (url: string) => CoapResult | "hang" | "error") {
  const clock = new FakeClock(1_000_000);
  const events: Event[] = [];
  const counts = new Map<string, number>();
  const calls: string[] = [];
  const resets: string[] = [];
  const transport: CoapTransport = {
    setPsk: () => {},
    get: (url) => {
      calls.push(url);
      const a = answer(url);
      if (a === "hang") return new Promise(() => {});
      if (a === "error") return Promise.reject(new Error("ECONNREFUSED"));
      return Promise.resolve(a);
    },
    observe: () => Promise.resolve(),
    stopObserving: () => {},
    reset: (o) => void resets.push(o),
  };
  const ctx: DriverContext = { emit: (e) => (events.push(e), true), drained: async () => {}, clock, log: { debug() {}, info() {}, warn() {}, error() {} }, count: (m, _l, by = 1) => void counts.set(m, (counts.get(m) ?? 0) + by), dataDir: "/nonexistent" };
  const config = coapDriverConfig.parse({ name: "plain", timeout: "1s", downAfter: 2, backoff: { min: "1s", max: "8s" } });
  const dev = coapDeviceConfig.parse({ id: "s1", driver: "plain", url: "coap://127.0.0.1:5683", points: [{ name: "temp", path: "/t", every: "5s" }] });
  const driver = new CoapDriver(config, [dev], { transport, random: new SeededRandom(1), clock });
  return { clock, events, counts, calls, resets, ctx, driver };
}

test("polls every `every`, decodes text into a named field, reports online once", async () => {
  const s = setup(() => ({ code: "2.05", payload: utf8("21.5") }));
  await s.driver.start(s.ctx);
  await s.clock.advance(0);
  await s.clock.advance(5000);
  await s.clock.advance(5000);
  assert.is(s.calls.length, 3);
  const tel = s.events.filter((e) => e.kind === "telemetry");
  assert.is(tel.length, 3);
  assert.equal(tel[0]!.payload, { temp: 21.5 });
  assert.is(s.events.filter((e) => e.kind === "state").length, 1);
  await s.driver.stop();
});

test("a device that stops answering: timeouts counted, reported down after downAfter, retried with backoff, back up", async () => {
  let mode: "ok" | "hang" = "hang";
  const s = setup(() => (mode === "hang" ? "hang" : { code: "2.05", payload: utf8("1") }));
  await s.driver.start(s.ctx);
  await s.clock.advance(0);
  await s.clock.advance(1000); // first timeout
  await s.clock.advance(5000); // second poll
  await s.clock.advance(1000); // second timeout → down
  assert.is(s.counts.get("coap_timeouts_total"), 2);
  const down = s.events.find((e) => e.kind === "state" && e.payload.online === false);
  assert.ok(down);
  assert.ok(s.resets.length >= 2 && s.resets.every((r) => r === "coap://127.0.0.1:5683"));
  assert.is(s.driver.health().detail, "down: s1");
  // while down, retries are spaced by backoff (≤ cap, growing), not by `every`
  const before = s.calls.length;
  await s.clock.advance(60_000);
  const retries = s.calls.length - before;
  assert.ok(retries >= 3 && retries < 60, `retries ${retries}`);
  mode = "ok";
  await s.clock.advance(20_000);
  assert.ok(s.events.some((e) => e.kind === "state" && e.payload.online === true && e.ts > down!.ts));
  assert.ok(s.events.some((e) => e.kind === "telemetry"));
  await s.driver.stop();
});

test("error responses and undecodable payloads are counted, not events", async () => {
  let n = 0;
  const s = setup(() => (++n === 1 ? { code: "4.04", payload: new Uint8Array(0) } : { code: "2.05", payload: Uint8Array.of(0xff, 0xfe) }));
  await s.driver.start(s.ctx);
  await s.clock.advance(0);
  await s.clock.advance(5000);
  assert.is(s.counts.get("coap_error_responses_total"), 1);
  assert.is(s.counts.get("coap_bad_payloads_total"), 1);
  assert.is(s.events.filter((e) => e.kind === "telemetry").length, 0);
  await s.driver.stop();
});

test("payload decoders: text, json, cbor, senml-json, senml-cbor", () => {
  assert.equal(decodePoint("text", utf8(" 42 ")), { ok: true, value: 42 });
  assert.equal(decodePoint("text", utf8("on")), { ok: true, value: "on" });
  assert.equal(decodePoint("json", utf8('{"a":{"b":[1,2]}}'), "a.b.1"), { ok: true, value: 2 });
  assert.is(decodePoint("json", utf8("{"), "a").ok, false);
  assert.is(decodePoint("json", utf8('{"a":1}'), "b").ok, false);
  assert.equal(decodePoint("cbor", encodeCbor(new Map([["temp", 20.5]])), "temp"), { ok: true, value: 20.5 });
  assert.equal(decodePoint("senml-json", utf8('[{"bn":"urn:dev:x:","n":"temp","v":1.5},{"n":"hum","v":40}]'), "hum"), { ok: true, value: 40 });
  assert.equal(decodePoint("senml-cbor", encodeSenmlCbor([{ n: "temp", v: 3 }])), { ok: true, value: 3 });
  assert.is(decodePoint("senml-cbor", Uint8Array.of(0x82)).ok, false);
});

test("fuzz: payload decoders are total over random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom("text", "json", "cbor", "senml-json", "senml-cbor" as const), fc.option(fc.string({ maxLength: 5 }), { nil: undefined }), (b, d, f) => {
      const r = decodePoint(d, b, f);
      return typeof r.ok === "boolean";
    }),
    { numRuns: 3000 },
  );
});

test("config: coaps needs a psk; bad url rejected", () => {
  assert.is(coapDeviceConfig.safeParse({ id: "a", driver: "p", url: "coaps://h:5684", points: [{ name: "x", path: "/x" }] }).success, false);
  assert.is(coapDeviceConfig.safeParse({ id: "a", driver: "p", url: "http://h", points: [{ name: "x", path: "/x" }] }).success, false);
  assert.is(coapDeviceConfig.safeParse({ id: "a", driver: "p", url: "coap://h:5683", points: [] }).success, false);
});

test.run();
