// A power cut mid-download, then the real gateway (`ridge run`, from source) started again as the
// launcher starts it after a reboot: the resumed download does not hold start-up (ready first, the
// download continues in the background), and the restart into the new slot that follows is owned
// by the process from its first line (exit 75 for the launcher), never "nothing owns this
// process's restarts; staying up".
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { fetcherFor } from "../../ota/index.js";
import { readMarker } from "../../ota/slot-marker.js";
import { EXIT } from "../../runtime/cli/args.js";
import { makeDevice } from "../helpers/ota-device.js";
import { serveRepo } from "../helpers/ota-http.js";
import { startPeer } from "../../peers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

for (const point of ["mid-download", "state:verifying"]) {
  test(`power cut at ${point}, the gateway started again: ready first, then it finishes the update and restarts by itself`, async () => {
    const d = await makeDevice();
    const srv = await serveRepo(d.repo.dir);
    try {
      await d.publish("1.1.0", "ok", 3_000_000);
      // the first life: the agent runs until the cut (its state and the partial download stay on disk)
      const db = new Database(join(d.dataDir, "ridgeline.db"));
      db.pragma("journal_mode = WAL");
      const agent = d.agent({
        db,
        downloadRetries: 0,
        booted: "a",
        mirrors: [fetcherFor(srv.url)],
        crashPoint: (p) => {
          if (p === point) throw new Error(`power cut at ${p}`);
        },
      });
      await agent.boot();
      if (point === "mid-download") {
        // the link drops after 1 MB and the power goes before the retry: the partial file stays
        srv.cutAfter("runtime-sim-1.1.0", 1_000_000, 1);
        await agent.check("poll");
      } else {
        await agent.check("poll").then(
          () => assert.unreachable("the cut happened"),
          (e: Error) => assert.match(e.message, /power cut/),
        );
      }
      assert.is(agent.state().s, point === "mid-download" ? "downloading" : "verifying");
      agent.stop();
      db.close();
      const work = join(d.dataDir, "ota", "download");
      if (point === "mid-download") {
        const parts = readdirSync(work).filter((f) => f.endsWith(".part"));
        assert.is(parts.length, 1);
        assert.ok(statSync(join(work, parts[0]!)).size < 3_000_000, "the download was cut short");
      }

      // the second life: the real gateway, as the launcher starts it (RIDGE_SLOT=a)
      const cfg = join(d.dataDir, "gw.yaml");
      writeFileSync(cfg, `gateway: { id: pc-gw }\nboard: sim\nota: { repo: "${srv.url}", poll: 1h, jitter: 0, root: ${JSON.stringify(join(d.dataDir, "root.json"))}, health: { upFor: 1s } }\n`);
      const gw = startPeer(process.execPath, ["--import", "tsx", join(ROOT, "runtime/cli/entry.ts"), "run", "--board", "sim", "--data", d.dataDir, "--config", cfg], {
        cwd: ROOT,
        env: { ...process.env, RIDGE_SLOT: "a", RIDGE_LOG_LEVEL: "info" },
        maxSeconds: 60,
      });
      const code = await gw.exited;
      const out = gw.output();
      assert.is(code, EXIT.restart, `exit ${code}\n${out.slice(-3000)}`);
      assert.not.match(out, /nothing owns this process's restarts/);
      assert.match(out, /ridgeline .* ready in/);
      if (point === "mid-download") {
        const bg = out.indexOf("resuming the download in the background");
        assert.ok(bg >= 0 && bg < out.indexOf("ready in"), "start-up did not wait for the download");
      }
      const check = new Database(join(d.dataDir, "ridgeline.db"), { readonly: true });
      const st = JSON.parse((check.prepare("SELECT state FROM ota_state WHERE id = 1").get() as { state: string }).state) as { s: string; slot?: string };
      check.close();
      assert.equal([st.s, st.slot], ["pending", "b"]);
      assert.is(readMarker(d.slot("b"))?.version, "1.1.0");
      assert.not.ok(existsSync(work) && readdirSync(work).some((f) => f.endsWith(".part")), "no .part left behind");
    } finally {
      await srv.close();
      d.cleanup();
    }
  });
}

test.run();
