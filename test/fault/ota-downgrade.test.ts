// Downgrades: a version below the running one installs only with both halves of the permission,
// the signed target's allowDowngradeFrom naming the running version and the local side asking
// (--allow-downgrade, or "allowDowngrade": true on the cloud's downlink); the anti-rollback floor
// holds whatever is asked. Generated over running version, floor, target and permissions, through
// the agent (what `ridge ota install --target` runs) and through the runtime's downlink handler.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import pino from "pino";
import { systemClock, SeededRandom } from "../../core/clock.js";
import { compareVersions } from "../../ota/version-order.js";
import { hostArch, loadBoard } from "../../boards/index.js";
import { gatewayConfig } from "../../runtime/config/schema.js";
import { Metrics } from "../../runtime/metrics.js";
import { Routes } from "../../runtime/control/routes.js";
import { Measurements, type DownlinkHandler } from "../../runtime/contracts.js";
import { createUpdateComponent } from "../../runtime/update/index.js";
import { fetcherFor, readMarker, writeMarker } from "../../ota/index.js";
import { makeDevice, runtimeBundle, type TestDevice } from "../helpers/ota-device.js";
import { waitFor } from "../../peers/process.js";

const VERSIONS = ["0.8.0", "0.9.0", "1.0.0", "1.1.0"];
/** name → version and whom it may replace (signed). */
const TARGETS: Record<string, { version: string; from?: string[] }> = {
  "old-signed": { version: "0.9.0", from: ["1.0.0", "1.1.0"] },
  "old-unsigned": { version: "0.9.0" },
  "older-signed": { version: "0.8.0", from: ["0.9.0", "1.0.0"] },
  same: { version: "1.0.0" },
  newer: { version: "1.1.0" },
};

async function device(): Promise<TestDevice> {
  const d = await makeDevice();
  const base = join(d.repo.dir, "..");
  for (const [name, t] of Object.entries(TARGETS)) {
    const f = await runtimeBundle(base, t.version, "ok");
    await d.repo.repo.addTarget(f, name, { kind: "runtime", version: t.version, boards: ["sim"], arch: [hostArch()], ...(t.from ? { allowDowngradeFrom: t.from } : {}) });
  }
  d.repo.repo.sign(d.repo.all());
  return d;
}

function expected(running: string, floor: string, name: string, allow: boolean): string {
  const t = TARGETS[name]!;
  if (compareVersions(t.version, floor)! < 0) return "E_OTA_ROLLBACK";
  if (compareVersions(t.version, running)! >= 0) return "pending";
  return allow && t.from?.includes(running) ? "pending" : "E_OTA_DOWNGRADE";
}

test("the agent (ridge ota install --target): installs iff not below the floor and (not older, or signed and asked)", async () => {
  const d = await device();
  try {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...VERSIONS), fc.constantFrom(...VERSIONS), fc.constantFrom(...Object.keys(TARGETS)), fc.boolean(), async (running, floorPick, name, allow) => {
        const floor = compareVersions(floorPick, running)! > 0 ? running : floorPick; // a floor is never above what runs
        const db = new Database(":memory:");
        try {
          // what runs is what slot a's marker says
          writeMarker(d.slot("a"), { ...readMarker(d.slot("a"))!, version: running });
          const agent = d.agent({ db, booted: "a", runningVersion: running, mirrors: [fetcherFor(d.repo.dir)] });
          if (floor !== "0.8.0") db.prepare("INSERT INTO ota_floor (kind, version) VALUES ('runtime', ?)").run(floor);
          await agent.check("local", { target: name, ...(allow ? { allowDowngrade: true } : {}) });
          const st = agent.state();
          const got = st.s === "failed" ? st.code : st.s;
          assert.is(got, expected(running, floor, name, allow), `running ${running}, floor ${floor}, ${name} (${TARGETS[name]!.version}), allow ${allow}: ${st.s === "failed" ? st.reason : st.s}`);
          if (got === "E_OTA_DOWNGRADE") assert.match((st as { reason: string }).reason, /older than the running/);
          // a poll never picks an older version, whatever was allowed before
          agent.stop();
        } finally {
          db.close();
        }
      }),
      { numRuns: 40 },
    );
  } finally {
    d.cleanup();
  }
});

test("the cloud's downlink {target}: an older signed target installs only with allowDowngrade: true in the message", async () => {
  const d = await device();
  const prev = process.env.RIDGE_SLOT;
  process.env.RIDGE_SLOT = "a";
  try {
    for (const [msg, want] of [
      [{ target: "old-unsigned", allowDowngrade: true }, "E_OTA_DOWNGRADE"],
      [{ target: "old-signed" }, "E_OTA_DOWNGRADE"],
      [{ target: "old-signed", allowDowngrade: "yes" }, "E_OTA_DOWNGRADE"],
      [{ target: "old-signed", allowDowngrade: true }, "pending"],
    ] as const) {
      const handlers = new Map<string, DownlinkHandler>();
      const db = new Database(":memory:");
      const c = (await createUpdateComponent({
        config: gatewayConfig.parse({ gateway: { id: "gw-dg" }, ota: { repo: d.repo.dir, poll: 0, root: join(d.dataDir, "root.json"), health: { upFor: "10ms" } } }),
        board: loadBoard("sim"),
        dataDir: d.dataDir,
        clock: systemClock,
        random: new SeededRandom(1),
        log: pino({ level: "silent" }),
        metrics: new Metrics(false),
        db,
        routes: new Routes(),
        drivers: new Map(),
        downlink: { on: (p: string, h: DownlinkHandler) => void handlers.set(p, h) },
        uplink: { append: async () => {} },
        cloudUp: () => false,
        measurements: new Measurements(),
        requestRestart: () => {},
      }))!;
      await c.start();
      await handlers.get("ota")!("ota", Buffer.from(JSON.stringify(msg)));
      const state = () => c.status!() as { state: string; lastError?: string };
      await waitFor("the check to settle", () => ["pending", "failed"].includes(state().state), 20_000);
      const got = state().state === "pending" ? "pending" : (JSON.parse(db.prepare("SELECT state FROM ota_state WHERE id = 1").pluck().get() as string) as { code: string }).code;
      assert.is(got, want, JSON.stringify(msg));
      await c.stop();
      db.close();
    }
  } finally {
    if (prev === undefined) delete process.env.RIDGE_SLOT;
    else process.env.RIDGE_SLOT = prev;
    d.cleanup();
  }
});

test.run();
