// A gateway started by `ridge boot` without `ota:` gives its start's boot attempt back once it has
// been up for the default upFor (the update agent does this when `ota:` is configured): several
// starts keep the full budget instead of running down to "every slot is out of boot attempts".
// A slot on trial (the update store says pending/trial) is never confirmed by this path.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import Database from "better-sqlite3";
import { loadBoard } from "../../boards/index.js";
import { FakeClock } from "../../core/clock.js";
import { DEFAULT_HEALTH_UP_FOR_MS } from "../../ota/config.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { UpdateStore } from "../../ota/update-store.js";
import type { UpdateState } from "../../ota/update-machine.js";
import { createLogger } from "../../runtime/log.js";
import { createSlotConfirmComponent } from "../../runtime/update/confirm.js";
import { tempDir } from "../../peers/process.js";

const board = loadBoard("sim");

/** One start as the launcher makes it: choose (spending an attempt), run the gateway's component for `upMs`, stop. */
async function start(dir: string, db: Database.Database, upMs: number) {
  const file = join(dir, "boot", "bootctl.json");
  const chosen = new FileBootControl({ file, attempts: board.bootControl.attempts }).chooseBoot()!;
  const clock = new FakeClock(0);
  const c = createSlotConfirmComponent(
    { board, dataDir: dir, db, clock, log: createLogger("silent") },
    { env: { RIDGE_SLOT: chosen.slot }, bootControl: new FileBootControl({ file, attempts: board.bootControl.attempts, booted: chosen.slot }) },
  )!;
  await c.start();
  await clock.advance(upMs);
  await c.stop();
  return { chosen, after: new FileBootControl({ file, attempts: board.bootControl.attempts }).state(), status: c.status!() };
}

test("without RIDGE_SLOT (not started by the launcher) there is nothing to confirm", () => {
  const t = tempDir("ridge-confirm-");
  const db = new Database(join(t.dir, "ridgeline.db"));
  try {
    assert.is(createSlotConfirmComponent({ board, dataDir: t.dir, db, clock: new FakeClock(0), log: createLogger("silent") }, { env: {} }), undefined);
  } finally {
    db.close();
    t.cleanup();
  }
});

test("five healthy starts without ota: each spends one attempt and gets it back after upFor", async () => {
  const t = tempDir("ridge-confirm-");
  const db = new Database(join(t.dir, "ridgeline.db"));
  try {
    for (let i = 0; i < 5; i++) {
      const r = await start(t.dir, db, DEFAULT_HEALTH_UP_FOR_MS);
      assert.equal(r.chosen, { slot: "a", attemptsLeft: 2 }, `start ${i + 1}: a chosen normally, not as a last resort`);
      assert.equal(r.after, { order: ["a", "b"], left: { a: 3, b: 0 } }, `start ${i + 1}: the budget is full again`);
      assert.is(r.status.confirm, "confirmed");
    }
    assert.not.ok(db.prepare("SELECT name FROM sqlite_master WHERE name = 'ota_state'").get(), "no OTA tables created");
  } finally {
    db.close();
    t.cleanup();
  }
});

test("a start that stops before upFor keeps the attempt spent (a crash loop still runs out)", async () => {
  const t = tempDir("ridge-confirm-");
  const db = new Database(join(t.dir, "ridgeline.db"));
  try {
    const r = await start(t.dir, db, DEFAULT_HEALTH_UP_FOR_MS - 1000);
    assert.is(r.after.left.a, 2);
    assert.is(r.status.confirm, "waiting");
  } finally {
    db.close();
    t.cleanup();
  }
});

test("a slot on trial (pending/trial in the update store) is not marked good by this path", async () => {
  const target = { name: "runtime-sim-1.1.0.tar", version: "1.1.0", length: 1, hashes: { sha256: "00" }, path: "targets/00.runtime-sim-1.1.0.tar" };
  for (const st of [
    { s: "pending", target, slot: "b", from: "a", fromVersion: "1.0.0" },
    { s: "trial", target, slot: "b", from: "a", fromVersion: "1.0.0", since: 1 },
  ] as UpdateState[]) {
    const t = tempDir("ridge-confirm-");
    const db = new Database(join(t.dir, "ridgeline.db"));
    try {
      new UpdateStore(db).save(st, 1);
      new FileBootControl({ file: join(t.dir, "boot", "bootctl.json"), attempts: 3 }).markPending("b", 3);
      const r = await start(t.dir, db, DEFAULT_HEALTH_UP_FOR_MS * 2);
      assert.is(r.chosen.slot, "b");
      assert.equal(r.after, { order: ["b", "a"], left: { a: 3, b: 2 } }, `${st.s}: b neither committed nor given its attempt back`);
      assert.is(r.status.confirm, `left to the update (${st.s})`);
    } finally {
      db.close();
      t.cleanup();
    }
  }
});

test.run();
