// One launch environment (core/launch-env.ts) on every start path: the `#!` line of bin/ridge.mjs and
// of the bundle, `npm start` running the bundle as a program, and the flashed boot launcher.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAUNCH_ENV, LAUNCH_NODE_FLAGS, launchShebang } from "../../core/launch-env.js";
import { loadBoard } from "../../boards/index.js";
import { deviceLayout, renderBootLauncher } from "../../flash/index.js";
import { repoRoot } from "../helpers/gateway.js";
import { tempDir } from "../../peers/process.js";

const firstLine = (file: string) => readFileSync(file, "utf8").split("\n", 1)[0];

test("the launch environment pins glibc's mmap threshold and names the V8 options", () => {
  assert.is(LAUNCH_ENV.GLIBC_TUNABLES, "glibc.malloc.mmap_threshold=32768");
  assert.is(launchShebang(), `#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768 node ${LAUNCH_NODE_FLAGS.join(" ")}`);
  // the kernel reads at most 255 bytes of a #! line: a longer one would be cut off silently
  assert.ok(Buffer.byteLength(launchShebang()) < 256, `${Buffer.byteLength(launchShebang())} bytes`);
  // every option is one this Node accepts (a typo would stop the gateway from starting)
  const r = spawnSync(process.execPath, [...LAUNCH_NODE_FLAGS, "-e", "process.stdout.write('ok')"], { encoding: "utf8" });
  assert.is(r.stdout, "ok", r.stderr);
});

test("bin/ridge.mjs and the bundle start with the launch #! line; npm start runs the bundle as a program", () => {
  assert.is(firstLine(join(repoRoot, "bin/ridge.mjs")), launchShebang());
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const bundle = join(repoRoot, "dist/ridge.mjs");
  assert.is(firstLine(bundle), launchShebang());
  assert.ok((statSync(bundle).mode & 0o111) !== 0, "the bundle is executable");
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, /^\.\/dist\/ridge\.mjs run /);
  // Run through its #! line: the process sees the launch environment.
  const r = spawnSync(bundle, ["--version"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  assert.is(r.status, 0, r.stderr);
});

test("the boot launcher exports the launch environment before it execs the slot's node, a caller's value kept", () => {
  const t = tempDir("ridge-launch-env-");
  try {
    const L = deviceLayout(loadBoard("generic-arm64"));
    const at = (p: string) => join(t.dir, p);
    writeFileSync(at("ridge-boot"), renderBootLauncher(L));
    mkdirSync(at(`${L.slotA}/dist`), { recursive: true });
    mkdirSync(at(`${L.slotA}/node/bin`), { recursive: true });
    writeFileSync(at(`${L.slotA}/dist/ridge.mjs`), "");
    writeFileSync(at(`${L.slotA}/node/bin/node`), `#!/bin/sh\necho "$GLIBC_TUNABLES"\necho "$@"\n`);
    chmodSync(at(`${L.slotA}/node/bin/node`), 0o755);
    const run = (env: Record<string, string>) => spawnSync("sh", [at("ridge-boot")], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", RIDGE_ROOT: t.dir, ...env } });
    const [env, args] = run({}).stdout.trim().split("\n");
    assert.is(env, LAUNCH_ENV.GLIBC_TUNABLES);
    assert.ok(args!.startsWith(`${LAUNCH_NODE_FLAGS.join(" ")} `), args);
    assert.is(run({ GLIBC_TUNABLES: "glibc.malloc.arena_max=1" }).stdout.split("\n")[0], "glibc.malloc.arena_max=1");
  } finally {
    t.cleanup();
  }
});

test.run();
