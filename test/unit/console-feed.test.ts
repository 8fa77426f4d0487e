/**
 * The web console's in-memory parts on a fake clock: device readings (last values merged per kind,
 * arrival time), warnings and errors picked from pino lines, the hour-long sample ring, session
 * expiry and the login rate limit, and the pipeline graph built from a pipeline config.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import pino from "pino";
import { FakeClock } from "../../core/clock.js";
import { ConsoleFeed, tapLogStream, HISTORY_MS, LOGIN_FAILURES_PER_WINDOW, LOGIN_WINDOW_MS, SAMPLE_MS, SessionStore, pipelineGraph } from "../../runtime/console/index.js";
import { sessionCookies } from "../../runtime/console/sessions.js";

test("a device's last values and when they arrived", () => {
  const clock = new FakeClock(1_000_000);
  const feed = new ConsoleFeed(clock);
  feed.observe("bus", { id: "plc/1", ts: 990_000, device: "plc", kind: "telemetry", payload: { h0: 100, temp: 23.5 } });
  clock.setTimeout(() => undefined, 0);
  feed.observe("bus", { id: "plc/2", ts: 995_000, device: "plc", kind: "telemetry", payload: { h0: 101 } });
  feed.observe("site", { id: "t/1", ts: 1, device: "tracker", kind: "state", payload: { blob: "x".repeat(2000), nested: { a: 1 } } });
  const s = feed.snapshot();
  assert.is(s.ingested, 3);
  const plc = s.devices.find((d) => d.device === "plc")!;
  assert.equal(plc.values, { h0: 101, temp: 23.5 }, "values of one kind merge, the newest wins");
  assert.is(plc.ts, 995_000);
  assert.is(plc.receivedAt, 1_000_000);
  assert.is(plc.events, 2);
  assert.is(plc.driver, "bus");
  const tracker = s.devices.find((d) => d.device === "tracker")!;
  assert.ok((tracker.values.blob as string).length < 600, "long values are cut");
  assert.is(tracker.values.nested, '{"a":1}');
});

test("warnings and errors are kept from pino lines, newest first and bounded; info lines are not", () => {
  const feed = new ConsoleFeed(new FakeClock(5));
  feed.logLine(`${JSON.stringify({ level: 30, time: "2026-01-01T00:00:00.000Z", msg: "ready" })}\n`);
  feed.logLine(`${JSON.stringify({ level: 40, time: "2026-01-01T00:00:01.000Z", component: "uplink", msg: "queue full", reason: "limit" })}\n`);
  feed.logLine(`${JSON.stringify({ level: 50, time: "2026-01-01T00:00:02.000Z", driver: "rs485-1", code: "E_MODBUS_TIMEOUT", msg: "poll failed", err: "no answer" })}\n`);
  feed.logLine("not json, level 50\n");
  const logs = feed.snapshot().logs;
  assert.is(logs.length, 2);
  assert.equal(logs[0], { at: Date.parse("2026-01-01T00:00:02.000Z"), level: "error", msg: "poll failed", component: "rs485-1", code: "E_MODBUS_TIMEOUT", detail: "no answer" });
  assert.is(logs[1]!.level, "warn");
  for (let i = 0; i < 200; i++) feed.logLine(JSON.stringify({ level: 40, msg: `w${i}` }));
  const many = feed.snapshot().logs;
  assert.ok(many.length <= 50);
  assert.is(many[0]!.msg, "w199");
});

test("the feed reads a pino logger's lines on their way to its destination, child loggers included", () => {
  const written: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void written.push(line) });
  const feed = new ConsoleFeed(new FakeClock(0));
  const untap = tapLogStream(log, feed);
  log.child({ component: "cloud" }).warn({ code: "E_CLOUD_CONNECT", err: "ECONNREFUSED" }, "link down");
  log.info("not kept");
  untap();
  log.error("after the tap is gone");
  assert.is(written.length, 3, "every line still reaches the destination");
  const logs = feed.snapshot().logs;
  assert.is(logs.length, 1);
  assert.equal({ ...logs[0], at: 0 }, { at: 0, level: "warn", msg: "link down", component: "cloud", code: "E_CLOUD_CONNECT", detail: "ECONNREFUSED" });
  // a logger that is not pino is left alone
  assert.not.throws(() => tapLogStream({}, feed)());
});

test("samples: queue depth and ingest rate every SAMPLE_MS, an hour of them", async () => {
  const clock = new FakeClock(0);
  let depth = 0;
  const feed = new ConsoleFeed(clock, () => ({ events: depth, bytes: depth * 100 }));
  feed.start();
  for (let i = 0; i < 50; i++) feed.observe("bus", { id: `d/${i}`, ts: 0, device: "d", kind: "telemetry", payload: { v: i } });
  depth = 7;
  await clock.advance(SAMPLE_MS);
  let h = feed.snapshot().history;
  assert.is(h.length, 2);
  assert.equal(h[1], { at: SAMPLE_MS, queued: 7, queuedBytes: 700, ingestPerSec: 5 });
  await clock.advance(2 * HISTORY_MS);
  h = feed.snapshot().history;
  assert.is(h.length, HISTORY_MS / SAMPLE_MS);
  assert.is(h[h.length - 1]!.ingestPerSec, 0);
  feed.stop();
  await clock.advance(SAMPLE_MS * 3);
  assert.is(feed.snapshot().history.length, HISTORY_MS / SAMPLE_MS);
});

test("sessions expire when idle; the login limit opens again after its window", async () => {
  const clock = new FakeClock(0);
  const store = new SessionStore(clock, 60_000);
  const s = store.create();
  const cookie = sessionCookies(s, 60).map((c) => c.split(";")[0]).join("; ");
  clock.setTimeout(() => undefined, 0);
  assert.ok(store.fromCookies(cookie));
  assert.ok(store.csrfOk(s, s.csrf, cookie));
  assert.not.ok(store.csrfOk(s, undefined, cookie));
  assert.not.ok(store.csrfOk(s, s.csrf, `ridge_session=${s.id}`), "the header alone is not enough: the cookie must match too");
  // sliding expiry: used within the idle time, it stays
  await clock.advance(50_000);
  assert.ok(store.fromCookies(cookie));
  await clock.advance(61_000);
  assert.is(store.fromCookies(cookie), undefined);
  for (let i = 0; i < LOGIN_FAILURES_PER_WINDOW; i++) {
    assert.ok(store.mayTry("127.0.0.1").ok);
    store.failed("127.0.0.1");
  }
  assert.not.ok(store.mayTry("127.0.0.1").ok);
  assert.ok(store.mayTry("127.0.0.2").ok, "per address");
  await clock.advance(LOGIN_WINDOW_MS);
  assert.ok(store.mayTry("127.0.0.1").ok);
});

test("the pipeline graph: drivers feed sources, operators read inputs, a route's targets read the route", () => {
  const g = pipelineGraph({
    sources: { field: { from: ["rs485-1"] }, web: { http: { listen: "127.0.0.1:1" } } },
    operators: {
      hot: { kind: "filter", input: ["field"] },
      split: { kind: "route", input: ["hot"], spec: { cases: [{ when: "x > 1", to: ["alarms"] }] } },
    },
    sinks: { alarms: { kind: "uplink", input: [] }, all: { kind: "uplink", input: ["field", "web"] } },
  });
  const by = Object.fromEntries(g.map((n) => [n.name, n]));
  assert.equal(by["driver:rs485-1"], { name: "driver:rs485-1", role: "driver", inputs: [] });
  assert.equal(by.field!.inputs, ["driver:rs485-1"]);
  assert.is(by.web!.kind, "http");
  assert.equal(by.split!.inputs, ["hot"]);
  assert.equal(by.alarms!.inputs, ["split"]);
  assert.equal(by.all!.inputs, ["field", "web"]);
});

test.run();
