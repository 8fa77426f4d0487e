// The launcher as the flashed unit runs it: the slot's own Node (through RIDGE_EXEC_WRAPPER when
// set), RIDGE_SLOT for the runtime, one start returning the runtime's exit status (systemd restarts),
// and exit 2 (a config error) stopping at once instead of spending the slots' attempts, except
// from a slot on trial: there it is the update's failure, rolled back through a restart (75).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeClock } from "../../core/clock.js";
import { silentLogger } from "../../core/log.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { launchCommand, pinLaunch, runLauncher, runningLink, type LauncherOptions } from "../../ota/launcher.js";
import { writeMarker } from "../../ota/slot-marker.js";
import { tempDir } from "../../peers/process.js";

function device(exitCode: number | Record<string, number>) {
  const t = tempDir("ridge-launcher-exit-");
  const slot = (s: string) => join(t.dir, "slots", s);
  for (const s of ["a", "b"]) {
    mkdirSync(join(slot(s), "dist"), { recursive: true });
    mkdirSync(join(slot(s), "node", "bin"), { recursive: true });
    writeFileSync(join(slot(s), "dist", "ridge.mjs"), "");
    // the slot's "Node": records what it ran with, exits as told
    writeFileSync(join(slot(s), "node", "bin", "node"), `#!/bin/sh\necho "${s} RIDGE_SLOT=$RIDGE_SLOT $*" >> ${join(t.dir, "runs.log")}\nexit ${typeof exitCode === "number" ? exitCode : (exitCode[s] ?? 0)}\n`);
    chmodSync(join(slot(s), "node", "bin", "node"), 0o755);
    writeMarker(slot(s), { version: "1.0.0", target: "t", sha256: "00", board: "sim", arch: "x64", entry: "dist/ridge.mjs", installedAt: "2026-01-01T00:00:00Z" });
  }
  const bc = new FileBootControl({ file: join(t.dir, "boot", "bootctl.json"), attempts: 3 });
  const errors: string[] = [];
  const o: LauncherOptions = { bootControl: bc, slotDir: slot, args: ["run", "--data", t.dir], env: { PATH: process.env.PATH }, clock: new FakeClock(0), log: { ...silentLogger, error: (_o, m) => errors.push(m) } };
  return { t, o, bc, errors, runs: () => readFileSync(join(t.dir, "runs.log"), "utf8").trim().split("\n") };
}

test("the slot's own Node runs the slot, through RIDGE_EXEC_WRAPPER when set", () => {
  const d = device(0);
  try {
    const c = launchCommand(d.o, "b", "/x/entry.mjs");
    assert.is(c.file, join(d.t.dir, "slots/b/node/bin/node"));
    assert.equal(c.args, ["/x/entry.mjs", "run", "--data", d.t.dir]);
    const w = launchCommand({ ...d.o, env: { RIDGE_EXEC_WRAPPER: "qemu-aarch64-static -L /usr/aarch64-linux-gnu" } }, "a", "/x/entry.mjs");
    assert.is(w.file, "qemu-aarch64-static");
    assert.equal(w.args.slice(0, 4), ["-L", "/usr/aarch64-linux-gnu", join(d.t.dir, "slots/a/node/bin/node"), "/x/entry.mjs"]);
  } finally {
    d.t.cleanup();
  }
});

test("one start (maxStarts 1) returns the runtime's exit status, RIDGE_SLOT set, one attempt spent", async () => {
  const d = device(75);
  try {
    assert.is(await runLauncher({ ...d.o, maxStarts: 1 }), 75);
    assert.equal(d.runs(), [`a RIDGE_SLOT=a ${join(d.t.dir, "slots/a/dist/ridge.mjs")} run --data ${d.t.dir}`]);
    assert.is(d.bc.bootAttemptsLeft("a"), 2);
  } finally {
    d.t.cleanup();
  }
});

test("exit 2 (the config is wrong) stops the launcher at once: no retry, no rollback", async () => {
  const d = device(2);
  try {
    assert.is(await runLauncher(d.o), 2, "without maxStarts too");
    assert.is(d.runs().length, 1);
    assert.equal(d.bc.state().order, ["a", "b"], "slot b not tried");
    assert.match(d.errors.join("\n"), /refused its config \(exit 2\)/);
  } finally {
    d.t.cleanup();
  }
});

