/** The content-addressed model cache: atomic switch of models/current/<name>, keep N versions, rollback, pruning of blobs. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeClock } from "../../core/clock.js";
import { openDatabase } from "../../runtime/store/db.js";
import { ModelCache } from "../../runtime/store/model-cache.js";
import { tempDir } from "../../peers/process.js";

test("activate, keep 2, rollback, prune unreferenced blobs", async () => {
  const t = tempDir();
  const db = openDatabase(t.dir);
  const clock = new FakeClock(1000);
  const cache = new ModelCache(t.dir, db, { keep: 2, clock });
  const switched: string[] = [];
  cache.onSwitch((n) => switched.push(n));
  const put = (v: string) => {
    const bytes = Buffer.from(`model ${v}`);
    const digest = createHash("sha256").update(bytes).digest("hex");
    const part = cache.partialPath(digest);
    writeFileSync(part, bytes);
    cache.commitBlob(digest, part);
    cache.activate("m", v, digest, bytes.length, { v });
    return digest;
  };
  const d1 = put("1");
  await clock.advance(10);
  const d2 = put("2");
  assert.is(readlinkSync(join(t.dir, "models", "current", "m")), join("..", "sha256", d2));
  assert.is(readFileSync(join(t.dir, "models", "current", "m"), "utf8"), "model 2");
  assert.equal(cache.activeVersions(), { m: "2" });
  assert.ok(cache.rollback("m"));
  assert.equal(cache.activeVersions(), { m: "1" });
  assert.is(cache.linkTarget("m"), d1);
  await clock.advance(10);
  put("3");
  // keep 2: the active (3) and the last activated before it (1); 2 is pruned with its blob
  assert.equal(cache.list().map((r) => r.version).sort(), ["1", "3"]);
  assert.ok(!existsSync(cache.blobPath(d2)));
  assert.ok(existsSync(cache.blobPath(d1)));
  assert.equal(switched, ["m", "m", "m", "m"]);
  assert.is(cache.current("nothing"), undefined);
  db.close();
  t.cleanup();
});

test.run();
