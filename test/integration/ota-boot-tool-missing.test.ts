// A U-Boot board (rpi5, visionfive2) without libubootenv-tool, or without /etc/fw_env.config, and
// a Jetson without nvbootctrl: `ridge boot` fails with one error naming what to install
// (E_BOARD_TOOL_MISSING, category board), exit 78 (EX_CONFIG: the unit's RestartPreventExitStatus=
// keeps systemd from restarting it every 5 s), and the reason left for `ridge status`; the pin step
// (ExecStartPre) pins nothing and succeeds, so the main process is the one that reports it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadBoard } from "../../boards/index.js";
import { EXIT_BOARD_SETUP } from "../../core/index.js";
import { bootToolMissing } from "../../ota/boot-control-for-board.js";
import { UbootEnvBootControl } from "../../ota/uboot-env-boot-control.js";
import { NvBootCtrlBootControl } from "../../ota/nvbootctrl-boot-control.js";
import { tempDir } from "../../peers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function ridgeBoot(args: string[], path: string) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "runtime/cli/entry.ts"), "boot", ...args], { cwd: ROOT, env: { HOME: process.env.HOME, PATH: path }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

test("the adapter's ENOENT becomes E_BOARD_TOOL_MISSING naming the package; other failures are left alone", () => {
  const rpi5 = loadBoard("rpi5");
  const bc = new UbootEnvBootControl({ attempts: 3, fwPrintenv: "/nonexistent/fw_printenv" });
  let err: unknown;
  try {
    bc.chooseBoot();
  } catch (e) {
    err = e;
  }
  const m = bootToolMissing(rpi5, err)!;
  assert.is(m.code, "E_BOARD_TOOL_MISSING");
  assert.is(m.category, "board");
  assert.match(m.message, /fw_printenv is not installed/);
  assert.match(m.message, /apt install libubootenv-tool/);
  assert.match(m.message, /\/etc\/fw_env\.config/);
  const jetson = loadBoard("jetson-orin-nano");
  let nv: unknown;
  try {
    new NvBootCtrlBootControl({ attempts: 3, tool: "/nonexistent/nvbootctrl" }).chooseBoot();
  } catch (e) {
    nv = e;
  }
  assert.match(bootToolMissing(jetson, nv)!.message, /nvbootctrl is not installed.*nvidia-l4t-tools/);
  assert.is(bootToolMissing(rpi5, new Error("fw_setenv --script /tmp/x failed: Command failed: Cannot access MTD device")), undefined);
  assert.is(bootToolMissing(loadBoard("sim"), err), undefined, "the file adapter needs no tool");
});

test("ridge boot on rpi5 without fw_printenv: one clear error, exit 78, the reason for ridge status; --pin pins nothing and exits 0", () => {
  const t = tempDir("ridge-boot-notool-");
  try {
    const data = join(t.dir, "data");
    const emptyPath = join(t.dir, "bin");
    mkdirSync(emptyPath);
    const r = ridgeBoot(["--board", "rpi5", "--data", data, "--max-starts", "1"], emptyPath);
    assert.is(r.code, EXIT_BOARD_SETUP, r.stderr);
    assert.match(r.stderr, /error E_BOARD_TOOL_MISSING: board rpi5 keeps its boot slots with uboot-env, but fw_printenv is not installed/);
    assert.match(r.stderr, /libubootenv-tool/);
    assert.not.match(r.stderr, /E_OTA_LAUNCHER|spawnSync/);
    const why = JSON.parse(readFileSync(join(data, "boot", "last-exit.json"), "utf8")) as { exit: number; code: string };
    assert.equal([why.exit, why.code], [78, "E_BOARD_TOOL_MISSING"]);

    const pin = join(t.dir, "choice.json");
    writeFileSync(pin, "{}");
    const p = ridgeBoot(["--board", "rpi5", "--data", data, "--pin", pin], emptyPath);
    assert.is(p.code, 0, p.stderr);
    assert.match(p.stderr, /E_BOARD_TOOL_MISSING/);
    assert.match(p.stderr, /nothing pinned/);
    assert.not.ok(existsSync(pin), "no stale choice left for ExecStart");
  } finally {
    t.cleanup();
  }
});

test("ridge boot with the tools but no /etc/fw_env.config: the same error, naming the config file", () => {
  const t = tempDir("ridge-boot-noconf-");
  try {
    const bin = join(t.dir, "bin");
    mkdirSync(bin);
    for (const tool of ["fw_printenv", "fw_setenv"]) {
      // what libubootenv's tools print without their config
      writeFileSync(join(bin, tool), "#!/bin/sh\necho 'Configuration file wrong or corrupted' >&2\nexit 1\n");
      chmodSync(join(bin, tool), 0o755);
    }
    const r = ridgeBoot(["--board", "visionfive2", "--data", join(t.dir, "data"), "--max-starts", "1"], `${bin}:/usr/bin:/bin`);
    assert.is(r.code, EXIT_BOARD_SETUP, r.stderr);
    assert.match(r.stderr, /error E_BOARD_TOOL_MISSING: board visionfive2 .*no usable \/etc\/fw_env\.config/);
  } finally {
    t.cleanup();
  }
});

test.run();
