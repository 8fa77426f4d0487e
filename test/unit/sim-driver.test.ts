import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { SimDriver, simDriverConfig } from "../../drivers/sim/index.js";

function harness(clock: FakeClock, accept: (e: Event, n: number) => boolean = () => true) {
  const events: Event[] = [];
  let release: (() => void) | undefined;
  const ctx: DriverContext = {
    emit(e) {
      events.push(e);
      return accept(e, events.length);
    },
    drained: () => new Promise<void>((r) => (release = r)),
    clock,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    count() {},
    dataDir: "/nonexistent",
  };
  return { ctx, events, release: () => release?.() };
}

test("trail trackers: rate, fields, altitudes mostly within 500–4500 m with some outliers", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const h = harness(clock);
  const d = new SimDriver(simDriverConfig.parse({ name: "trail", devices: 20, rateHz: 5, outliers: 0.05 }));
  await d.start(h.ctx);
  await clock.advance(10_000);
  await d.stop();
  const unique = new Set(h.events.map((e) => e.id));
  // 20 devices × 5 Hz × 10 s = 1000 readings (+ duplicates, − a few still held back).
  assert.ok(unique.size >= 950 && unique.size <= 1000, `unique ${unique.size}`);
  const e = h.events[0]!;
  assert.equal(Object.keys(e.payload).sort(), ["altitude", "battery_pct", "heart_rate", "lat", "lon", "speed_kmh"]);
  assert.is(e.kind, "telemetry");
  const outside = h.events.filter((x) => (x.payload.altitude as number) < 500 || (x.payload.altitude as number) > 4500).length;
  assert.ok(outside > 10 && outside < 120, `outliers ${outside}`);
  assert.is(new Set(h.events.map((x) => x.device)).size, 20);
});

test("out-of-order and duplicate events occur, with stable ids", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const h = harness(clock);
  const d = new SimDriver(simDriverConfig.parse({ name: "t", devices: 4, rateHz: 50, outOfOrder: 0.05, duplicates: 0.05 }));
  await d.start(h.ctx);
  await clock.advance(5000);
  await d.stop();
  const ids = h.events.map((e) => e.id);
  assert.ok(ids.length - new Set(ids).size > 10, "duplicates carry the same id");
  let late = 0;
  const maxTs = new Map<string, number>();
  for (const e of h.events) {
    if (e.ts < (maxTs.get(e.device) ?? 0)) late++;
    maxTs.set(e.device, Math.max(e.ts, maxTs.get(e.device) ?? 0));
  }
  assert.ok(late > 5, `out-of-order events: ${late}`);
});

test("same seed, same ride: deterministic", async () => {
  const run = async () => {
    const clock = new FakeClock(1_700_000_000_000);
    const h = harness(clock);
    const d = new SimDriver(simDriverConfig.parse({ name: "t", devices: 3, rateHz: 10 }));
    await d.start(h.ctx);
    await clock.advance(2000);
    await d.stop();
    return h.events.map((e) => `${e.id}:${JSON.stringify(e.payload)}`);
  };
  assert.equal(await run(), await run());
});

test("backpressure slows the simulated devices down until drained", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const h = harness(clock, (_e, n) => n < 100);
  const d = new SimDriver(simDriverConfig.parse({ name: "t", devices: 10, rateHz: 100, outOfOrder: 0, duplicates: 0 }));
  await d.start(h.ctx);
  await clock.advance(5000);
  assert.is(h.events.length, 100, "no more events while the pipeline pushes back");
  assert.ok((d.status().pausedByBackpressure as number) >= 1);
  h.release();
  await clock.advance(100);
  assert.ok(h.events.length > 100, "resumes after drained()");
  await d.stop();
});

test("signals scenario: sine, step, counter", async () => {
  const clock = new FakeClock(0);
  const h = harness(clock);
  const d = new SimDriver(
    simDriverConfig.parse({ name: "s", scenario: "signals", devices: 1, rateHz: 10, outOfOrder: 0, duplicates: 0, signals: [{ field: "v", shape: "sine", min: 0, max: 10, period: "1s" }, { field: "n", shape: "counter" }, { field: "s", shape: "step", min: 1, max: 2, period: "500ms" }] }),
  );
  await d.start(h.ctx);
  await clock.advance(1000);
  await d.stop();
  const v = h.events.map((e) => e.payload.v as number);
  assert.ok(Math.min(...v) >= 0 && Math.max(...v) <= 10 && Math.max(...v) - Math.min(...v) > 5);
  assert.equal(h.events.slice(0, 3).map((e) => e.payload.n), [1, 2, 3]);
  assert.equal(new Set(h.events.map((e) => e.payload.s)), new Set([1, 2]));
});

test.run();
