// BootControl: one contract suite run against the `file` adapter and the `uboot-env` adapter
// (over fake fw_printenv/fw_setenv keeping the environment in a file), then the failure cases
// of each tool, and the nvbootctrl adapter over a fake Jetson boot loader.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BootControl } from "../../ota/boot-control.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { UbootEnvBootControl } from "../../ota/uboot-env-boot-control.js";
import { NvBootCtrlBootControl } from "../../ota/nvbootctrl-boot-control.js";
import { errorCode } from "../../core/index.js";
import { tempDir } from "../../peers/process.js";
import { writeFakeBootTools } from "../helpers/ota-boot-tools.js";

interface Made {
  bc: BootControl;
  /** The same state, seen by a launcher after a reboot onto `slot`. */
  after(slot: "a" | "b"): BootControl;
  cleanup(): void;
}

const adapters: Record<string, () => Made> = {
  file() {
    const t = tempDir();
    const file = join(t.dir, "boot", "bootctl.json");
    return { bc: new FileBootControl({ file, attempts: 3 }), after: (slot) => new FileBootControl({ file, attempts: 3, booted: slot }), cleanup: t.cleanup };
  },
  "uboot-env"() {
    const t = tempDir();
    const tools = writeFakeBootTools(t.dir);
    const env = { ...process.env, FAKE_UBOOT_ENV: join(t.dir, "uboot.env") };
    const mk = (booted?: "a" | "b") => new UbootEnvBootControl({ attempts: 3, fwPrintenv: tools.fwPrintenv, fwSetenv: tools.fwSetenv, env, ...(booted ? { booted } : {}) });
    return { bc: mk(), after: (slot) => mk(slot), cleanup: t.cleanup };
  },
};

for (const [name, make] of Object.entries(adapters)) {
  test(`${name}: a fresh device boots slot a, spending one attempt per boot`, () => {
    const m = make();
    try {
      assert.equal(m.bc.chooseBoot(), { slot: "a", attemptsLeft: 2 });
      assert.is(m.after("a").active(), "a");
      m.after("a").markGood();
      assert.is(m.bc.bootAttemptsLeft("a"), 3);
    } finally {
      m.cleanup();
    }
  });

  test(`${name}: pending slot boots next; markGood keeps it; attempts run out → the old slot boots`, () => {
    const m = make();
    try {
      m.bc.chooseBoot();
      m.after("a").markGood();
      m.after("a").markPending("b", 3);
      assert.equal(m.bc.state().order, ["b", "a"]);
      // three failing boots of b
      for (let i = 2; i >= 0; i--) assert.equal(m.bc.chooseBoot(), { slot: "b", attemptsLeft: i });
      // b has no attempts left: a boots (rollback without help from b)
      assert.equal(m.bc.chooseBoot(), { slot: "a", attemptsLeft: 2 });
      // a good update
      m.after("a").markGood();
      m.after("a").markPending("b", 3);
      assert.is(m.bc.chooseBoot()!.slot, "b");
      m.after("b").markGood();
      assert.equal(m.bc.state().order, ["b", "a"]);
      assert.is(m.bc.bootAttemptsLeft("b"), 3);
    } finally {
      m.cleanup();
    }
  });

  test(`${name}: markBad sends the next boot to the other slot`, () => {
    const m = make();
    try {
      m.bc.chooseBoot();
      m.after("a").markGood();
      m.after("a").markPending("b", 3);
      m.bc.chooseBoot();
      m.after("b").markBad("b");
      assert.is(m.bc.chooseBoot()!.slot, "a");
      assert.is(m.bc.bootAttemptsLeft("b"), 0);
    } finally {
      m.cleanup();
    }
  });
}

