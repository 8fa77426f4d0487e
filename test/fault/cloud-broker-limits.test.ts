/**
 * Broker limits on the cloud link, against a real mosquitto on loopback:
 * - `max_packet_size 8192` with MQTT 5 (the CONNACK announces it) and with MQTT 3.1.1 (the broker
 *   just closes the connection on a larger packet): every event that fits arrives at a subscriber,
 *   none is lost (ids counted), batches got smaller instead of being sent again and again, and the
 *   one event larger than the limit is skipped and reported (status, metrics, log);
 * - an ACL that denies publishing telemetry, MQTT 5 (PUBACK 0x87): the class is held with
 *   full-jitter backoff on an injected clock (publishes counted over ten simulated minutes, no
 *   reconnect), the reason is in the status, alarms still go out, and once the ACL allows it
 *   (SIGHUP reload) the held events arrive.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startMosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { captureLog, collect, event, createUplink, makeParts } from "../helpers/cloud.js";
import { FakeClock, SeededRandom } from "../../core/clock.js";
import type { Event } from "../../core/event.js";

const fast = { backoff: { base: 20, cap: 200 } };

function metric(text: string, re: RegExp): number {
  let n = 0;
  for (const m of text.matchAll(re)) n += Number(m[1]);
  return n;
}

/** Small events, events of ~3 KB (a stored row of them is far above 8 KB) and one of 12 KB. */
function workload(): { events: Event[]; big: string } {
  const events: Event[] = [];
  for (let i = 0; i < 3000; i++) {
    const e = event(`d${i % 4}`, i);
    if (i % 10 === 3) e.payload = { seq: i, blob: "x".repeat(3000) };
    // Multi-byte UTF-8: the encoded size, not the string length, must fit.
    if (i % 10 === 7) e.payload = { seq: i, text: "é€".repeat(600) };
    events.push(e);
  }
  const big = event("d1", 1500);
  big.payload = { seq: 1500, blob: "y".repeat(12_000) };
  events[1500] = big;
  return { events, big: big.id };
}

// max_packet_size: MQTT 5 clients are told in CONNACK; a larger packet closes the connection.
// message_size_limit (MQTT 5): mosquitto 2.0.11 answers a larger payload with PUBACK 0x95, a code
// MQTT 5 §3.4.2.1 does not allow; MQTT.js stops parsing, so the link reconnects and the probe that
// was lost halves the ceiling as for a closed connection. (With 3.1.1 the broker acknowledges and
// drops it: a silent loss no client can see, which the 3.1.1 warning is about.)
const cases = [
  { version: "5", conf: "max_packet_size 8192", mode: "announced" },
  { version: "3.1.1", conf: "max_packet_size 8192", mode: "closed" },
  { version: "5", conf: "message_size_limit 8192", mode: "bad-puback" },
] as const;