test("exit 2 from the slot on trial is a failed trial: slot marked bad, restart (75) under one start, the old slot next", async () => {
  const d = device({ a: 0, b: 2 });
  try {
    d.bc.markPending("b", 3); // an update installed slot b; the update store says pending for it
    const asked: string[] = [];
    const slotOnTrial = (s: "a" | "b") => (asked.push(s), s === "b");
    assert.is(await runLauncher({ ...d.o, maxStarts: 1, slotOnTrial }), 75, "a restart: systemd starts again");
    assert.equal(asked, ["b"]);
    assert.match(d.runs()[0]!, /^b RIDGE_SLOT=b /);
    assert.equal(d.bc.state(), { order: ["a", "b"], left: { a: 3, b: 0 } }, "b given up, a first");
    assert.match(d.errors.join("\n"), /slot b refused the config during its trial: rolling back to a/);
    assert.not.match(d.errors.join("\n"), /not a slot failure/);
    // the next start (systemd's restart) runs the old slot
    assert.is(await runLauncher({ ...d.o, maxStarts: 1, slotOnTrial }), 0);
    assert.match(d.runs()[1]!, /^a RIDGE_SLOT=a /);
  } finally {
    d.t.cleanup();
  }
});

test("exit 2 from the slot on trial without maxStarts: the loop goes on with the old slot; exit 2 from the committed slot still stops", async () => {
  const d = device(2);
  try {
    d.bc.markPending("b", 3);
    assert.is(await runLauncher({ ...d.o, slotOnTrial: (s) => s === "b" }), 2, "a (committed) refused the config too: stop");
    assert.equal(d.runs().map((l) => l.slice(0, 1)), ["b", "a"]);
    assert.is(d.bc.bootAttemptsLeft("b"), 0);
    assert.match(d.errors.join("\n"), /slot a refused its config \(exit 2\): not a slot failure/);
  } finally {
    d.t.cleanup();
  }
});

test("exit 2 from a committed slot (slotOnTrial false, or failing) keeps stopping with 2", async () => {
  for (const slotOnTrial of [() => false, () => {
    throw new Error("database locked");
  }]) {
    const d = device(2);
    try {
      assert.is(await runLauncher({ ...d.o, maxStarts: 1, slotOnTrial }), 2);
      assert.equal(d.bc.state().order, ["a", "b"]);
      assert.is(d.bc.bootAttemptsLeft("a"), 2, "only the start's attempt spent: a is not marked bad");
    } finally {
      d.t.cleanup();
    }
  }
});

test("a crash of the slot on trial under one start asks for a restart (75): where the unit reboots on 75 (nvbootctrl) the boot loader's retries run down", async () => {
  for (const crash of [1, 70, 134]) {
    const d = device({ a: 0, b: crash });
    try {
      d.bc.markPending("b", 3);
      assert.is(await runLauncher({ ...d.o, maxStarts: 1, slotOnTrial: (s) => s === "b" }), 75, `exit ${crash} on trial`);
      assert.match(d.errors.join("\n"), new RegExp(`slot b crashed during its trial \\(exit ${crash}\\): asking for a restart`));
      assert.is(d.bc.bootAttemptsLeft("b"), 2, "the attempt is spent, the slot is not given up at once");
    } finally {
      d.t.cleanup();
    }
  }
  // a committed slot's crash is returned as it is (systemd restarts the unit)
  const d = device(70);
  try {
    assert.is(await runLauncher({ ...d.o, maxStarts: 1, slotOnTrial: () => false }), 70);
  } finally {
    d.t.cleanup();
  }
});

test("pinned ahead (the unit's ExecStartPre): one attempt spent, slots/running names the slot, the start takes the pin", async () => {
  const d = device(0);
  try {
    const pin = join(d.t.dir, "choice.json");
    const c = pinLaunch(d.o, pin)!;
    assert.is(c.slot, "a");
    assert.is(d.bc.bootAttemptsLeft("a"), 2);
    assert.is(readlinkSync(runningLink(d.o)), join(d.t.dir, "slots/a"));
    d.bc.markPending("b", 3); // the order changes after the pin: the start still runs what was pinned
    assert.is(await runLauncher({ ...d.o, maxStarts: 1, pinnedFile: pin }), 0);
    assert.match(d.runs()[0]!, /^a RIDGE_SLOT=a /);
    assert.is(d.bc.bootAttemptsLeft("b"), 3, "no second attempt spent");
    assert.not.ok(existsSync(pin), "consumed");
    // a pin naming a slot without its verified runtime is ignored: the launcher chooses itself
    writeFileSync(pin, JSON.stringify({ slot: "b", entry: "/nowhere/ridge.mjs", attemptsLeft: 1 }));
    assert.is(await runLauncher({ ...d.o, maxStarts: 1, pinnedFile: pin }), 0);
    assert.match(d.runs()[1]!, /^b RIDGE_SLOT=b /, "chose b (pending) by itself");
    assert.is(d.bc.bootAttemptsLeft("b"), 2);
  } finally {
    d.t.cleanup();
  }
});

test.run();
