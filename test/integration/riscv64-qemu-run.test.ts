// The RISC-V proof: flash the visionfive2 board into a temp root and run the flashed runtime with
// the slot's own riscv64 Node (Debian 13's nodejs and the libraries it links, shipped in the slot)
// under qemu-riscv64-static on a sysroot holding glibc alone (the board's own system), through the
// boot launcher the systemd unit starts (`ridge boot`, U-Boot env boot control with fake
// fw_printenv/fw_setenv): it reaches ready, the sim driver produces events, the SQLite queue
// (better-sqlite3 cross-built for riscv64) fills, the embedded MQTT broker (aedes), an MQTT client
// of it (mqtt.js) and the LwM2M server (coap) come up, and `ridge status` answers with arch riscv64.
// A missing qemu or riscv64 artifact fails this file: it never skips.
// Bounded: qemu is 10-20x slower than native, so every wait is generous but finite.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadBoard } from "../../boards/index.js";
import { deviceLayout, flashDevice, nodeDistDir } from "../../flash/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { controlRequest } from "../../runtime/control/client.js";
import { freeTcpPort, freeUdpPort, tempDir, waitFor } from "../../peers/process.js";
import { startFlashedLauncher } from "../helpers/flashed-launcher.js";
import { repoRoot, ridge } from "../helpers/gateway.js";
import { writeFakeBootTools } from "../helpers/ota-boot-tools.js";
import { RISCV64_BASE, ensureRiscv64Artifacts, qemuRiscv64Wrapper, requireQemuRiscv64 } from "../helpers/riscv64.js";

const tmp = tempDir("ridge-riscv64-");
const board = loadBoard("visionfive2");
const L = deviceLayout(board);
const root = join(tmp.dir, "root");
const data = join(root, L.dataDir);
const slot = join(root, L.slotA);
let qemu = "";
let tools: ReturnType<typeof writeFakeBootTools>;

const config = (mqttPort: number, lwm2mPort: number) => `# the riscv64 proof: simulated trail trackers into the offline queue, and the bundled peers' libraries
drivers:
  - sim: { name: trail, scenario: trail, devices: 8, rateHz: 4 }
  - mqtt: { name: site, listen: "127.0.0.1:${mqttPort}", allowAnonymous: true }
  - mqtt: { name: up, broker: client, client: { url: "mqtt://127.0.0.1:${mqttPort}" } }
  - lwm2m: { name: field, listen: "127.0.0.1:${lwm2mPort}" }
pipeline:
  sources: { trackers: { from: trail, kind: telemetry } }
  operators:
    valid: { filter: "payload.altitude >= 500 and payload.altitude <= 4500", input: trackers }
  sinks:
    cloud: { uplink: { priority: telemetry }, input: valid }
attest: { tpm: off }
`;

test.before(async () => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  ensureRiscv64Artifacts();
  qemu = requireQemuRiscv64();
  tools = writeFakeBootTools(tmp.dir);
  mkdirSync(root);
  const { plan } = flashDevice({
    root,
    board,
    projectRoot: repoRoot,
    validate: validateGatewayConfig,
    gatewayId: "riscv64-proof",
    configText: config(await freeTcpPort(), await freeUdpPort()),
    configLabel: "riscv64-proof.yaml",
    cloudUrl: "mqtts://iot.example.com:8883",
  });
  assert.ok(plan.slot.node, "the slot carries Node.js (default for visionfive2)");
});
test.after(() => tmp.cleanup());

const launcherEnv = () => ({
  ...process.env,
  RIDGE_ROOT: root,
  RIDGE_EXEC_WRAPPER: qemuRiscv64Wrapper(),
  PATH: `${tools.bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  FAKE_UBOOT_ENV: join(tmp.dir, "uboot.env"),
});

test("the slot's Node is riscv64, runs under qemu on glibc alone, speaks the host's addon ABI, has SM3", () => {
  const code = "console.log([process.arch, process.versions.modules, require('node:crypto').getHashes().includes('sm3'), process.execPath].join(' '))";
  const r = spawnSync(qemu, ["-L", RISCV64_BASE, join(slot, "node/bin/node"), "-e", code], { encoding: "utf8", timeout: 60_000, env: { PATH: process.env.PATH ?? "" } });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), `riscv64 ${process.versions.modules} true ${join(slot, "node/bin/node")}`);
  // the libraries come from the slot, glibc from the (stand-in) system
  const m = JSON.parse(readFileSync(join(nodeDistDir(join(repoRoot, ".cache"), "riscv64"), "ridge-node.json"), "utf8")) as { files: string[] };
  for (const f of m.files) assert.ok(readFileSync(join(slot, "node", f)).length > 0, `node/${f} in the slot`);
});

test("ridge-boot --version runs the flashed slot under qemu-riscv64", () => {
  const r = spawnSync(join(root, L.launcher), ["--version"], { encoding: "utf8", env: launcherEnv(), timeout: 90_000 });
  assert.is(r.status, 0, r.stderr);
  const pkg = JSON.parse(readFileSync(join(slot, "package.json"), "utf8")) as { version: string };
  assert.is(r.stdout.trim(), pkg.version);
});

test("the flashed runtime reaches ready under qemu-riscv64; events flow into the riscv64 SQLite queue; MQTT and LwM2M peers up; ridge status answers", async () => {
  // The launcher with no arguments runs what systemd runs: `ridge boot`, then `ridge run` in the chosen slot.
  const gw = startFlashedLauncher(root, L, launcherEnv(), 200);
  const t0 = Date.now();
  try {
    const line = await gw.ready(120_000);
    assert.match(line, /gateway riscv64-proof on board visionfive2/);
    console.log(`  launcher to ready line under qemu-riscv64: ${Date.now() - t0} ms (informational); ${line.trim().slice(0, 60)}`);

    const st = await controlRequest(data, "GET", "/status");
    assert.is(st.status, 200);
    const body = st.body as { arch: string; board: string; components: Record<string, { state: string }> };
    assert.is(body.arch, "riscv64");
    assert.is(body.board, "visionfive2");
    for (const c of ["uplink", "pipeline", "driver:trail", "driver:site", "driver:field", "control"]) assert.is(body.components[c]?.state, "up", `${c} up`);

    // events flow into the SQLite queue (offline: no certificate yet); the MQTT client reaches the embedded broker
    await waitFor(
      "queued events and the MQTT client connected",
      async () => {
        const s = (await controlRequest(data, "GET", "/status")).body as { components: Record<string, Record<string, unknown>> };
        const pipe = s.components.pipeline ?? {};
        const q = JSON.stringify(s.components.uplink ?? {});
        const up = JSON.stringify(s.components["driver:up"] ?? {});
        return Number(pipe.delivered ?? 0) > 0 && /"(depth|events|queued)":\s*[1-9]/.test(q) && /"connected":\s*true/.test(up) ? true : undefined;
      },
      60_000,
      500,
    );

    const cli = await ridge(["status", "--data", data]);
    assert.is(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /gateway riscv64-proof .* board visionfive2 \(riscv64\)/);
    assert.match(cli.stdout, /driver:trail\s+up/);
  } catch (e) {
    console.error(`stdout:\n${gw.out().slice(-3000)}\nstderr:\n${gw.err().slice(-3000)}`);
    throw e;
  } finally {
    await gw.stop();
  }
});

test.run();
