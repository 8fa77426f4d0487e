// The README's first command: `npm start` bundles if needed, runs the sim board, prints one ready line and answers /status.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { controlRequest } from "../../runtime/control/client.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { repoRoot } from "../helpers/gateway.js";

test("npm start reaches ready in a child process and answers /status", async () => {
  const tmp = tempDir();
  const data = join(tmp.dir, "ridgeline");
  // `-- --data DIR` keeps the test out of the checkout's ./.ridgeline (the last --data wins).
  const child = spawn("npm", ["start", "--silent", "--", "--data", data], { cwd: repoRoot, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  try {
    const line = await waitFor("the ready line", () => out.split("\n").find((l) => l.includes(" ready in ")), 90_000, 50);
    assert.match(line, /^ridgeline \S+ ready in \d+ ms: gateway sim-gw on board sim; status: curl --unix-socket .*ridge\.sock http:\/\/ridge\/status/);
    const st = await controlRequest(data, "GET", "/status");
    assert.is(st.status, 200);
    const body = st.body as { board: string; components: Record<string, unknown> };
    assert.is(body.board, "sim");
    assert.ok(body.components["driver:trail"], "the simulated trail trackers run");
    // Offline: nothing configured for the cloud, so the uplink queue fills.
    await waitFor("queued events", async () => {
      const s = (await controlRequest(data, "GET", "/status")).body as { components: { uplink: Record<string, unknown> } };
      return JSON.stringify(s.components.uplink).match(/"(depth|events)":\s*[1-9]/) ? true : undefined;
    }, 15_000, 200);
  } catch (e) {
    console.error(err.slice(-3000));
    throw e;
  } finally {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      /* gone */
    }
    await new Promise((r) => child.on("close", r));
    tmp.cleanup();
  }
});

test.run();