for (const { version, conf, mode } of cases) {
  test(`${conf}, MQTT ${version}: everything that fits arrives, the one event that cannot is skipped and reported`, async () => {
    const broker = await startMosquitto({ extraConfig: [conf], maxSeconds: 120 });
    const t = tempDir();
    const gw = `gw-${mode}-${version.replace(/\./g, "")}`;
    const cap = captureLog();
    const s = makeParts({ dataDir: t.dir, log: cap.log, config: { gateway: { id: gw }, cloud: { mqtt: { url: broker.url, version, ...fast } } } });
    const sub = await collect(broker.url, gw);
    const up = await createUplink(s);
    try {
      const { events, big } = workload();
      await up.sink.accept(events.slice(0, 1000));
      await up.start();
      await waitFor("link up", () => up.link!.connected, 10_000);
      for (let i = 1000; i < events.length; i += 250) await up.sink.accept(events.slice(i, i + 250));
      const want = events.map((e) => e.id).filter((id) => id !== big);
      await waitFor("every event that fits at the subscriber", () => want.every((id) => sub.ids.has(id)), 60_000, 50);
      await waitFor("queue empty", () => up.queue.depth() === 0, 10_000);
      const c = sub.check();
      assert.equal(c.missing(want), [], "none lost");
      assert.not.ok(sub.ids.has(big), "the oversize event was not delivered");
      assert.equal(c.orderViolations, []);
      assert.equal(c.conflicts, []);
      const st = up.link!.status() as {
        connects: number;
        maxPacketBytes: { announced: number | null; learned: number | null };
        oversize?: { events: number; last: { id: string; reason: string } };
      };
      assert.ok(st.oversize, "oversize reported in status");
      assert.is(st.oversize.events, 1);
      assert.is(st.oversize.last.id, big);
      const m = await s.metrics.text();
      const sent = metric(m, /ridge_uplink_sent_events_total\{[^}]*\} (\d+)/g);
      const acked = metric(m, /ridge_uplink_acked_events_total\{[^}]*\} (\d+)/g);
      assert.is(acked, want.length, "acknowledged = delivered (the skipped one is not counted)");
      const logged = cap.records.filter((r) => typeof r.msg === "string" && r.msg.includes(big) && r.msg.includes("skipped"));
      assert.is(logged.length, 1, "the skip is logged once");
      const v311Warnings = cap.records.filter((r) => typeof r.msg === "string" && r.msg.includes("MQTT 3.1.1 has no way to refuse"));
      console.log(`${conf}, MQTT ${version}: ${want.length} of ${events.length} delivered, ${sent} events sent (${sent - want.length} re-sent), ${st.connects} connections, ceiling announced ${st.maxPacketBytes.announced} learned ${st.maxPacketBytes.learned}`);
      if (mode === "announced") {
        assert.is(st.maxPacketBytes.announced, 8192);
        assert.is(st.oversize.last.reason, "announced");
        assert.match(m, /ridge_uplink_oversize_skipped_total\{priority="telemetry",reason="announced"\} 1/);
        assert.is(st.connects, 1, "the announced limit was kept: the broker never closed the link");
        assert.is(sent, want.length, "nothing was sent twice");
        assert.is(v311Warnings.length, 0);
      } else if (mode === "bad-puback") {
        assert.is(st.maxPacketBytes.announced, null);
        assert.ok(st.maxPacketBytes.learned !== null && st.maxPacketBytes.learned <= 8192 + 64, `learned ${st.maxPacketBytes.learned}`);
        assert.is(st.oversize.last.reason, "closed");
        assert.match(m, /ridge_uplink_connect_failures_total\{code="E_CLOUD_PROTOCOL"\} \d+/);
        assert.ok(st.connects >= 3 && st.connects <= 12, `${st.connects} connections`);
        assert.ok(sent < want.length * 1.5, `${sent} events sent for ${want.length}`);
        assert.is(v311Warnings.length, 0);
      } else {
        assert.is(st.maxPacketBytes.announced, null);
        assert.ok(st.maxPacketBytes.learned !== null && st.maxPacketBytes.learned <= 8192, `learned ${st.maxPacketBytes.learned}`);
        assert.is(st.oversize.last.reason, "closed");
        assert.match(m, /ridge_uplink_oversize_skipped_total\{priority="telemetry",reason="closed"\} 1/);
        // Each halving or strike costs one connection: a handful, not a loop.
        assert.ok(st.connects >= 3 && st.connects <= 12, `${st.connects} connections`);
        // Only the probe (the one packet larger than any acknowledged) is sent again after each close.
        assert.ok(sent < want.length * 1.5, `${sent} events sent for ${want.length}`);
        assert.is(v311Warnings.length, 1, "the MQTT 3.1.1 warning is logged once, not per connection");
      }
    } finally {
      await up.stop();
      await sub.close();
      await broker.cleanup();
      s.db.close();
      t.cleanup();
    }
  });
}

