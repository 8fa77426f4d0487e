/**
 * The web console's static files travel inside the esbuild bundle (the one file a flashed or OTA
 * slot runs): `dist/ridge.mjs run` serves each file of runtime/console/static/ byte for byte, though
 * no static folder sits beside dist/ (from the bundle, assets.ts never reads the file system).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { controlRequest } from "../../runtime/control/client.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { repoRoot } from "../helpers/gateway.js";

test("dist/ridge.mjs serves the console's files from inside the bundle", async () => {
  const built = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { cwd: repoRoot, encoding: "utf8", timeout: 180_000 });
  assert.is(built.status, 0, built.stderr);
  assert.not.ok(existsSync(join(repoRoot, "dist/static")), "nothing beside the bundle to read from");
  const t = tempDir("ridge-console-bundle-");
  const data = join(t.dir, "data");
  const child = spawn(process.execPath, [join(repoRoot, "dist/ridge.mjs"), "run", "--board", "sim", "--data", data], { cwd: t.dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  try {
    await waitFor("the ready line", () => out.includes(" ready in ") || (child.exitCode !== null && Promise.reject(new Error(`exited: ${err.slice(-2000)}`))), 60_000, 50);
    const dir = join(repoRoot, "runtime/console/static");
    for (const f of readdirSync(dir)) {
      if (f.endsWith(".html")) continue;
      const r = await controlRequest(data, "GET", `/console/${f}`);
      assert.is(r.status, 200, f);
      assert.is(r.text, readFileSync(join(dir, f), "utf8"), f);
    }
    const page = await controlRequest(data, "GET", "/");
    assert.is(page.text, readFileSync(join(dir, "index.html"), "utf8"));
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM");
    const t9 = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(t9);
    t.cleanup();
  }
});

test.run();
