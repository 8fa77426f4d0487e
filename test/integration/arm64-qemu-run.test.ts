// The ARM64 proof: flash the generic-arm64 board into a temp root and run the flashed runtime with
// the slot's own arm64 Node under qemu-aarch64-static, through the boot launcher the systemd unit
// starts: it reaches ready, the sim driver produces events, the pipeline runs, the SQLite queue
// (better-sqlite3 cross-built for arm64) fills, and `ridge status` answers through the control socket.
// Attestation (software key: tpm off) signs with the attestation key flashing made and measures what
// the flashed first measurement log holds.
// Bounded: qemu is 10-20x slower than native, so every wait is generous but finite.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadBoard } from "../../boards/index.js";
import { deviceLayout, flashDevice, type MeasurementLogFile } from "../../flash/index.js";
import { privateKeyFromPem, type Evidence } from "../../attest/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { controlRequest } from "../../runtime/control/client.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { startFlashedLauncher } from "../helpers/flashed-launcher.js";
import { repoRoot, ridge } from "../helpers/gateway.js";
import { ARM64_SYSROOT, QEMU_AARCH64, ensureArm64Artifacts, ensureQemu, qemuWrapper } from "../helpers/arm64.js";

const qemu = ensureQemu();
const tmp = tempDir("ridge-arm64-");
const board = loadBoard("generic-arm64");
const L = deviceLayout(board);
const root = join(tmp.dir, "root");
const data = join(root, L.dataDir);
const slot = join(root, L.slotA);
const CONFIG = `# the arm64 proof: simulated trail trackers into the offline queue
drivers:
  - sim: { name: trail, scenario: trail, devices: 8, rateHz: 4 }
pipeline:
  sources: { trackers: { from: trail, kind: telemetry } }
  operators:
    valid: { filter: "payload.altitude >= 500 and payload.altitude <= 4500", input: trackers }
  sinks:
    cloud: { uplink: { priority: telemetry }, input: valid }
attest: { tpm: off }
`;

test.before(() => {
  assert.ok(qemu, "qemu-user-static and the aarch64 sysroot are installed (.ci/run installs them): a missing peer is a failure, never a skip");
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  ensureArm64Artifacts();
  mkdirSync(root);
  flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, gatewayId: "arm64-proof", configText: CONFIG, configLabel: "arm64-proof.yaml", cloudUrl: "mqtts://iot.example.com:8883" });
});
test.after(() => tmp.cleanup());

const launcherEnv = () => ({ ...process.env, RIDGE_ROOT: root, RIDGE_EXEC_WRAPPER: qemuWrapper() });

test("the slot's Node is arm64 and runs under qemu-aarch64 (process.arch, version = host)", () => {
  const r = spawnSync(qemu ?? QEMU_AARCH64, ["-L", ARM64_SYSROOT, join(slot, "node/bin/node"), "-p", "process.arch + ' ' + process.version"], { encoding: "utf8", timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), `arm64 ${process.version}`);
});

test("ridge-boot --version runs the flashed slot under qemu", () => {
  const r = spawnSync(join(root, L.launcher), ["--version"], { encoding: "utf8", env: launcherEnv(), timeout: 90_000 });
  assert.is(r.status, 0, r.stderr);
  const pkg = JSON.parse(readFileSync(join(slot, "package.json"), "utf8")) as { version: string };
  assert.is(r.stdout.trim(), pkg.version);
});

test("the flashed runtime reaches ready under qemu-aarch64; events flow into the arm64 SQLite queue; ridge status answers", async () => {
  // The launcher with no arguments runs what systemd runs: `ridge boot`, then `ridge run` in the chosen slot.
  const gw = startFlashedLauncher(root, L, launcherEnv(), 240);
  try {
    const line = await gw.ready(150_000);
    assert.match(line, /gateway arm64-proof on board generic-arm64/);

    // status through the control socket (the arm64 process answers the x64 client)
    const st = await controlRequest(data, "GET", "/status");
    assert.is(st.status, 200);
    const body = st.body as { arch: string; board: string; components: Record<string, { state: string }> };
    assert.is(body.arch, "arm64");
    assert.is(body.board, "generic-arm64");
    for (const c of ["uplink", "pipeline", "driver:trail", "control"]) assert.is(body.components[c]?.state, "up", `${c} up`);

    // events flow: the sim driver emits, the pipeline delivers, the SQLite queue (offline: no certificate yet) fills
    await waitFor(
      "queued events",
      async () => {
        const s = (await controlRequest(data, "GET", "/status")).body as { components: Record<string, Record<string, unknown>> };
        const pipe = s.components.pipeline ?? {};
        const q = JSON.stringify(s.components.uplink ?? {});
        return Number(pipe.delivered ?? 0) > 0 && /"(depth|events)":\s*[1-9]/.test(q) ? true : undefined;
      },
      60_000,
      500,
    );
    // first boot without cloud credentials: offline, and the status says which file is missing
    const full = JSON.stringify((await controlRequest(data, "GET", "/status")).body);
    assert.match(full, /E_CLOUD_TLS_FILE/);
    assert.match(full, /id\.crt/);

    // attestation: the quote is signed with the flashed key (none made at start), and the runtime's
    // log measures what the flashed first log holds (descriptions name RIDGE_ROOT-prefixed paths here)
    const akPem = readFileSync(join(data, "attest/ak-sm2.key"), "utf8");
    const q = await controlRequest(data, "POST", "/attest/quote", { nonce: "00112233445566778899aabbccddeeff" }, 60_000);
    assert.is(q.status, 200, JSON.stringify(q.body));
    const ev = q.body as Evidence;
    assert.is(ev.signer.publicKey, Buffer.from(privateKeyFromPem(akPem).publicKey).toString("hex"), "the runtime signs with the flashed attestation key");
    assert.not.match(gw.out() + gw.err(), /generated the attestation key/);
    assert.is(readFileSync(join(data, "attest/ak-sm2.key"), "utf8"), akPem);
    const flashed = JSON.parse(readFileSync(join(root, L.measurementLog), "utf8")) as MeasurementLogFile;
    const live = (await controlRequest(data, "GET", "/attest/log")).body as MeasurementLogFile;
    assert.equal([live.gateway, live.backend, live.alg], [flashed.gateway, flashed.backend, flashed.alg]);
    const shape = (l: MeasurementLogFile) => l.events.map((e) => ({ seq: e.seq, pcr: e.pcr, type: e.type, component: e.component, version: e.version, sha256: e.digests.sha256, sm3: e.digests.sm3 }));
    assert.equal(shape(live), shape(flashed), "same events, PCRs and digests as the flashed first log");
    assert.equal(live.events.filter((e) => e.type === "driver"), flashed.events.filter((e) => e.type === "driver"));

    // the operator's command: `ridge status --data DIR` through the socket
    const cli = await ridge(["status", "--data", data]);
    assert.is(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /gateway arm64-proof .* board generic-arm64 \(arm64\)/);
    assert.match(cli.stdout, /driver:trail\s+up/);
  } catch (e) {
    console.error(`stdout:\n${gw.out().slice(-3000)}\nstderr:\n${gw.err().slice(-3000)}`);
    throw e;
  } finally {
    await gw.stop();
  }
});

test.run();
