// A runtime OTA on a flashed root, natively (this host's arch), driven the way the flashed unit
// drives it: systemd runs `ridge-boot` (→ `ridge boot --max-starts 1`) and starts it again
// whenever it exits (Restart=always). Slot a, as flashed, polls a TUF repository on loopback,
// installs 99.0.0 into the flashed root's standby slot b and exits 75; the next start boots slot b
// (BootControl: b first, one attempt spent), its health check passes and it commits; the device's
// `ridge ota status` shows slot b committed. The same flow under qemu on an arm64 root is item 6.
//
// Once per boot control adapter (issue 14 item 2): `file` (the sim board), `uboot-env` (rpi5) and
// `nvbootctrl` (jetson-orin-nano). The real boards are arm64; here each is its own board file with
// `hostArch: true` added (same bootControl, slots, dataDir), put where the device's runtime reads
// its boards (RIDGE_BOARDS_DIR), so the flashed slot and the 99.0.0 bundle are this host's arch and
// run without qemu. The boot loader tools are the fakes of test/helpers/ota-boot-tools.ts, first on
// PATH, their state inside the flashed root: the U-Boot environment at the board's envFile
// (/boot/firmware/uboot.env), the L4T slot state beside efivars.
//
// nvbootctrl is a system-level switch: `set-active-boot-slot` takes effect when the machine boots,
// and `get-current-slot` (which slot the launcher starts) changes only then. So on that board the
// flashed unit turns the runtime's restart request (exit 75) into a reboot (its ExecStopPost), and
// the model here does what the device does: the unit's own ExecStopPost lines run with systemd's
// EXIT_STATUS and a `systemctl` that records what it was asked; when that is a reboot, the boot
// loader runs (NV_REBOOT: boots the active slot, spending one of its retries until
// mark-boot-successful) before the unit starts again. Any other exit is a unit restart alone.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { boardsDir, hostArch, loadBoard, type Board } from "../../boards/index.js";
import { buildRuntimeSlot, deviceLayout, flashDevice } from "../../flash/index.js";
import { writeSlotBundle } from "../../runtime/cli/commands/ota.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { readMarker } from "../../ota/slot-marker.js";
import { otaHistory } from "../helpers/ota-launch.js";
import { makeRepo } from "../helpers/ota-repo.js";
import { serveRepo } from "../helpers/ota-http.js";
import { startPeer, waitFor, type Peer } from "../../peers/process.js";
import { repoRoot } from "../helpers/gateway.js";
import { writeFakeBootTools } from "../helpers/ota-boot-tools.js";

