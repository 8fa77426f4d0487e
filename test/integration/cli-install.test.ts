// `ridge` on PATH after a global install of the checkout (README, CLI: `npm i -g .` / `npm link`):
// into a scratch prefix, offline, so this machine's global folder is left alone. The linked
// command finds the checkout (its source through tsx) from any directory, and reads RIDGE_DATA.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../peers/process.js";
import { repoRoot } from "../helpers/gateway.js";
import { VERSION } from "../../runtime/version.js";

test("npm i -g . puts ridge on PATH; it runs from anywhere and takes RIDGE_DATA for --data", () => {
  const tmp = tempDir();
  try {
    const prefix = join(tmp.dir, "prefix");
    const npm = spawnSync("npm", ["install", "-g", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", prefix, repoRoot], { encoding: "utf8", timeout: 120_000 });
    assert.is(npm.status, 0, npm.stderr);
    const bin = join(prefix, "bin", "ridge");
    assert.ok(existsSync(bin), `${bin} after npm i -g`);
    const env = { ...process.env, PATH: `${join(prefix, "bin")}:${process.env.PATH}`, RIDGE_FROM_SOURCE: "1" };
    const v = spawnSync("ridge", ["--version"], { cwd: tmp.dir, env, encoding: "utf8", timeout: 60_000 });
    assert.is(v.status, 0, v.stderr);
    assert.is(v.stdout.trim(), VERSION);
    const data = join(tmp.dir, "no-gateway-here");
    const st = spawnSync("ridge", ["status"], { cwd: tmp.dir, env: { ...env, RIDGE_DATA: data }, encoding: "utf8", timeout: 60_000 });
    assert.is(st.status, 1);
    assert.match(st.stderr, new RegExp(`E_CONTROL_NOT_RUNNING: no gateway control socket at ${data}/ridge\\.sock`));
  } finally {
    tmp.cleanup();
  }
});

test.run();
