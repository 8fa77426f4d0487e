// A runtime OTA on a flashed root, natively (the sim board, this host's arch), driven the way the
// flashed unit drives it: systemd runs `ridge-boot` (→ `ridge boot --max-starts 1`) and starts it
// again whenever it exits (Restart=always). Slot a, as flashed, polls a TUF repository on loopback,
// installs 99.0.0 into the flashed root's standby slot b and exits 75; the next start boots slot b
// (BootControl: b first, one attempt spent), its health check passes and it commits; the device's
// `ridge ota status` shows slot b committed. The same flow under qemu on an arm64 root is item 6.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hostArch, loadBoard } from "../../boards/index.js";
import { buildRuntimeSlot, deviceLayout, flashDevice, writeSlotBundle } from "../../boards/flash/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { readMarker } from "../../ota/slot-marker.js";
import { otaHistory } from "../helpers/ota-launch.js";
import { makeRepo } from "../helpers/ota-repo.js";
import { serveRepo } from "../helpers/ota-http.js";
import { startPeer, waitFor, type Peer } from "../helpers/peer.js";
import { repoRoot } from "../helpers/gateway.js";

test("flashed sim root: ridge-boot runs slot a, the update installs into the flashed slot b, the restart boots b, it commits", async () => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const t = await makeRepo({ now: Date.now() });
  const srv = await serveRepo(t.dir);
  const board = loadBoard("sim");
  const L = deviceLayout(board);
  const root = join(t.dir, "..", "device");
  const data = join(root, L.dataDir);
  let run: Peer | undefined;
  try {
    const bundle = join(t.dir, "..", "runtime.tar");
    await writeSlotBundle(buildRuntimeSlot({ projectRoot: repoRoot, board, withNode: false, version: "99.0.0", without: ["onnxruntime-web"] }), board, bundle);
    await t.repo.addTarget(bundle, "runtime-sim-99.0.0.tar", { kind: "runtime", version: "99.0.0", boards: ["sim"], arch: [hostArch()] });
    t.repo.sign(t.all());

    mkdirSync(root);
    flashDevice({
      root,
      board,
      projectRoot: repoRoot,
      validate: validateGatewayConfig,
      gatewayId: "ota-flashed",
      configText: `ota: { repo: "${srv.url}", poll: 1s, jitter: 0, health: { upFor: 2s } }\n`,
      configLabel: "ota.yaml",
      otaRootText: Buffer.from(t.rootV1).toString("utf8"),
      otaRootLabel: "root.json",
    });
    assert.ok(readMarker(join(root, L.slotA)), "flashed slot a carries its verified marker");

    const history = (): string[] => otaHistory(data).map((r) => r.state);

    // systemd's part: start ridge-boot, and start it again when it exits (Restart=always), at most 4 times
    const outputs: string[] = [];
    const codes: (number | null)[] = [];
    for (let start = 0; start < 4 && !history().includes("committed"); start++) {
      run = startPeer(join(root, L.launcher), [], { env: { PATH: process.env.PATH, RIDGE_ROOT: root }, maxSeconds: 90 });
      const p = run;
      const outcome = await waitFor("the start to end or commit", async () => (p.child.exitCode !== null ? "exited" : history().includes("committed") ? "committed" : undefined), 80_000, 200);
      if (outcome === "exited") {
        await p.exited;
        codes.push(p.child.exitCode);
        outputs.push(p.output());
        run = undefined;
      } else outputs.push(p.output());
    }
    const all = outputs.join("\n----\n");
    const rows = history();
    assert.ok(rows.includes("committed"), `${rows.join(" ")}\n${all.slice(-4000)}`);
    assert.equal(codes, [75], "one restart into the new slot (exit 75), then it runs");
    assert.match(outputs[0]!, /ridge boot: starting slot a/);
    assert.match(outputs[1]!, /ridge boot: starting slot b/);
    assert.ok(rows.indexOf("pending") < rows.indexOf("trial") && rows.indexOf("trial") < rows.indexOf("committed"), rows.join(" "));
    assert.is(readMarker(join(root, L.slotB))?.version, "99.0.0", "installed into the flashed root's standby slot");
    assert.equal((JSON.parse(readFileSync(join(data, "boot/bootctl.json"), "utf8")) as { order: string[] }).order, ["b", "a"]);

    // the operator's view through the device's ridge
    const st = spawnSync(join(root, L.ridgeCommand), ["ota", "status"], { encoding: "utf8", env: { PATH: process.env.PATH, RIDGE_ROOT: root }, timeout: 60_000 });
    assert.is(st.status, 0, st.stderr);
    assert.match(st.stdout, /^\s+\S+\s+committed 99\.0\.0$/m, st.stdout);
    assert.match(st.stdout, /^active slot: b, running 99\.0\.0/m, st.stdout);
  } finally {
    await run?.stop(10_000);
    await srv.close();
    t.cleanup();
  }
});

test.run();