test("flashed sim root: ridge-boot runs slot a, the update installs into the flashed slot b, the restart boots b, it commits", async () => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const t = await makeRepo({ now: Date.now() });
  const srv = await serveRepo(t.dir);
  const board = loadBoard("sim");
  const L = deviceLayout(board);
  const root = join(t.dir, "..", "device");
  const data = join(root, L.dataDir);
  let run: Peer | undefined;
  try {
    const bundle = join(t.dir, "..", "runtime.tar");
    await writeSlotBundle(buildRuntimeSlot({ projectRoot: repoRoot, board, withNode: false, version: "99.0.0", without: ["onnxruntime-web"] }), board, bundle);
    await t.repo.addTarget(bundle, "runtime-sim-99.0.0.tar", { kind: "runtime", version: "99.0.0", boards: ["sim"], arch: [hostArch()] });
    t.repo.sign(t.all());

    mkdirSync(root);
    flashDevice({
      root,
      board,
      projectRoot: repoRoot,
      validate: validateGatewayConfig,
      gatewayId: "ota-flashed",
      configText: `ota: { repo: "${srv.url}", poll: 1s, jitter: 0, health: { upFor: 2s } }\n`,
      configLabel: "ota.yaml",
      otaRootText: Buffer.from(t.rootV1).toString("utf8"),
      otaRootLabel: "root.json",
    });
    assert.ok(readMarker(join(root, L.slotA)), "flashed slot a carries its verified marker");

    const history = (): string[] => otaHistory(data).map((r) => r.state);

    // systemd's part: start ridge-boot, and start it again when it exits (Restart=always), at most 4 times
    const outputs: string[] = [];
    const codes: (number | null)[] = [];
    for (let start = 0; start < 4 && !history().includes("committed"); start++) {
      run = startPeer(join(root, L.launcher), [], { env: { PATH: process.env.PATH, RIDGE_ROOT: root }, maxSeconds: 90 });
      const p = run;
      const outcome = await waitFor("the start to end or commit", async () => (p.child.exitCode !== null ? "exited" : history().includes("committed") ? "committed" : undefined), 80_000, 200);
      if (outcome === "exited") {
        await p.exited;
        codes.push(p.child.exitCode);
        outputs.push(p.output());
        run = undefined;
      } else outputs.push(p.output());
    }
    const all = outputs.join("\n----\n");
    const rows = history();
    assert.ok(rows.includes("committed"), `${rows.join(" ")}\n${all.slice(-4000)}`);
    assert.equal(codes, [75], "one restart into the new slot (exit 75), then it runs");
    assert.match(outputs[0]!, /ridge boot: starting slot a/);
    assert.match(outputs[1]!, /ridge boot: starting slot b/);
    assert.ok(rows.indexOf("pending") < rows.indexOf("trial") && rows.indexOf("trial") < rows.indexOf("committed"), rows.join(" "));
    assert.is(readMarker(join(root, L.slotB))?.version, "99.0.0", "installed into the flashed root's standby slot");
    assert.equal((JSON.parse(readFileSync(join(data, "boot/bootctl.json"), "utf8")) as { order: string[] }).order, ["b", "a"]);

    // the operator's view through the device's ridge
    const st = spawnSync(join(root, L.ridgeCommand), ["ota", "status"], { encoding: "utf8", env: { PATH: process.env.PATH, RIDGE_ROOT: root }, timeout: 60_000 });
    assert.is(st.status, 0, st.stderr);
    assert.match(st.stdout, /^\s+\S+\s+committed 99\.0\.0$/m, st.stdout);
    assert.match(st.stdout, /^active slot: b, running 99\.0\.0/m, st.stdout);
  } finally {
    await run?.stop(10_000);
    await srv.close();
    t.cleanup();
  }
});

/** What a real board's adapter needs from the model: the boot loader's state and its tools. */
interface BootLoaderModel {
  /** Environment for everything run on the device (the fake tools' state files). */
  env: Record<string, string>;
  /** The machine powers on: the boot loader's first boot. */
  powerOn?(): void;
  /** The machine reboots (the unit asked systemctl for it): the boot loader boots again. */
  reboot?(): void;
  /** The boot loader's own view after the commit: b is the slot it boots, and confirmed. */
  assertCommittedB(): void;
}

/**
 * The sim case's flow on a host-arch variant of a real board: flash, publish 99.0.0, run ridge-boot
 * as systemd does (plus, where the unit says so, the reboot it asks for), check the outcome.
 */
