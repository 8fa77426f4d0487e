// The launcher's boot decision (`chooseLaunch`): never a slot without its verified marker, the
// factory runtime for an empty slot a, a last resort when every slot is out of attempts, and
// nothing at all only when no slot holds a runtime.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { chooseLaunch, type LauncherOptions } from "../../ota/launcher.js";
import { writeMarker } from "../../ota/slot-marker.js";
import { FakeClock } from "../../core/clock.js";
import { silentLogger } from "../../core/log.js";
import { tempDir } from "../../peers/process.js";

function setup(markers: ("a" | "b")[], factory = false) {
  const t = tempDir();
  const slotDir = (s: "a" | "b") => join(t.dir, "slots", s);
  for (const s of ["a", "b"] as const) mkdirSync(join(slotDir(s), "dist"), { recursive: true });
  for (const s of markers) {
    writeFileSync(join(slotDir(s), "dist", "ridge.mjs"), "");
    writeMarker(slotDir(s), { version: "1.0.0", target: "t", sha256: "0".repeat(64), board: "sim", arch: "x64", entry: "dist/ridge.mjs", installedAt: "" });
  }
  if (factory) writeFileSync(join(t.dir, "factory.mjs"), "");
  const bc = new FileBootControl({ file: join(t.dir, "bootctl.json"), attempts: 3 });
  const errors: string[] = [];
  const o: LauncherOptions = { bootControl: bc, slotDir, args: [], clock: new FakeClock(), log: { ...silentLogger, error: (_o, m) => errors.push(m) }, ...(factory ? { factoryEntry: join(t.dir, "factory.mjs") } : {}) };
  return { t, o, bc, errors, slotDir };
}

test("a pending slot without a verified marker is skipped and marked bad; the old slot starts", () => {
  const { t, o, bc, errors } = setup(["a"]);
  try {
    bc.markPending("b", 3);
    const c = chooseLaunch(o)!;
    assert.is(c.slot, "a");
    assert.is(bc.state().left.b, 0);
    assert.match(errors.join("\n"), /slot b holds no verified runtime/);
  } finally {
    t.cleanup();
  }
});

test("an empty slot a runs the factory runtime installed with the launcher", () => {
  const { t, o } = setup([], true);
  try {
    const c = chooseLaunch(o)!;
    assert.is(c.slot, "a");
    assert.match(c.entry, /factory\.mjs$/);
  } finally {
    t.cleanup();
  }
});

test("every slot out of attempts: the first verified slot in the order still starts (last resort)", () => {
  const { t, o, bc } = setup(["a", "b"]);
  try {
    bc.markBad("a");
    bc.markBad("b");
    const c = chooseLaunch(o)!;
    assert.ok(c.lastResort);
    assert.is(c.slot, bc.state().order[0]);
  } finally {
    t.cleanup();
  }
});

test("no runtime anywhere and no factory: nothing to start", () => {
  const { t, o } = setup([]);
  try {
    assert.is(chooseLaunch(o), undefined);
  } finally {
    t.cleanup();
  }
});

test.run();
