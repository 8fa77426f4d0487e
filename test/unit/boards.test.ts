import { test } from "uvu";
import * as assert from "uvu/assert";
import { listBoards, loadBoard } from "../../boards/index.js";
import { loadConfig } from "../../runtime/config/load.js";
import { parseYamlWith, ConfigError } from "../../core/config-errors.js";
import { boardSchema } from "../../boards/schema.js";

test("the five boards exist", () => {
  assert.equal(listBoards(), ["generic-arm64", "jetson-orin-nano", "rpi5", "sim", "visionfive2"]);
});

for (const name of ["generic-arm64", "jetson-orin-nano", "rpi5", "sim", "visionfive2"]) {
  test(`board ${name} loads and its defaults make a valid gateway config`, () => {
    const b = loadBoard(name);
    assert.is(b.name, name);
    assert.ok(["x64", "arm64", "riscv64"].includes(b.arch));
    assert.ok(["file", "uboot-env", "nvbootctrl"].includes(b.bootControl.adapter));
    assert.ok(b.slots.a !== b.slots.b);
    const { config, board } = loadConfig({ text: `gateway: { id: t-${name} }\nboard: ${name}\n`, file: "g.yaml", env: {} });
    assert.is(board.name, name);
    assert.is(config.board, name);
  });
}

test("board arches: ARM64 and RISC-V boards say so; sim follows the host", () => {
  assert.is(loadBoard("rpi5").arch, "arm64");
  assert.is(loadBoard("jetson-orin-nano").arch, "arm64");
  assert.is(loadBoard("visionfive2").arch, "riscv64");
  assert.is(loadBoard("jetson-orin-nano").bootControl.adapter, "nvbootctrl");
  assert.equal(loadBoard("visionfive2").tpm, "none");
});

test("a bad board file is rejected by the same schema machinery, with positions", () => {
  try {
    parseYamlWith("boards/bad.yaml", "name: bad\ndescription: x\narch: sparc\nserial: []\ndataDir: /d\nslots: { layout: runtime, a: a, b: b }\nbootControl: { adapter: grub }\ntpm: none\nwatchdog: none\n", boardSchema);
    assert.unreachable();
  } catch (e) {
    const issues = (e as ConfigError).issues;
    assert.equal(issues.map((i) => `${i.line}:${i.path}:${i.code}`), ["3:arch:E_CONFIG_ENUM", "7:bootControl.adapter:E_CONFIG_ENUM"]);
  }
});

test("an unknown board name is refused, not guessed", () => {
  assert.throws(() => loadBoard("../etc/passwd"), (e: Error & { code: string }) => e.code === "E_BOARD_UNKNOWN");
});

test.run();
