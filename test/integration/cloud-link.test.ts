/** The cloud link against a real mosquitto on loopback: delivery, ack-then-delete, offline fill, alarms first, downlink. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import mqtt from "mqtt";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startMosquitto, type Mosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { collect, event, createUplink, makeParts } from "../helpers/cloud.js";
import type { Event } from "../../core/event.js";

let broker: Mosquitto;
test.before(async () => {
  broker = await startMosquitto({ maxSeconds: 120 });
});
test.after(async () => {
  await broker.cleanup();
});

const fast = { backoff: { base: 20, cap: 200 } };

for (const version of ["5", "3.1.1"] as const) {
  test(`MQTT ${version}: every event arrives once acknowledged, and the queue empties`, async () => {
    const t = tempDir();
    const s = makeParts({ dataDir: t.dir, config: { cloud: { mqtt: { url: broker.url, version, clientId: `gw-${version}`, ...fast } } } });
    const sub = await collect(broker.url);
    const up = await createUplink(s);
    await up.start();
    await waitFor("link up", () => up.link!.connected);
    const sink = up.sink;
    const want: string[] = [];
    for (let b = 0; b < 20; b++) {
      const batch: Event[] = [];
      for (let i = 0; i < 250; i++) {
        const e = event(`dev-${i % 5}`, b * 250 + i);
        batch.push(e);
        want.push(e.id);
      }
      await sink.accept(batch);
    }
    await waitFor("all events at the subscriber", () => sub.ids.size === want.length, 20_000);
    await waitFor("queue empty", () => up.queue.depth() === 0, 10_000);
    const c = sub.check();
    assert.equal(c.missing(want), []);
    assert.equal(c.orderViolations, []);
    assert.ok(sub.topics.filter((x) => x.includes("/up/")).every((x) => x === "ridge/gw-test/up/telemetry"));
    const st = up.linkComponent!.status() as { link: string; linkDetail: { state: string; lastDrained: string | null } };
    assert.is(st.link, "online");
    assert.is(st.linkDetail.state, "online");
    assert.ok(st.linkDetail.lastDrained);
    const metrics = await s.metrics.text();
    assert.match(metrics, /ridge_uplink_acked_events_total\{priority="telemetry"\} 5000/);
    assert.match(metrics, /ridge_uplink_link_state\{state="online"\} 1/);
    await up.stop();
    await sub.close();
    s.db.close();
    t.cleanup();
  });
}

test("CBOR batches decode to the same events", async () => {
  const t = tempDir();
  const s = makeParts({ dataDir: t.dir, config: { gateway: { id: "gw-cbor" }, cloud: { mqtt: { url: broker.url, format: "cbor", ...fast } } } });
  const sub = await collect(broker.url, "gw-cbor", "cbor");
  const up = await createUplink(s);
  await up.start();
  const batch = [event("a", 1), event("a", 2), event("b", 1, "alarm")];
  await up.sink.accept(batch);
  await waitFor("3 events", () => sub.ids.size === 3, 10_000);
  assert.equal(sub.events.find((e) => e.id === "a/2"), batch[1]);
  assert.ok(sub.topics.includes("ridge/gw-cbor/up/alarm"));
  await up.stop();
  await sub.close();
  s.db.close();
  t.cleanup();
});

test("offline: the queue fills; when the broker appears, the backlog drains and fresh alarms go first", async () => {
  const t = tempDir();
  // A persistent broker: the subscriber's session (made now) keeps what arrives before it reconnects.
  const b2 = await startMosquitto({ persist: true, maxSeconds: 90 });
  const sub = await collect(b2.url, "gw-off");
  await b2.stop();
  const s = makeParts({ dataDir: t.dir, config: { gateway: { id: "gw-off" }, cloud: { mqtt: { url: b2.url, batch: { maxEvents: 200 }, inflight: 2, drainRate: 10_000, ...fast } } } });
  // drainRate paces the backlog (2 s for 20,000 events) so the alarm below is appended while most of
  // it is still queued, whatever the speed of the machine.
  const up = await createUplink(s);
  await up.start();
  try {
    const sink = up.sink;
    const want: string[] = [];
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 1000 }, (_, i) => event(`d${i % 3}`, b * 1000 + i));
      want.push(...batch.map((e) => e.id));
      await sink.accept(batch);
    }
    await waitFor("a refused connection", () => up.link!.status().lastError);
    assert.is(up.queue.depth(), 20_000);
    assert.match(await s.metrics.text(), /ridge_uplink_connect_failures_total\{code="E_CLOUD_REFUSED"\}/);
    await b2.restart();
    await waitFor("link up", () => up.link!.connected, 10_000);
    // An alarm appended right after the link comes up must overtake the backlog.
    await sink.accept([event("d0", 999_999, "alarm")]);
    want.push("d0/999999");
    await waitFor("everything", () => sub.ids.size === want.length, 30_000);
    const order = sub.events.map((e) => e.id);
    const alarmAt = order.indexOf("d0/999999");
    assert.ok(alarmAt < order.length / 2, `the alarm arrived at ${alarmAt} of ${order.length}: ahead of most of the backlog`);
    assert.equal(sub.check().orderViolations, []);
    await waitFor("queue empty", () => up.queue.depth() === 0);
  } finally {
    // Also on failure: a broker or link left running would keep this test process alive.
    await up.stop();
    await sub.close();
    await b2.cleanup();
  }
  s.db.close();
  t.cleanup();
});

test("paced draining (drainRate): the backlog trickles, and a live alarm goes out while it still waits", async () => {
  const t = tempDir();
  const s = makeParts({ dataDir: t.dir, config: { gateway: { id: "gw-pace" }, cloud: { mqtt: { url: broker.url, drainRate: 2000, batch: { maxEvents: 100 }, ...fast } } } });
  const sub = await collect(broker.url, "gw-pace");
  // Queue a backlog while no link exists yet.
  const up = await createUplink(s);
  const sink = up.sink;
  await sink.accept(Array.from({ length: 5000 }, (_, i) => event(`d${i % 4}`, i)));
  await up.start();
  await waitFor("link up", () => up.link!.connected);
  await waitFor("the backlog started", () => sub.ids.size > 0);
  assert.is(up.link!.tag, "draining");
  await sink.accept([event("d9", 1, "alarm")]);
  await waitFor("the alarm arrived", () => sub.ids.has("d9/1"), 10_000);
  assert.ok(up.queue.depth("telemetry") > 0, "the paced backlog was still waiting when the alarm went out");
  await waitFor("everything", () => sub.ids.size === 5001, 20_000);
  assert.equal(sub.check().orderViolations, []);
  await waitFor("online", () => up.link!.tag === "online");
  await up.stop();
  await sub.close();
  s.db.close();
  t.cleanup();
});

test("downlink messages are dispatched by prefix to registered handlers", async () => {
  const t = tempDir();
  const s = makeParts({ dataDir: t.dir, config: { gateway: { id: "gw-down" }, cloud: { mqtt: { url: broker.url, ...fast } } } });
  const got: { suffix: string; payload: string }[] = [];
  s.downlink.on("ota", (suffix, payload) => void got.push({ suffix, payload: payload.toString() }));
  const up = await createUplink(s);
  await up.start();
  await waitFor("link up", () => up.link!.connected);
  // the subscription is made right after CONNACK; give it a moment by retrying the publish until seen
  const pub = mqtt.connect(broker.url);
  await new Promise((r) => pub.once("connect", r));
  await waitFor("dispatched", async () => {
    await pub.publishAsync("ridge/gw-down/down/ota/targets", "hello", { qos: 1 });
    return got.length > 0;
  }, 10_000, 200);
  assert.equal(got[0], { suffix: "ota/targets", payload: "hello" });
  await pub.endAsync();
  await up.stop();
  s.db.close();
  t.cleanup();
});

test("ridge config check refuses a topic prefix starting with $, with its location", () => {
  const t = tempDir();
  const file = join(t.dir, "gw.yaml");
  writeFileSync(file, `gateway: { id: g }\ncloud:\n  mqtt:\n    url: "${broker.url}"\n    topicPrefix: $aws/things\n`);
  const root = new URL("../..", import.meta.url).pathname;
  const r = spawnSync(process.execPath, [join(root, "bin", "ridge.mjs"), "config", "check", file], { cwd: root, env: { ...process.env, RIDGE_FROM_SOURCE: "1" }, encoding: "utf8", timeout: 60_000 });
  t.cleanup();
  assert.is(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, `gw.yaml:5:18 cloud.mqtt.topicPrefix: a topic prefix must not start with $`);
});

test.run();
