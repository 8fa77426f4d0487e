// A new runtime that crashes at every start, one that starts but fails its health check, and one
// that refuses the existing config (exit 2, which stops a committed slot): all roll back automatically to the old slot (real launcher, real child processes) and the
// reason is recorded and reported to the cloud; the anti-rollback floor does not move.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { readMarker } from "../../ota/slot-marker.js";
import { makeDevice, type Behaviour } from "../helpers/ota-device.js";
import { serveRepo } from "../helpers/ota-http.js";
import { bootOnce, journal, otaHistory, published } from "../helpers/ota-launch.js";

async function scenario(behaviour: Behaviour) {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", behaviour);
    const run = await bootOnce(d.dataDir, { OTA_TEST_REPO: srv.url });
    const db = new Database(join(d.dataDir, "ridgeline.db"), { readonly: true });
    const st = JSON.parse((db.prepare("SELECT state FROM ota_state WHERE id = 1").get() as { state: string }).state) as { s: string; code?: string; reason?: string };
    const floor = db.prepare("SELECT version FROM ota_floor WHERE kind = 'runtime'").get();
    db.close();
    const boot = JSON.parse(readFileSync(d.bootFile, "utf8")) as { order: string[]; left: Record<string, number> };
    return { run, st, floor, boot, history: otaHistory(d.dataDir), journal: journal(d.dataDir), published: published(d.dataDir), markerA: readMarker(d.slot("a")) };
  } finally {
    await srv.close();
    d.cleanup();
  }
}

test("a runtime that crashes at start: 3 attempts, then the old slot boots and records the rollback", async () => {
  const r = await scenario("crash");
  assert.is(r.run.code, 0, r.journal.join("\n"));
  assert.is(r.journal.filter((l) => l === "crash slot=b").length, 3, "three boot attempts of slot b");
  const lastStart = r.journal.filter((l) => l.startsWith("start ")).pop()!;
  assert.match(lastStart, /slot=a version=1\.0\.0/);
  assert.is(r.st.s, "rolled-back");
  assert.is(r.st.code, "E_OTA_BOOT_FAILED");
  assert.ok(r.markerA);
  assert.is(r.floor, undefined);
  const last = r.published[r.published.length - 1]!;
  assert.is(last.s, "rolled-back");
  assert.is(last.code, "E_OTA_BOOT_FAILED");
  assert.not.ok(r.published.some((p) => p.s === "committed"));
});

test("a runtime that starts but fails its health check: rolled back at once with the reason", async () => {
  const r = await scenario("unhealthy");
  assert.is(r.run.code, 0, r.journal.join("\n"));
  assert.is(r.journal.filter((l) => l.startsWith("start slot=b")).length, 1);
  assert.match(r.journal.filter((l) => l.startsWith("start ")).pop()!, /slot=a version=1\.0\.0/);
  assert.is(r.st.s, "rolled-back");
  assert.is(r.st.code, "E_OTA_HEALTH");
  assert.match(r.st.reason ?? "", /drivers down/);
  assert.is(r.floor, undefined);
  assert.not.ok(r.published.some((p) => p.s === "committed"));
});

test("a runtime that refuses the existing config (exit 2) during its trial: rolled back through a restart, not stopped", async () => {
  const r = await scenario("bad-config");
  assert.is(r.run.code, 0, `${r.run.output}\n${r.journal.join("\n")}`);
  assert.is(r.journal.filter((l) => l === "bad-config slot=b").length, 1, "one start of slot b: given up at once, not after its attempts");
  assert.match(r.run.output, /slot b refused the config during its trial: rolling back to a/);
  assert.not.match(r.run.output, /not a slot failure; stopping/);
  assert.match(r.journal.filter((l) => l.startsWith("start ")).pop()!, /slot=a version=1\.0\.0/, "the old slot runs");
  assert.is(r.st.s, "rolled-back");
  assert.is(r.st.code, "E_OTA_CONFIG_REFUSED");
  assert.match(r.st.reason ?? "", /slot b refused the config during its trial: E_CONFIG_INVALID: .*unrecognized key/);
  const last = r.history[r.history.length - 1]!;
  assert.equal([last.state, last.version, last.code], ["rolled-back", "1.1.0", "E_OTA_CONFIG_REFUSED"]);
  assert.is(r.floor, undefined, "the floor did not move");
  assert.equal(r.boot.order, ["a", "b"]);
  assert.is(r.boot.left.b, 0);
  assert.not.ok(r.published.some((p) => p.s === "committed"));
});

test.run();
