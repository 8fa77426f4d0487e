/**
 * kill -9 of the real gateway process (`ridge run`, sim driver at 1,000 events/s) during appends
 * (broker down) and during draining (broker up, backlog), repeated. No acknowledged event may be
 * missing at the subscriber: every id found in the queue after a kill arrives, and per device and
 * run the delivered sequence numbers have no holes (commits are in order, so a hole would be a
 * committed event lost).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { startMosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { collect, gaps, queuedIds, startGateway, writeSimUplinkConfig } from "../helpers/cloud.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("kill -9 during appends and during draining, three times each: nothing acknowledged is lost", async () => {
  const t = tempDir();
  const broker = await startMosquitto({ persist: true, maxSeconds: 150 });
  const sub = await collect(broker.url, "gw-k9");
  const config = join(t.dir, "gw.yaml");
  writeSimUplinkConfig(config, { id: "gw-k9", url: broker.url, devices: 10, rateHz: 100, batch: 200, inflight: 4, backoffCap: 300 });
  const data = join(t.dir, "data");
  const mustArrive = new Set<string>();
  try {
    for (let round = 0; round < 3; round++) {
      // During appends: the broker is down, everything goes to the queue; kill mid-stream.
      await broker.stop();
      let gw = await startGateway(config, data);
      await sleep(800 + round * 300);
      await gw.kill9();
      const q1 = queuedIds(data);
      assert.ok(q1.length > 0, "events were queued before the kill");
      for (const id of q1) mustArrive.add(id);

      // During draining: the broker is back, the backlog drains while new events come; kill mid-drain.
      await broker.restart();
      gw = await startGateway(config, data);
      await waitFor("draining started", () => sub.ids.size > 0 && [...mustArrive].some((id) => sub.ids.has(id)), 15_000, 10);
      await gw.kill9();
      for (const id of queuedIds(data)) mustArrive.add(id);
    }
    // Last start: drain everything, then stop cleanly.
    const gw = await startGateway(config, data);
    await waitFor("every id queued at a kill arrives", () => [...mustArrive].every((id) => sub.ids.has(id)), 60_000, 200);
    await gw.stop();
    const left = queuedIds(data);
    const delivered = [...sub.ids];
    const holes = gaps([...delivered, ...left]);
    assert.equal(holes, [], "no committed event lost");
    const c = sub.check();
    assert.equal(c.orderViolations, []);
    assert.equal(c.conflicts, [], "duplicates are only redeliveries of the same event");
    const missing = [...mustArrive].filter((id) => !sub.ids.has(id));
    assert.equal(missing, []);
    assert.ok(delivered.length > 1000, `${delivered.length} delivered`);
  } finally {
    await sub.close();
    await broker.cleanup();
    t.cleanup();
  }
});

test.run();
