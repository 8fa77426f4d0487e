// End to end with the real gateway: `ridge boot` starts the installed runtime (slot a), whose
// OTA component polls a repository on loopback, installs a real runtime bundle (dist/ridge.mjs,
// boards, package.json, native addons) into slot b and asks for a restart; the launcher boots b,
// the runtime in b passes its health check (drivers up for `upFor`) and commits.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadBoard, hostArch } from "../../boards/index.js";
import { buildRuntimeSlot } from "../../flash/index.js";
import { writeSlotBundle } from "../../runtime/cli/commands/ota.js";
import { readMarker } from "../../ota/slot-marker.js";
import { otaHistory } from "../helpers/ota-launch.js";
import { makeRepo } from "../helpers/ota-repo.js";
import { serveRepo } from "../helpers/ota-http.js";
import { startPeer, waitFor } from "../../peers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("ridge boot → poll → install into slot b → restart → trial → health → committed", async () => {
  const b = spawnSync(process.execPath, [join(ROOT, "scripts/bundle.mjs"), "--if-stale"], { cwd: ROOT, encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const t = await makeRepo({ now: Date.now() });
  const srv = await serveRepo(t.dir);
  const data = join(t.dir, "..", "gw");
  let launcher: ReturnType<typeof startPeer> | undefined;
  try {
    const bundle = join(t.dir, "..", "runtime.tar");
    const sim = loadBoard("sim");
    const m = await writeSlotBundle(buildRuntimeSlot({ projectRoot: ROOT, board: sim, withNode: false, version: "99.0.0", without: ["onnxruntime-web"] }), sim, bundle);
    assert.ok(Object.keys(m.files).some((f) => f.endsWith(".node")), "native addons are in the bundle");
    await t.repo.addTarget(bundle, "runtime-sim-99.0.0.tar", { kind: "runtime", version: "99.0.0", boards: ["sim"], arch: [hostArch()] });
    t.repo.sign(t.all());
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "root.json"), t.rootV1);
    writeFileSync(
      join(data, "gw.yaml"),
      `gateway: { id: ota-e2e }\nboard: sim\nota: { repo: "${srv.url}", poll: 1s, jitter: 0, root: ${JSON.stringify(join(data, "root.json"))}, health: { upFor: 2s } }\n`,
    );
    launcher = startPeer(process.execPath, ["--import", "tsx", join(ROOT, "runtime/cli/entry.ts"), "boot", "--board", "sim", "--data", data, "--", "--config", join(data, "gw.yaml")], { cwd: ROOT, maxSeconds: 120 });
    const history = (): string[] => otaHistory(data).map((r) => r.state + (r.code ? `:${r.code}` : ""));
    const committed = await waitFor(
      "the update to settle",
      () => {
        const rows = history();
        const settled = rows.includes("committed") || rows.some((r) => r.startsWith("failed") || r.startsWith("rolled-back")) || launcher!.child.exitCode !== null;
        return settled ? rows : false;
      },
      90_000,
      250,
    );
    assert.ok(committed.includes("committed"), `${committed.join(" ")}\n${launcher.output().slice(-3000)}`);
    assert.ok(committed.indexOf("trial") < committed.indexOf("committed"));
    assert.is(readMarker(join(data, "slots", "b"))?.version, "99.0.0");
    assert.match(launcher.output(), /starting slot b/);
  } finally {
    await launcher?.stop(10_000);
    await srv.close();
    t.cleanup();
  }
});

test.run();
