/** Plain CoAP driver under backpressure (fake transport, fake clock, fake ctx): polls stretch, notifications are held in a bounded queue. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock, SeededRandom } from "../../core/clock.js";
import { recordingContext } from "../helpers/driver-context.js";
import { CoapDriver, coapDeviceConfig, coapDriverConfig, type CoapResult, type CoapTransport } from "../../drivers/coap/index.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

function setup(capacity = 5) {
  const clock = new FakeClock(1_000_000);
  const gets: string[] = [];
  let notify: ((r: CoapResult) => void) | undefined;
  const transport: CoapTransport = {
    setPsk: () => {},
    get: (url) => (gets.push(url), Promise.resolve({ code: "2.05", payload: utf8(String(gets.length)) })),
    observe: (_url, onNotify) => ((notify = onNotify), Promise.resolve()),
    stopObserving: () => {},
    reset: () => {},
  };
  const ctx = recordingContext(clock);
  const config = coapDriverConfig.parse({ name: "plain", timeout: "1s", downAfter: 2, backoff: { min: "1s", max: "8s" } });
  const dev = coapDeviceConfig.parse({
    id: "s1",
    driver: "plain",
    url: "coap://127.0.0.1:5683",
    points: [
      { name: "temp", path: "/t", every: "5s" },
      { name: "n", path: "/obs", mode: "observe" },
    ],
  });
  const driver = new CoapDriver(config, [dev], { transport, random: new SeededRandom(1), clock, backpressureQueue: capacity });
  return {
    clock,
    emitted: ctx.events,
    gets,
    ctx,
    driver,
    notify: (v: string) => notify!({ code: "2.05", payload: utf8(v) }),
    pushBack: () => ctx.pushBack(),
    release: () => ctx.release(),
    drainedCalls: () => ctx.drainedCalls,
  };
}

test("emit → false: the next poll waits for drained(), notifications are held (bounded, oldest dropped) and flushed in order", async () => {
  const s = setup(5);
  await s.driver.start(s.ctx);
  await s.clock.advance(0);
  assert.is(s.gets.length, 1);
  const before = s.emitted.length; // state online + first telemetry
  assert.is(before, 2);
  s.pushBack();
  await s.clock.advance(5000); // poll 2: its telemetry is refused
  assert.is(s.gets.length, 2);
  assert.is(s.emitted.length, before + 1);
  assert.is(s.ctx.count_("coap_backpressure_total"), 1);
  assert.is(s.drainedCalls(), 1);
  await s.clock.advance(60_000); // polls stretch: none while pushed back
  assert.is(s.gets.length, 2);
  for (let i = 1; i <= 8; i++) s.notify(`${100 + i}`);
  assert.is(s.emitted.length, before + 1, "nothing emitted while pushed back");
  assert.is(s.ctx.count_("coap_backpressure_dropped"), 3);
  assert.ok(s.driver.health().up);
  s.release();
  await flush();
  const flushed = s.emitted.slice(before + 1).map((e) => e.payload.n);
  assert.equal(flushed, [104, 105, 106, 107, 108]);
  // ids stay unique, order of the held events kept
  assert.is(new Set(s.emitted.map((e) => e.id)).size, s.emitted.length);
  // polling resumes at its cadence once drained() resolved
  await s.clock.advance(5000);
  assert.is(s.gets.length, 3);
  await s.clock.advance(5000);
  assert.is(s.gets.length, 4);
  s.notify("200");
  assert.is(s.emitted[s.emitted.length - 1]!.payload.n, 200);
  await s.driver.stop();
});

test("refused again while flushing: the rest stays held until the next drained()", async () => {
  const s = setup(10);
  await s.driver.start(s.ctx);
  await s.clock.advance(0);
  s.pushBack();
  s.notify("1"); // refused
  s.notify("2");
  s.notify("3");
  const n = s.emitted.length;
  // accept one more then refuse again: release, then push back on the first flushed event
  const emit = s.ctx.emit;
  s.ctx.emit = (e) => (s.pushBack(), (s.ctx.emit = emit), emit(e));
  s.release();
  await flush();
  assert.is(s.emitted.length, n + 1); // "2" went out and was refused
  assert.is(s.ctx.count_("coap_backpressure_total"), 2);
  s.notify("4");
  assert.is(s.emitted.length, n + 1);
  s.release();
  await flush();
  assert.equal(s.emitted.slice(n).map((e) => e.payload.n), [2, 3, 4]);
  await s.driver.stop();
});

test("stop() under backpressure: a drained() resolving afterwards brings nothing back", async () => {
  const s = setup(5);
  await s.driver.start(s.ctx);
  await s.clock.advance(0);
  s.pushBack();
  await s.clock.advance(5000);
  s.notify("1");
  s.notify("2");
  const n = s.emitted.length;
  const gets = s.gets.length;
  await s.driver.stop();
  assert.is(s.ctx.count_("coap_backpressure_dropped"), 2, "held events dropped at stop are counted");
  s.release();
  await flush();
  await s.clock.advance(60_000);
  assert.is(s.emitted.length, n);
  assert.is(s.gets.length, gets);
  assert.is(s.clock.pending(), 0);
  assert.is(s.driver.health().up, false);
});

test.run();