test("uboot-env: a blank environment (Bad CRC) is initialised and read back before use", () => {
  const t = tempDir();
  try {
    const tools = writeFakeBootTools(t.dir);
    const envFile = join(t.dir, "uboot.env");
    const bc = new UbootEnvBootControl({ attempts: 3, fwPrintenv: tools.fwPrintenv, fwSetenv: tools.fwSetenv, env: { ...process.env, FAKE_UBOOT_ENV: envFile } });
    assert.not.ok(existsSync(envFile));
    try {
      bc.state();
      assert.unreachable();
    } catch (e) {
      assert.is(errorCode(e), "E_OTA_BOOTCTL_ENV");
    }
    assert.equal(bc.init(), { order: ["a", "b"], left: { a: 3, b: 0 } });
    assert.match(readFileSync(envFile, "utf8"), /BOOT_ORDER=A B/);
    // an environment that cannot be written refuses updates instead of bricking
    const locked = new UbootEnvBootControl({ attempts: 3, fwPrintenv: tools.fwPrintenv, fwSetenv: tools.fwSetenv, env: { ...process.env, FAKE_UBOOT_ENV: join(t.dir, "other.env"), FAKE_FW_SETENV_FAIL: "1" } });
    try {
      locked.markPending("b", 3);
      assert.unreachable();
    } catch (e) {
      assert.is(errorCode(e), "E_OTA_BOOTCTL_TOOL");
    }
  } finally {
    t.cleanup();
  }
});

test("uboot-env: fw_setenv dying half-way through any write leaves a bootable, verified slot first", () => {
  const t = tempDir();
  try {
    const tools = writeFakeBootTools(t.dir);
    const envFile = join(t.dir, "uboot.env");
    const mk = (die?: number, booted?: "a" | "b") =>
      new UbootEnvBootControl({ attempts: 3, fwPrintenv: tools.fwPrintenv, fwSetenv: tools.fwSetenv, env: { ...process.env, FAKE_UBOOT_ENV: envFile, ...(die !== undefined ? { FAKE_FW_SETENV_DIE_AFTER: String(die) } : {}) }, ...(booted ? { booted } : {}) });
    const good = mk();
    good.init();
    mk(undefined, "a").markGood();
    const before = readFileSync(envFile, "utf8");
    for (const die of [0, 1]) {
      writeFileSync(envFile, before);
      let code: string | undefined;
      try {
        mk(die, "a").markPending("b", 3);
      } catch (e) {
        code = errorCode(e);
      }
      assert.is(code, "E_OTA_BOOTCTL_TOOL");
      // the order was never switched to b: slot a (verified, good) still boots first
      assert.is(good.chooseBoot()!.slot, "a", `after dying after ${die} line(s), slot a must still boot first`);
    }
    // markBad dying half-way: the order already points away from the bad slot
    writeFileSync(envFile, before);
    mk(undefined, "a").markPending("b", 3);
    good.chooseBoot();
    try {
      mk(1, "b").markBad("b");
    } catch {
      /* died */
    }
    assert.is(good.chooseBoot()!.slot, "a");
  } finally {
    t.cleanup();
  }
});

test("nvbootctrl: current slot, switch, confirm, and the boot loader's fallback", () => {
  const t = tempDir();
  try {
    const tools = writeFakeBootTools(t.dir);
    const env = { ...process.env, FAKE_NVBOOTCTRL_STATE: join(t.dir, "nv.state") };
    const bc = new NvBootCtrlBootControl({ attempts: 3, tool: tools.nvbootctrl, env });
    const reboot = () => execFileSync(tools.nvReboot, { env });
    assert.is(bc.active(), "a");
    assert.is(bc.bootAttemptsLeft(), 3);
    bc.markPending("b", 3);
    reboot();
    assert.is(bc.active(), "b");
    assert.is(bc.bootAttemptsLeft("b"), 2);
    bc.markGood();
    reboot();
    assert.is(bc.active(), "b");
    // a bad update of a: retries run out, the boot loader comes back to b
    bc.markPending("a", 3);
    for (let i = 0; i < 4; i++) reboot();
    assert.is(bc.active(), "b");
    const broken = new NvBootCtrlBootControl({ attempts: 3, tool: join(t.dir, "no-such-tool"), env });
    try {
      broken.active();
      assert.unreachable();
    } catch (e) {
      assert.is(errorCode(e), "E_OTA_BOOTCTL_TOOL");
    }
  } finally {
    t.cleanup();
  }
});

test.run();
