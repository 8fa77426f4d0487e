// The systemd unit and the boot launcher, per board (data, not code): hardening, watchdog, device
// access from the board file, secrets as credentials, the service user; the launcher's slot choice
// and fallback and the device's `ridge` command, run for real with sh.
import { LAUNCH_NODE_FLAGS } from "../../core/launch-env.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CREDENTIAL_PREFIX, LAST_EXIT_REL, listBoards, loadBoard } from "../../boards/index.js";
import { deviceLayout, renderBootLauncher, renderRidgeCommand, renderServiceUnit, renderSysusers, renderTmpfiles, renderTpmUdevRule, renderWatchdogDropIn, serviceRunsAsRoot } from "../../flash/index.js";
import { DEVICE_CREDENTIALS_DIR } from "../../runtime/config/load.js";
import { LAST_EXIT_REL as RUNTIME_LAST_EXIT_REL } from "../../runtime/cli/last-exit.js";
import { tempDir } from "../../peers/process.js";

test("every board's unit: notify + watchdog + restart + hardening, writable data dir and slots", () => {
  for (const name of listBoards()) {
    const board = loadBoard(name);
    const L = deviceLayout(board);
    const u = renderServiceUnit(board, L);
    const lines = u.split("\n");
    for (const l of [
      "Type=notify",
      "NotifyAccess=all",
      "WatchdogSec=30s",
      "Restart=always",
      "RestartPreventExitStatus=2 78",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "ProtectProc=invisible",
      "SystemCallFilter=@system-service",
      "SystemCallArchitectures=native",
      "DevicePolicy=closed",
      `ExecStart=${L.launcher}`,
      "WantedBy=multi-user.target",
      "StartLimitIntervalSec=0",
      `LoadCredential=${CREDENTIAL_PREFIX.slice(0, -1)}:${L.credentialsDir}`,
      `EnvironmentFile=-${L.secretsEnvFile}`,
      "StateDirectory=ridgeline",
      "StateDirectoryMode=0700",
    ])
      assert.ok(lines.includes(l), `${name}: ${l}`);
    assert.match(u, /^#\s+LoadCredentialEncrypted=NAME:\/etc\/ridgeline\/credentials\.encrypted\/NAME$/m, `${name}: systemd-creds documented`);
    const rw = lines.find((x) => x.startsWith("ReadWritePaths="))!.slice("ReadWritePaths=".length).split(" ");
    assert.ok(rw.includes(L.dataDir), `${name}: data dir writable`);
    // both slots live in the data dir (the launcher switches slots within one service run; see systemd-unit.ts)
    for (const s of [L.slotA, L.slotB]) assert.ok(s.startsWith(`${L.dataDir}/`), `${name}: slot ${s} in the data dir`);
    assert.not.ok(rw.some((p) => p === L.slotA || p === L.slotB), `${name}: no per-slot write grant`);
    // the running slot read-only: ExecStartPre pins the choice and links it, ReadOnlyPaths= takes the link
    assert.ok(lines.includes(`ReadOnlyPaths=-${L.runningSlotLink}`), `${name}: the running slot read-only`);
    assert.is(L.runningSlotLink, `${L.dataDir}/slots/running`);
    const pre = lines.filter((l) => l.startsWith("ExecStartPre="));
    assert.is(pre[pre.length - 1], `ExecStartPre=${L.launcher} boot --board ${name} --data ${L.dataDir} --pin ${L.bootChoiceFile}`, `${name}: the choice before the start`);
    assert.ok(lines.includes("RuntimeDirectory=ridgeline"));
    assert.not.match(u, /MemoryDenyWriteExecute=yes/, "V8 needs W+X pages");
    if (serviceRunsAsRoot(board)) assert.not.match(u, /^User=/m);
    else {
      assert.ok(lines.includes("User=ridgeline") && lines.includes("Group=ridgeline"), `${name}: the service user`);
      assert.match(renderSysusers(board), /^u ridgeline - "Ridgeline gateway" -$/m);
    }
    const caps = lines.find((x) => x.startsWith("CapabilityBoundingSet="))!;
    assert.not.match(caps, /CAP_SYS_ADMIN|CAP_SYS_RAWIO|CAP_SETUID/, `${name}: ${caps}`);
  }
});

test("secrets and groups: device groups from the ports, credentials stay root's, constants shared with the runtime", () => {
  const gen = loadBoard("generic-arm64");
  assert.match(renderServiceUnit(gen, deviceLayout(gen)), /^SupplementaryGroups=dialout tss$/m);
  const sysusers = renderSysusers(gen);
  assert.match(sysusers, /^g tss -$/m);
  assert.match(sysusers, /^m ridgeline dialout$/m);
  const sim = loadBoard("sim");
  assert.not.match(renderServiceUnit(sim, deviceLayout(sim)), /SupplementaryGroups/, "sim opens no ports");
  assert.match(renderServiceUnit(sim, deviceLayout(sim), { extraDevices: ["/dev/ttyUSB3"] }), /^SupplementaryGroups=dialout$/m, "a configured serial port needs dialout");
  const t = renderTmpfiles(deviceLayout(gen));
  assert.match(t, /^z \/etc\/ridgeline\/gateway\.yaml 0640 root ridgeline -$/m);
  assert.match(t, /^d \/etc\/ridgeline\/credentials 0700 root root -$/m);
  assert.match(renderTpmUdevRule(gen)!, /^KERNEL=="tpmrm0", GROUP="tss", MODE="0660"$/m, "the TPM for group tss");
  assert.is(renderTpmUdevRule(loadBoard("rpi5")), undefined, "no TPM");
  assert.is(renderTpmUdevRule(loadBoard("jetson-orin-nano")), undefined, "root needs no group");
  assert.is(deviceLayout(gen).credentialsDir, DEVICE_CREDENTIALS_DIR);
  assert.is(LAST_EXIT_REL, RUNTIME_LAST_EXIT_REL);
  assert.is(deviceLayout(gen).lastExitFile, `${deviceLayout(gen).dataDir}/${LAST_EXIT_REL}`);
});

test("device access comes from the board file and the config; boot control adapters get exactly their writes", () => {
  const rpi = loadBoard("rpi5");
  const u = renderServiceUnit(rpi, deviceLayout(rpi), { extraDevices: ["/dev/ttyAMA0", "/dev/ttyS3"] });
  assert.ok(u.includes("DevicePolicy=closed"));
  assert.ok(u.includes("DeviceAllow=/dev/ttyAMA0 rw"));
  assert.ok(u.includes("DeviceAllow=/dev/ttyS3 rw"));
  assert.is(u.split("DeviceAllow=/dev/ttyAMA0").length, 2, "no duplicates");
  assert.match(u, /^ReadWritePaths=.* \/boot\/firmware -\/run\/lock$/m, "the U-Boot env file and fw_setenv's lock are writable");
  assert.match(u, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_DAC_OVERRIDE$/m, "fw_setenv writes the root-owned env file");
  assert.not.ok(u.includes("/dev/tpmrm0"), "rpi5 has no TPM");
  const jet = loadBoard("jetson-orin-nano");
  const j = renderServiceUnit(jet, deviceLayout(jet));
  assert.ok(j.includes("DevicePolicy=closed"), "nvbootctrl on Orin writes UEFI variables, no block device");
  assert.match(j, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_DAC_OVERRIDE CAP_LINUX_IMMUTABLE$/m);
  assert.match(j, /^ReadWritePaths=\/var\/lib\/ridgeline \/sys\/firmware\/efi\/efivars$/m);
  assert.match(j, /^# nvbootctrl runs as root/m, "the root exception is explained in the unit");
  assert.not.match(j, /^User=/m);
  // nvbootctrl switches slots at the next boot: the restart request (exit 75) reboots the machine
  assert.match(j, /^ExecStopPost=\+\/bin\/sh -c 'if \[ "\$\$EXIT_STATUS" = 75 \]; then exec systemctl --no-block reboot; fi'$/m);
  assert.not.match(u, /^ExecStopPost=/m, "uboot-env: the launcher switches slots, a unit restart is enough");
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
    assert.is(r.stdout.trim(), `A ${LAUNCH_NODE_FLAGS.join(" ")} ${t.dir}${L.slotA}/dist/ridge.mjs boot --board generic-arm64 --data ${t.dir}${L.dataDir} --max-starts 1 --pinned ${t.dir}${L.bootChoiceFile} -- --config ${t.dir}${L.configFile}`, "systemd runs `ridge boot`");
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
    // a slot being rewritten by an update has no verified marker: the one that has it runs the launcher
    writeFileSync(at(`${L.slotB}/.ridge-slot.json`), "{}");
    r = run({ RIDGE_SLOT: "a" });
    assert.match(r.stdout, /^B /, "slot a has no marker, b has");
    assert.match(r.stderr, /slot a .* is not a verified runtime; using/);
    writeFileSync(at(`${L.slotA}/.ridge-slot.json`), "{}");
    assert.match(run({ RIDGE_SLOT: "a" }).stdout, /^A /, "both verified: the chosen one");
  } finally {
    t.cleanup();
  }
});

test("the device's ridge command: the slot's CLI with the device's data dir, board, config and credentials", () => {
  const t = tempDir("ridge-cmd-");
  try {
    const L = deviceLayout(loadBoard("rpi5"));
    const at = (p: string) => join(t.dir, p);
    const cmd = at("ridge");
    writeFileSync(cmd, renderRidgeCommand(L));
    mkdirSync(at(`${L.slotA}/dist`), { recursive: true });
    mkdirSync(at(`${L.slotA}/node/bin`), { recursive: true });
    mkdirSync(at(L.credentialsDir), { recursive: true });
    writeFileSync(at(`${L.slotA}/dist/ridge.mjs`), "");
    writeFileSync(at(`${L.slotA}/node/bin/node`), `#!/bin/sh\necho "data=$RIDGE_DATA board=$RIDGE_BOARD creds=\${CREDENTIALS_DIRECTORY:-}"\nshift 4\necho "$*"\n`);
    chmodSync(at(`${L.slotA}/node/bin/node`), 0o755);
    const run = (...args: string[]) => {
      const r = spawnSync("sh", [cmd, ...args], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", RIDGE_ROOT: t.dir } });
      assert.is(r.status, 0, r.stderr);
      return r.stdout.trim().split("\n");
    };
    const data = `${t.dir}${L.dataDir}`;
    assert.equal(run("status"), [`data=${data} board=rpi5 creds=`, "status"], "status reads RIDGE_DATA");
    assert.equal(run("ota", "status", "--json"), [`data=${data} board=rpi5 creds=`, "ota status --json"], "ota reads RIDGE_DATA and RIDGE_BOARD");
    assert.equal(run("attest", "quote", "--nonce", "00")[1], "attest quote --nonce 00", "attest reads RIDGE_DATA");
    assert.equal(run("config", "check"), [`data=${data} board=rpi5 creds=${t.dir}${L.credentialsDir}`, `config check ${t.dir}${L.configFile}`]);
    assert.equal(run("config", "check", "/tmp/other.yaml")[1], "config check /tmp/other.yaml");
    assert.equal(run("--version")[1], "--version");
  } finally {
    t.cleanup();
  }
});

test.run();