async function otaOnBoard(name: string, model: (root: string, bin: string) => BootLoaderModel): Promise<void> {
  const t = await makeRepo({ now: Date.now() });
  const srv = await serveRepo(t.dir);
  const work = join(t.dir, "..");
  // the board file as the device reads it, with hostArch: true (same bootControl, slots, dataDir)
  const boards = join(work, "boards");
  mkdirSync(boards);
  writeFileSync(join(boards, `${name}.yaml`), `${readFileSync(join(boardsDir(), `${name}.yaml`), "utf8")}hostArch: true\n`);
  const real = loadBoard(name);
  const prevBoards = process.env.RIDGE_BOARDS_DIR;
  process.env.RIDGE_BOARDS_DIR = boards;
  let run: Peer | undefined;
  try {
    const board: Board = loadBoard(name);
    assert.is(board.arch, hostArch());
    assert.equal([board.bootControl, board.slots, board.dataDir], [real.bootControl, real.slots, real.dataDir], "only the arch differs from the real board");
    const L = deviceLayout(board);
    const root = join(work, "device");
    const data = join(root, L.dataDir);
    const tools = writeFakeBootTools(work);
    // systemctl on the device: records what the unit asks of it
    const systemctlLog = join(work, "systemctl.log");
    writeFileSync(join(tools.bin, "systemctl"), `#!/bin/sh\necho "$*" >> ${JSON.stringify(systemctlLog)}\n`);
    chmodSync(join(tools.bin, "systemctl"), 0o755);

    const bundle = join(work, "runtime.tar");
    await writeSlotBundle(buildRuntimeSlot({ projectRoot: repoRoot, board, withNode: false, version: "99.0.0", without: ["onnxruntime-web"] }), board, bundle);
    await t.repo.addTarget(bundle, `runtime-${name}-99.0.0.tar`, { kind: "runtime", version: "99.0.0", boards: [name], arch: [hostArch()] });
    t.repo.sign(t.all());

    mkdirSync(root);
    flashDevice({
      root,
      board,
      projectRoot: repoRoot,
      withNode: false,
      validate: validateGatewayConfig,
      gatewayId: `ota-${name}`,
      configText: `ota: { repo: "${srv.url}", poll: 1s, jitter: 0, health: { upFor: 2s } }\n`,
      configLabel: "ota.yaml",
      otaRootText: Buffer.from(t.rootV1).toString("utf8"),
      otaRootLabel: "root.json",
    });
    assert.ok(readMarker(join(root, L.slotA)), "flashed slot a carries its verified marker");
    const m = model(root, tools.bin);
    const env = { PATH: `${tools.bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, RIDGE_ROOT: root, RIDGE_BOARDS_DIR: boards, ...m.env };

    // the flashed unit's ExecStopPost= lines, as systemd runs them after the main process exits
    const unit = readFileSync(join(root, "etc/systemd/system/ridgeline.service"), "utf8");
    const stopPost = unit
      .split("\n")
      .filter((l) => l.startsWith("ExecStopPost="))
      .map((l) => l.slice("ExecStopPost=".length).replace(/^[+!@-]+/, "").replace(/\$\$/g, "$"));
    const afterExit = (code: number | null): boolean => {
      const before = existsSync(systemctlLog) ? readFileSync(systemctlLog, "utf8") : "";
      for (const cmd of stopPost) {
        const r = spawnSync("/bin/sh", ["-c", cmd], { encoding: "utf8", env: { ...env, SERVICE_RESULT: code === 0 ? "success" : "exit-code", EXIT_CODE: "exited", EXIT_STATUS: String(code) } });
        assert.is(r.status, 0, `${cmd}: ${r.stderr}`);
      }
      const asked = (existsSync(systemctlLog) ? readFileSync(systemctlLog, "utf8") : "").slice(before.length);
      return /\breboot\b/.test(asked);
    };

    const history = (): string[] => otaHistory(data).map((r) => r.state);
    m.powerOn?.();
    const outputs: string[] = [];
    const codes: (number | null)[] = [];
    const reboots: boolean[] = [];
    for (let start = 0; start < 4 && !history().includes("committed"); start++) {
      run = startPeer(join(root, L.launcher), [], { env, maxSeconds: 90 });
      const p = run;
      const outcome = await waitFor("the start to end or commit", async () => (p.child.exitCode !== null ? "exited" : history().includes("committed") ? "committed" : undefined), 80_000, 200);
      if (outcome === "exited") {
        await p.exited;
        codes.push(p.child.exitCode);
        outputs.push(p.output());
        run = undefined;
        const reboot = afterExit(p.child.exitCode);
        reboots.push(reboot);
        if (reboot) {
          assert.ok(m.reboot, "the unit asked for a reboot on a board whose model has none");
          m.reboot();
        }
      } else outputs.push(p.output());
    }
    const all = outputs.join("\n----\n");
    const rows = history();
    assert.ok(rows.includes("committed"), `${rows.join(" ")}\n${all.slice(-4000)}`);
    assert.equal(codes, [75], `one restart into the new slot (exit 75), then it runs\n${all.slice(-4000)}`);
    assert.equal(reboots, [m.reboot !== undefined], "a reboot exactly where the adapter switches at boot");
    assert.match(outputs[0]!, /ridge boot: starting slot a/);
    assert.match(outputs[1]!, /ridge boot: starting slot b/);
    assert.ok(rows.indexOf("pending") < rows.indexOf("trial") && rows.indexOf("trial") < rows.indexOf("committed"), rows.join(" "));
    assert.not.ok(rows.includes("rolled-back"), rows.join(" "));
    assert.is(readMarker(join(root, L.slotB))?.version, "99.0.0", "installed into the flashed root's standby slot");
    assert.not.ok(existsSync(join(data, "boot/bootctl.json")), "the board's boot loader keeps the state, not the file adapter");
    m.assertCommittedB();

    // the operator's view through the device's ridge
    const st = spawnSync(join(root, L.ridgeCommand), ["ota", "status"], { encoding: "utf8", env, timeout: 60_000 });
    assert.is(st.status, 0, st.stderr);
    assert.match(st.stdout, /^\s+\S+\s+committed 99\.0\.0$/m, st.stdout);
    assert.match(st.stdout, /^active slot: b, running 99\.0\.0/m, st.stdout);
  } finally {
    await run?.stop(10_000);
    if (prevBoards === undefined) delete process.env.RIDGE_BOARDS_DIR;
    else process.env.RIDGE_BOARDS_DIR = prevBoards;
    await srv.close();
    t.cleanup();
  }
}

/** KEY=value lines of a fake tool's state file. */
function readVars(file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
  }
  return vars;
}

test("flashed rpi5 root (uboot-env, host arch): slot a installs into b, exit 75, the restart boots b, it commits; U-Boot's BOOT_ORDER names B first", async () => {
  await otaOnBoard("rpi5", (root) => {
    const board = loadBoard("rpi5");
    const envFile = join(root, board.bootControl.envFile!);
    mkdirSync(dirname(envFile), { recursive: true });
    return {
      env: { FAKE_UBOOT_ENV: envFile },
      assertCommittedB: () => {
        const v = readVars(envFile);
        assert.is(v.BOOT_ORDER, "B A", "B boots first");
        assert.is(v.BOOT_B_LEFT, String(board.bootControl.attempts), "B confirmed: its attempts reset");
      },
    };
  });
});

test("flashed jetson-orin-nano root (nvbootctrl, host arch): slot a installs into b, exit 75, the unit reboots, L4T boots b, it commits; nvbootctrl: b current, active, successful", async () => {
  await otaOnBoard("jetson-orin-nano", (root, bin) => {
    const state = join(root, "sys/firmware/efi/efivars/ridge-test-nvbootctrl.state");
    mkdirSync(dirname(state), { recursive: true });
    // as L4T leaves a freshly flashed Jetson: rootfs slot 0 booted and marked successful
    writeFileSync(state, "current=0\nactive=0\nretry0=3\nretry1=3\nsuccess=1\n");
    const env = { FAKE_NVBOOTCTRL_STATE: state };
    const bootLoader = () => {
      const r = spawnSync(join(bin, "nv-reboot"), [], { encoding: "utf8", env: { ...process.env, ...env } });
      assert.is(r.status, 0, r.stderr);
    };
    return {
      env,
      powerOn: bootLoader,
      reboot: bootLoader,
      assertCommittedB: () => {
        const v = readVars(state);
        assert.equal([v.current, v.active, v.success], ["1", "1", "1"], JSON.stringify(v));
        assert.is(v.retry1, "3", "b confirmed: its retries reset");
      },
    };
  });
});

test.run();
