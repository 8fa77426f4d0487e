// runtime/control/cloud-down.ts on a fake clock: degraded only after the link has been down for
// the configured time, counted from the start when it was never up, reset when it comes back.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import { CloudDownWatch } from "../../runtime/control/cloud-down.js";
import { formatStatus } from "../../runtime/cli/commands/status.js";

test("down since the start, degraded past the limit, fine once up, counted again from the next loss", async () => {
  const clock = new FakeClock(1_000_000);
  let up = false;
  const w = new CloudDownWatch(clock, () => up, 60_000);
  w.start();
  await clock.advance(59_000);
  assert.is(w.degraded(), undefined);
  await clock.advance(2_000);
  const d = w.degraded();
  assert.is(d?.code, "E_CLOUD_DOWN");
  assert.is(d?.downForSec, 61);
  up = true;
  await clock.advance(1_000);
  assert.is(w.degraded(), undefined);
  await clock.advance(10 * 60_000);
  up = false;
  await clock.advance(30_000);
  assert.is(w.degraded(), undefined, "counted from the loss, not from the start");
  await clock.advance(31_000);
  assert.ok(w.degraded());
  w.stop();
  assert.is(clock.pending(), 0);
});

test("ridge status: headers, the degraded reason, one row per component", () => {
  const lines = formatStatus({
    version: "0.1.0",
    gateway: "gw-7",
    board: "sim",
    arch: "x64",
    uptimeSec: 700,
    healthy: false,
    degraded: [{ code: "E_CLOUD_DOWN", message: "the cloud link has been down for 11 min" }],
    components: {
      uplink: { state: "up", health: { up: true }, restarts: 0, queued: 12 },
      "driver:rs485-1": { state: "failed", health: { up: false, detail: "port gone" }, restarts: 3, lastError: { code: "E_MODBUS_PORT", message: "/dev/ttyAMA0 vanished" } },
    },
  });
  assert.equal(lines, [
    "gateway gw-7  ridgeline 0.1.0  board sim (x64)  up 700 s  DEGRADED",
    "  ! E_CLOUD_DOWN: the cloud link has been down for 11 min",
    "  COMPONENT       STATE   HEALTH  RESTARTS  DETAIL",
    "  uplink          up      up      0         queued=12",
    "  driver:rs485-1  failed  down    3         (port gone) last=E_MODBUS_PORT",
    "                  ! E_MODBUS_PORT: /dev/ttyAMA0 vanished",
  ]);
});

test.run();
