// The bundle's dependencies are transformed at build time (scripts/bundle.mjs: lazy builtins and
// prom-client parts, zod without per-instance bound methods): its config validation must say
// exactly what the TypeScript source says, for a valid and an invalid file.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, ridgeBin } from "../helpers/gateway.js";
import { tempDir } from "../../peers/process.js";

test("ridge config check: the bundle and the source agree, error locations and exit codes included", () => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const t = tempDir("ridge-bundle-config-");
  try {
    const good = join(t.dir, "good.yaml");
    const bad = join(t.dir, "bad.yaml");
    writeFileSync(good, "gateway: { id: gw-1 }\ndrivers:\n  - sim: { name: trail, devices: 3, rateHz: 2 }\n");
    writeFileSync(bad, 'gateway: { id: "bad id" }\ndrivers:\n  - sim: { name: a, rateHz: "fast" }\n  - nope: {}\ncolour: red\nshutdown: { deadline: soon }\n');
    for (const file of [good, bad]) {
      const args = ["config", "check", file, "--board", "sim"];
      const src = spawnSync(process.execPath, [ridgeBin, ...args], { encoding: "utf8", env: { ...process.env, RIDGE_FROM_SOURCE: "1" } });
      const bun = spawnSync(process.execPath, [join(repoRoot, "dist/ridge.mjs"), ...args], { encoding: "utf8" });
      assert.is(bun.status, src.status, file);
      assert.is(bun.stdout, src.stdout, file);
      assert.is(bun.stderr, src.stderr, file);
    }
    const r = spawnSync(process.execPath, [join(repoRoot, "dist/ridge.mjs"), "config", "check", bad], { encoding: "utf8" });
    assert.is(r.status, 2);
    assert.match(r.stderr, /bad\.yaml:3:\d+ drivers\[0\]\.sim\.rateHz/);
  } finally {
    t.cleanup();
  }
});

test.run();
