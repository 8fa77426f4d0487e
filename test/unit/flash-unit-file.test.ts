// The systemd unit and the boot launcher, per board (data, not code): hardening, watchdog, device
// access from the board file; the launcher's slot choice and fallback, run for real with sh.
import { LAUNCH_NODE_FLAGS } from "../../core/launch-env.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listBoards, loadBoard } from "../../boards/index.js";
import { deviceLayout, renderBootLauncher, renderServiceUnit, renderWatchdogDropIn } from "../../boards/flash/index.js";
import { tempDir } from "../helpers/peer.js";

test("every board's unit: notify + watchdog + restart + hardening, writable data dir and slots", () => {
  for (const name of listBoards()) {
    const board = loadBoard(name);
    const L = deviceLayout(board);
    const u = renderServiceUnit(board, L);
    for (const l of ["Type=notify", "NotifyAccess=all", "WatchdogSec=30s", "Restart=always", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", `ExecStart=${L.launcher}`, "WantedBy=multi-user.target", "StartLimitIntervalSec=0"])
      assert.ok(u.split("\n").includes(l), `${name}: ${l}`);
    const rw = u.split("\n").find((x) => x.startsWith("ReadWritePaths="))!;
    assert.ok(rw.split(/[= ]/).includes(L.dataDir), `${name}: data dir writable`);
    assert.ok(rw.split(/[= ]/).includes("/opt/ridgeline/slots") || name === "sim", `${name}: slots writable (OTA)`);
    assert.not.match(u, /MemoryDenyWriteExecute=yes/, "V8 needs W+X pages");
  }
});

test("device access comes from the board file and the config; nvbootctrl gets raw devices", () => {
  const rpi = loadBoard("rpi5");
  const u = renderServiceUnit(rpi, deviceLayout(rpi), { extraDevices: ["/dev/ttyAMA0", "/dev/ttyS3"] });
  assert.ok(u.includes("DevicePolicy=closed"));
  assert.ok(u.includes("DeviceAllow=/dev/ttyAMA0 rw"));
  assert.ok(u.includes("DeviceAllow=/dev/ttyS3 rw"));
  assert.is(u.split("DeviceAllow=/dev/ttyAMA0").length, 2, "no duplicates");
  assert.match(u, /^ReadWritePaths=.* \/boot\/firmware$/m, "the U-Boot env file is writable");
  assert.not.ok(u.includes("/dev/tpmrm0"), "rpi5 has no TPM");
  const jet = loadBoard("jetson-orin-nano");
  const j = renderServiceUnit(jet, deviceLayout(jet));
  assert.not.ok(j.includes("DevicePolicy=closed"), "nvbootctrl writes boot partitions");
  assert.not.ok(j.includes("CapabilityBoundingSet="));
  const gen = loadBoard("generic-arm64");
  assert.ok(renderServiceUnit(gen, deviceLayout(gen)).includes("DeviceAllow=/dev/tpmrm0 rw"));
});

test("hardware watchdog drop-in from the board's watchdog", () => {
  assert.is(renderWatchdogDropIn(loadBoard("generic-arm64")), undefined);
  const d = renderWatchdogDropIn(loadBoard("rpi5"))!;
  assert.match(d, /^\[Manager\]$/m);
  assert.match(d, /^RuntimeWatchdogSec=15s$/m);
  assert.match(d, /^WatchdogDevice=\/dev\/watchdog$/m);
});

test("sim board: a relative data dir becomes /var/lib/ridgeline on a device, slots inside it", () => {
  const L = deviceLayout(loadBoard("sim"));
  assert.is(L.dataDir, "/var/lib/ridgeline");
  assert.is(L.slotA, "/var/lib/ridgeline/slots/a");
  assert.is(L.identityKey, "/var/lib/ridgeline/id.key");
});

test("launcher: active slot, fallback to the other slot, no runtime at all, the slot's own node", () => {
  const t = tempDir("ridge-launcher-");
  try {
    const board = loadBoard("generic-arm64");
    const L = deviceLayout(board);
    const at = (p: string) => join(t.dir, p);
    const launcher = at("ridge-boot");
    writeFileSync(launcher, renderBootLauncher(L));
    chmodSync(launcher, 0o755);
    // a stand-in node in each slot that says which slot and what arguments it got
    const fakeSlot = (dir: string, name: string) => {
      mkdirSync(at(`${dir}/dist`), { recursive: true });
      mkdirSync(at(`${dir}/node/bin`), { recursive: true });
      writeFileSync(at(`${dir}/dist/ridge.mjs`), "");
      writeFileSync(at(`${dir}/node/bin/node`), `#!/bin/sh\necho "${name} $*"\n`);
      chmodSync(at(`${dir}/node/bin/node`), 0o755);
    };
    const run = (env: Record<string, string> = {}, args: string[] = []) => spawnSync("sh", [launcher, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", RIDGE_ROOT: t.dir, ...env } });
    let r = run();
    assert.is(r.status, 78, "no runtime in either slot");
    assert.match(r.stderr, /no runtime in either slot/);
    fakeSlot(L.slotA, "A");
    r = run();
    assert.is(r.stdout.trim(), `A ${LAUNCH_NODE_FLAGS.join(" ")} ${t.dir}${L.slotA}/dist/ridge.mjs run --config ${t.dir}${L.configFile} --data ${t.dir}${L.dataDir}`);
    mkdirSync(at(`${L.dataDir}/boot`), { recursive: true });
    writeFileSync(at(L.activeSlotFile), "b\n");
    r = run();
    assert.match(r.stdout, /^A /, "slot b is empty: falls back to a");
    assert.match(r.stderr, /slot b .* holds no runtime/);
    fakeSlot(L.slotB, "B");
    r = run({}, ["--version"]);
    assert.is(r.stdout.trim(), `B ${LAUNCH_NODE_FLAGS.join(" ")} ${t.dir}${L.slotB}/dist/ridge.mjs --version`);
    r = run({ RIDGE_SLOT: "a" });
    assert.match(r.stdout, /^A /, "RIDGE_SLOT overrides the file");
    writeFileSync(at(L.activeSlotFile), "garbage\n");
    assert.match(run().stdout, /^A /, "an unreadable choice means slot a");
    r = run({ RIDGE_EXEC_WRAPPER: "echo WRAP" });
    assert.match(r.stdout, /^WRAP .*\/slots\/a\/node\/bin\/node /);
  } finally {
    t.cleanup();
  }
});

test.run();