test("an ACL denies telemetry (MQTT 5, PUBACK 0x87): held with backoff, not a reconnect loop; the reason is in status; sent once allowed", async () => {
  const t = tempDir();
  const gw = "gw-acl";
  const acl = join(t.dir, "acl");
  // Anonymous clients (the lines before any `user`): read everything of ridge/, publish alarms only.
  writeFileSync(acl, `topic read ridge/#\ntopic write ridge/${gw}/up/alarm\n`);
  const broker = await startMosquitto({ extraConfig: [`acl_file ${acl}`], maxSeconds: 120 });
  const clock = new FakeClock(Date.now());
  const s = makeParts({
    dataDir: t.dir,
    clock,
    random: new SeededRandom(14),
    config: { gateway: { id: gw }, cloud: { mqtt: { url: broker.url, version: "5", backoff: { base: 1000, cap: 60_000 }, batch: { maxEvents: 100 } }, queue: { groupCommit: { events: 1 } } } },
  });
  const sub = await collect(broker.url, gw);
  const up = await createUplink(s);
  try {
    await up.start();
    await waitFor("link up", () => up.link!.connected, 10_000);
    const telemetry = Array.from({ length: 300 }, (_, i) => event(`d${i % 3}`, i));
    await up.sink.accept(telemetry);
    type St = { connects: number; inflightBatches: number; lastError?: { code: string; reasonCode?: number; reason?: string }; publishRefused?: { total: number; held: Record<string, { reason: string }> } };
    const st = () => up.link!.status() as St;
    await waitFor("the first refusal", () => (st().publishRefused?.total ?? 0) >= 1, 10_000);
    await waitFor("nothing in flight", () => st().inflightBatches === 0, 10_000);
    // Alarms are allowed by the ACL and are not held behind the denied telemetry.
    await up.sink.accept([event("d0", 9000, "alarm")]);
    await waitFor("the alarm arrived", () => sub.ids.has("d0/9000"), 10_000);

    // Ten simulated minutes, one second at a time; after each step the real broker answers any retry.
    let publishes = 0;
    for (let i = 0; i < 600; i++) {
      await clock.advance(1000);
      if (st().inflightBatches > 0) {
        publishes++;
        await waitFor("the retry refused", () => st().inflightBatches === 0, 10_000, 5);
      }
    }
    const after = st();
    const refused = after.publishRefused!.total;
    console.log(`ACL denial: ${publishes} retries and ${refused} refusals in 600 simulated seconds, ${after.connects} connection(s)`);
    assert.is(after.connects, 1, "no reconnect");
    // Full jitter, base 1 s, cap 60 s: about log2(60) doubling steps then one retry per ~30 s on
    // average — tens in ten minutes; a tight loop would be one per round trip (thousands).
    assert.ok(publishes >= 5 && publishes <= 60, `${publishes} retries`);
    assert.ok(refused >= publishes && refused <= publishes + 5, `${refused} refusals for ${publishes} retries`);
    assert.is(after.lastError?.code, "E_CLOUD_PUBLISH_REFUSED");
    assert.is(after.lastError?.reasonCode, 0x87);
    assert.is(after.lastError?.reason, "Not authorized");
    assert.is(after.publishRefused!.held.telemetry?.reason, "Not authorized (0x87)");
    const m = await s.metrics.text();
    assert.match(m, /ridge_uplink_publish_refused_total\{priority="telemetry",code="0x87",reason="Not authorized"\} \d+/);
    assert.is(up.queue.depth("telemetry"), 300, "nothing deleted while refused");
    assert.not.ok(telemetry.some((e) => sub.ids.has(e.id)));

    // Allow it (mosquitto reloads acl_file on SIGHUP): the next retry sends everything.
    writeFileSync(acl, `topic read ridge/#\ntopic write ridge/${gw}/#\n`);
    process.kill(broker.pid()!, "SIGHUP");
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 120 && up.queue.depth("telemetry") > 0; i++) {
      await clock.advance(1000);
      await waitFor("in flight answered", () => st().inflightBatches === 0, 10_000, 5);
    }
    await waitFor("every telemetry event arrived", () => telemetry.every((e) => sub.ids.has(e.id)), 10_000);
    assert.equal(sub.check().orderViolations, []);
    assert.is(st().publishRefused!.held.telemetry, undefined, "no longer held");
  } finally {
    await up.stop();
    await sub.close();
    await broker.cleanup();
    s.db.close();
    t.cleanup();
  }
});

test("a stalled broker (SIGSTOP) never answers: ackTimeout on an injected clock reconnects, nothing is skipped, everything arrives after SIGCONT", async () => {
  const broker = await startMosquitto({ maxSeconds: 120 });
  const t = tempDir();
  const gw = "gw-stall";
  const clock = new FakeClock(Date.now());
  const s = makeParts({
    dataDir: t.dir,
    clock,
    random: new SeededRandom(3),
    config: { gateway: { id: gw }, cloud: { mqtt: { url: broker.url, version: "5", connectTimeout: 2000, backoff: { base: 1000, cap: 10_000 } }, queue: { groupCommit: { events: 1 } } } },
  });
  const sub = await collect(broker.url, gw);
  const up = await createUplink(s);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await up.start();
    await waitFor("link up", () => up.link!.connected, 10_000);
    const first = Array.from({ length: 100 }, (_, i) => event(`d${i % 2}`, i));
    await up.sink.accept(first);
    await waitFor("the first batch acknowledged", () => up.queue.depth() === 0, 10_000);
    broker.pause();
    // A larger batch than any acknowledged (a probe, halved on each timeout), then batches of known size.
    const rest = Array.from({ length: 400 }, (_, i) => event(`d${i % 2}`, 100 + i));
    await up.sink.accept(rest);
    for (let i = 0; i < 30; i++) {
      await clock.advance(5000);
      await sleep(20);
    }
    const m = await s.metrics.text();
    assert.match(m, /ridge_uplink_connect_failures_total\{code="E_CLOUD_NO_PUBACK"\} \d+/);
    broker.resume();
    const want = [...first, ...rest].map((e) => e.id);
    for (let i = 0; i < 200 && !want.every((id) => sub.ids.has(id)); i++) {
      await clock.advance(1000);
      await sleep(50);
    }
    assert.equal(sub.check().missing(want), [], "none lost");
    assert.is((up.link!.status() as { oversize?: unknown }).oversize, undefined, "nothing was skipped for want of a PUBACK");
    await waitFor("queue empty", async () => {
      await clock.advance(1000);
      return up.queue.depth() === 0;
    }, 10_000, 50);
  } finally {
    broker.resume();
    await up.stop();
    await sub.close();
    await broker.cleanup();
    s.db.close();
    t.cleanup();
  }
});

test.run();
