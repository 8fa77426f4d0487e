// The runtime's update component with real services around it (SQLite, routes, metrics, a
// capturing uplink sink): GET /ota/state, a downlink notification starting a check, every state
// reported as an `ota` event for ridge/<id>/up/ota, the commit re-measured, and the refusal to
// install without the launcher.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { systemClock, SeededRandom } from "../../core/clock.js";
import type { Event } from "../../core/event.js";
import { loadBoard } from "../../boards/index.js";
import { gatewayConfig } from "../../runtime/config/schema.js";
import { Metrics } from "../../runtime/metrics.js";
import { Routes } from "../../runtime/control/routes.js";
import { Measurements, type DownlinkHandler, type Measurement } from "../../runtime/contracts.js";
import { createUpdateComponent } from "../../runtime/update/index.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { makeDevice } from "../helpers/ota-device.js";
import { waitFor } from "../../peers/process.js";

async function services(dataDir: string, repo: string) {
  const handlers = new Map<string, DownlinkHandler>();
  const events: Event[] = [];
  const measured: Measurement[] = [];
  const measurements = new Measurements();
  measurements.listen((w) => void measured.push(w));
  const s = {
    config: gatewayConfig.parse({ gateway: { id: "gw-1" }, ota: { repo, poll: 0, root: join(dataDir, "root.json"), health: { upFor: "10ms", drivers: true } } }),
    board: loadBoard("sim"),
    dataDir,
    clock: systemClock,
    random: new SeededRandom(1),
    log: pino({ level: "silent" }),
    metrics: new Metrics(false),
    db: new Database(join(dataDir, "ridgeline.db")),
    routes: new Routes(),
    drivers: new Map(),
    downlink: { on: (p: string, h: DownlinkHandler) => void handlers.set(p, h) },
    uplink: { append: async (b: readonly Event[]) => void events.push(...b) },
    cloudUp: () => false,
    measurements,
  };
  return { s, handlers, events, measured };
}

test("downlink notification → check → pending, each state reported as an ota event; restart requested; trial and commit in the new slot", async () => {
  const d = await makeDevice();
  const prev = process.env.RIDGE_SLOT;
  try {
    await d.publish("1.1.0", "ok");
    process.env.RIDGE_SLOT = "a";
    const { s, handlers, events } = await services(d.dataDir, d.repo.dir);
    const restarts: string[] = [];
    const c = (await createUpdateComponent({ ...s, requestRestart: (r) => restarts.push(r) }))!;
    await c.start();
    const st0 = await s.routes.match("GET", "/ota/state")!({} as never);
    assert.is((st0.body as { state: { s: string } }).state.s, "idle");
    await handlers.get("ota")!("ota", Buffer.from(JSON.stringify({ target: "runtime-sim-1.1.0.tar" })));
    await waitFor("pending", () => restarts.length > 0, 20_000);
    const states = events.filter((e) => (e.payload as { s: string }).s !== "progress");
    assert.equal(states.map((e) => `${e.kind}:${(e.payload as { s: string }).s}`), ["ota:checking", "ota:downloading", "ota:verifying", "ota:installing", "ota:pending"]);
    // progress for the cloud: each phase's start and end at least
    const progress = events.filter((e) => (e.payload as { s: string }).s === "progress").map((e) => e.payload as { phase: string; done: number; total: number });
    for (const phase of ["download", "unpack"]) assert.ok(progress.some((p) => p.phase === phase && p.done === p.total), `${phase} progress reported`);
    assert.ok(events.every((e) => e.device === "gw-1"));
    assert.is((c.status!() as { state: string }).state, "pending");
    await c.stop();
    s.db.close();

    // the launcher boots b; the component in b runs the trial and commits
    assert.is(new FileBootControl({ file: d.bootFile, attempts: 3 }).chooseBoot()!.slot, "b");
    process.env.RIDGE_SLOT = "b";
    const b = await services(d.dataDir, d.repo.dir);
    const c2 = (await createUpdateComponent({ ...b.s, requestRestart: () => {} }))!;
    await c2.start();
    await waitFor("commit", () => (c2.status!() as { state: string }).state === "committed", 10_000);
    assert.equal(b.measured.map((m) => `${m.kind}:${m.name}`), ["runtime:runtime-sim-1.1.0.tar@1.1.0"]);
    assert.is(b.events.at(-1)?.payload.s, "committed");
    assert.match(await b.s.metrics.text(), /ridge_ota_state\{state="committed"\} 1/);
    await c2.stop();
    b.s.db.close();
  } finally {
    if (prev === undefined) delete process.env.RIDGE_SLOT;
    else process.env.RIDGE_SLOT = prev;
    d.cleanup();
  }
});

test("without the launcher (no RIDGE_SLOT, file boot control) a check installs nothing and says why", async () => {
  const d = await makeDevice();
  const prev = process.env.RIDGE_SLOT;
  try {
    await d.publish("1.1.0", "ok");
    delete process.env.RIDGE_SLOT;
    const { s } = await services(d.dataDir, d.repo.dir);
    const c = (await createUpdateComponent({ ...s, requestRestart: () => assert.unreachable() }))!;
    await c.start();
    await s.routes.match("POST", "/ota/check")!({} as never);
    await waitFor("lastError", () => (c.status!() as { lastError?: string }).lastError, 5000);
    assert.match((c.status!() as { lastError: string }).lastError, /E_OTA_NO_LAUNCHER/);
    assert.is((c.status!() as { state: string }).state, "idle");
    await c.stop();
    s.db.close();
  } finally {
    if (prev !== undefined) process.env.RIDGE_SLOT = prev;
    d.cleanup();
  }
});

test.run();
