/** A garbage database file at start: the real gateway reports it, moves it aside with a timestamp, starts fresh, and runs (no crash loop). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, waitFor } from "../helpers/peer.js";
import { queuedIds, startGateway } from "../helpers/cloud.js";

test("corrupted ridgeline.db: moved aside, fresh start, events queue again", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  mkdirSync(data);
  writeFileSync(join(data, "ridgeline.db"), Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4096 * 3, 0xa5)]));
  const config = join(t.dir, "gw.yaml");
  writeFileSync(config, `gateway: { id: gw-corrupt }
drivers:
  - sim: { name: trail, devices: 2, rateHz: 20 }
pipeline:
  sources: { all: { from: trail } }
  sinks:
    cloud: { uplink: {}, input: all }
`);
  const gw = await startGateway(config, data, 60);
  try {
    const moved = readdirSync(data).filter((f) => /^ridgeline\.db\.corrupt-\d{4}-\d{2}-\d{2}T/.test(f));
    assert.is(moved.length, 1, `moved aside: ${readdirSync(data).join(", ")}`);
    await waitFor("error reported", () => /moved to .*corrupt-/.test(gw.output()), 10_000);
    assert.match(gw.output(), /SQLITE_(NOTADB|CORRUPT)/);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await gw.stop();
  }
  assert.ok(queuedIds(data).length > 0, "the fresh queue holds events");
  t.cleanup();
});

test.run();
