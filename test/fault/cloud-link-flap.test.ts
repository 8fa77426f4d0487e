/**
 * Link flaps: the broker is stopped and started 20 times while the real gateway's sim driver
 * produces 1,000 events/s. The subscriber must receive every event id the queue acknowledged,
 * per-device order must hold, and duplicates may only be redeliveries of the same id.
 *
 * Duration: RIDGE_FLAP_SECONDS (default 60 s: the minute; `npm run soak` runs it for 10 minutes).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { startMosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { collect, gaps, queuedIds, startGateway, writeSimUplinkConfig } from "../helpers/cloud.js";

const SECONDS = Number(process.env.RIDGE_FLAP_SECONDS ?? 60);
const FLAPS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(`${FLAPS} broker restarts in ${SECONDS} s at 1,000 events/s: every acknowledged id arrives, in order`, async () => {
  const t = tempDir();
  const broker = await startMosquitto({ persist: true, maxSeconds: SECONDS + 120 });
  const sub = await collect(broker.url, "gw-flap");
  const config = join(t.dir, "gw.yaml");
  writeSimUplinkConfig(config, { id: "gw-flap", url: broker.url, devices: 20, rateHz: 50, batch: 500, inflight: 8, backoffCap: 400 });
  const data = join(t.dir, "data");
  const gw = await startGateway(config, data, SECONDS + 120);
  try {
    const period = (SECONDS * 1000) / FLAPS;
    for (let i = 0; i < FLAPS; i++) {
      await sleep(period * 0.6);
      await broker.stop();
      await sleep(period * 0.4);
      await broker.restart();
    }
    const before = sub.ids.size;
    await waitFor("traffic after the last restart", () => sub.ids.size > before + 1000, 20_000, 100);
    await gw.stop();
    const left = queuedIds(data);
    // The clean stop committed everything; what is still queued was never acknowledged by the
    // broker and waits for the next start. Everything else must be at the subscriber.
    await waitFor("the subscriber caught up", async () => {
      const n = sub.ids.size;
      await sleep(500);
      return sub.ids.size === n;
    }, 20_000, 0);
    const delivered = [...sub.ids];
    assert.ok(delivered.length > SECONDS * 1000 * 0.5, `${delivered.length} events delivered`);
    assert.equal(gaps([...delivered, ...left]), [], "no acknowledged event is missing");
    const c = sub.check();
    console.log(`flaps: ${FLAPS}, delivered ${delivered.length} ids, ${c.duplicates} redeliveries, ${left.length} still queued at stop`);
    assert.equal(c.orderViolations, [], "per-device order");
    // Duplicates are only redeliveries: the same id with the same content.
    assert.equal(c.conflicts, []);
    const metrics = gw.output();
    assert.not.match(metrics, /FATAL|uncaught/i);
  } finally {
    await gw.stop();
    await sub.close();
    await broker.cleanup();
    t.cleanup();
  }
});

test.run();
