// The flashed gateway end to end, on the arm64 root users put on a gateway, under qemu-aarch64:
// `ridge flash --board generic-arm64` with a config that has a Modbus meter on a socat pty served
// by pymodbus, an MQTT device on the embedded broker, the cloud link to a mosquitto on loopback and
// the control API token as a secret from a credential file. It is started the way the unit starts
// it (ridge-boot → `ridge boot --max-starts 1` → the slot's own arm64 Node), and restarted the way
// systemd does (Restart=always; exit 2 is not retried). Then:
//   1. Modbus and MQTT values reach the cloud subscriber;
//   2. a runtime OTA from a local TUF repository installs into slot b, the restart boots b, its
//      health check passes and it commits (`ridge ota status` on the device says so);
//   3. a bad version (its slot lacks serialport: the Modbus driver cannot load, so the health check
//      fails) is installed, tried, rolled back to b, and never committed.
// One such run in CI (the other boards get a flash + load-every-package check in slot-builder).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { loadBoard } from "../../boards/index.js";
import { buildRuntimeSlot, deviceLayout, flashDevice, parseSecretOptions } from "../../flash/index.js";
import { writeSlotBundle } from "../../runtime/cli/commands/ota.js";
import { readMarker } from "../../ota/slot-marker.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { controlRequest } from "../../runtime/control/client.js";
import { ensureArm64Artifacts, ensureQemu, qemuWrapper } from "../helpers/arm64.js";
import { collect, type Collector } from "../helpers/cloud.js";
import { repoRoot } from "../helpers/gateway.js";
import { canRunRealSlave, startPtyPair, startRealSlave, type RealSlave } from "../../peers/modbus-rtu-slave.js";
import { startMosquitto, type Mosquitto } from "../../peers/mosquitto.js";
import { otaHistory } from "../helpers/ota-launch.js";
import { makeRepo, type TestRepo } from "../helpers/ota-repo.js";
import { serveRepo, type RepoServer } from "../helpers/ota-http.js";
import { freeTcpPort, freeUdpPort, startPeer, tempDir, waitFor, type Peer } from "../../peers/process.js";

const board = loadBoard("generic-arm64");
const L = deviceLayout(board);
const tmp = tempDir("ridge-arm64-e2e-");
const root = join(tmp.dir, "root");
const data = join(root, L.dataDir);
const TOKEN = "e2e-token-0123456789abcdef";

let cloud: Mosquitto;
let collector: Collector;
let pty: Peer;
let slave: RealSlave;
let repo: TestRepo;
let srv: RepoServer;
let mqttPort: number;
let httpPort: number;
let lwm2mPort: number;

const qemu = ensureQemu();

test.before(async () => {
  assert.ok(qemu, "qemu-user-static and the aarch64 sysroot are installed (.ci/run installs them)");
  assert.ok(canRunRealSlave(), "socat and python3-pymodbus + python3-serial-asyncio are installed (.ci/run installs them)");
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  ensureArm64Artifacts();
  cloud = await startMosquitto({ maxSeconds: 400 });
  collector = await collect(cloud.url, "arm64-e2e");
  pty = await startPtyPair(tmp.dir, "meter", "slave");
  slave = await startRealSlave(join(tmp.dir, "slave"), { units: [1] });
  repo = await makeRepo({ now: Date.now() });
  srv = await serveRepo(repo.dir);
  mqttPort = await freeTcpPort();
  httpPort = await freeTcpPort();
  lwm2mPort = await freeUdpPort();
  const config = `gateway: { id: arm64-e2e }
drivers:
  - modbus: { name: rs485, port: ${join(tmp.dir, "meter")}, baudRate: 9600, parity: none, timeoutMs: 1000 }
  - mqtt: { name: site, listen: "127.0.0.1:${mqttPort}", allowAnonymous: true }
  - lwm2m: { name: field, listen: "127.0.0.1:${lwm2mPort}" }
devices:
  - id: meter-1
    driver: rs485
    unit: 1
    poll: { every: 1s }
    points:
      - { name: h0, fn: holding, address: 0 }
      - { name: temp, fn: input, address: 10, type: float32 }
  - { id: sensor-7, driver: site }
pipeline:
  sources:
    meters: { from: rs485 }
    site: { from: site }
  sinks:
    cloud: { uplink: { priority: telemetry }, input: [meters, site] }
cloud:
  mqtt: { url: "${cloud.url}" }
ota: { repo: "${srv.url}", poll: 2s, jitter: 0, health: { upFor: 5s } }
attest: { tpm: off }
control: { http: { listen: "127.0.0.1:${httpPort}", token: "\${RIDGE_TOKEN}" } }
`;
  writeFileSync(join(tmp.dir, "token"), `${TOKEN}\n`);
  mkdirSync(root);
  flashDevice({
    root,
    board,
    projectRoot: repoRoot,
    validate: validateGatewayConfig,
    configText: config,
    configLabel: "arm64-e2e.yaml",
    otaRootText: Buffer.from(repo.rootV1).toString("utf8"),
    otaRootLabel: "root.json",
    secrets: parseSecretOptions([], [`RIDGE_TOKEN=${join(tmp.dir, "token")}`]),
  });
});

test.after(async () => {
  await collector?.close();
  await cloud?.cleanup();
  await slave?.stop();
  await pty?.stop();
  await srv?.close();
  repo?.cleanup();
  tmp.cleanup();
});

/** What systemd gives the service: the credentials folder (LoadCredential=), nothing else of ours. */
const deviceEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  RIDGE_ROOT: root,
  RIDGE_EXEC_WRAPPER: qemuWrapper(),
  CREDENTIALS_DIRECTORY: join(root, L.credentialsDir),
});

const history = () => otaHistory(data);

/** systemd's part: start ridge-boot again whenever it exits, until `done` holds (bounded). */
async function superviseUntil(what: string, done: () => boolean, maxStarts: number, perStartMs: number): Promise<{ codes: (number | null)[]; output: string; running: Peer | undefined }> {
  const codes: (number | null)[] = [];
  const outputs: string[] = [];
  let running: Peer | undefined;
  for (let start = 0; start < maxStarts && !done(); start++) {
    const p = startPeer(join(root, L.launcher), [], { env: deviceEnv(), maxSeconds: Math.ceil(perStartMs / 1000) + 30, detached: true });
    const outcome = await waitFor(what, () => (p.child.exitCode !== null ? "exited" : done() ? "done" : undefined), perStartMs, 250);
    outputs.push(p.output());
    if (outcome === "exited") {
      await p.exited;
      codes.push(p.child.exitCode);
      if (p.child.exitCode === 2) break; // RestartPreventExitStatus=2
    } else running = p;
  }
  return { codes, output: outputs.join("\n---- restart ----\n"), running };
}

function deviceRidge(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(root, L.ridgeCommand), args, { encoding: "utf8", env: deviceEnv(), timeout: 120_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

async function publishBundle(version: string, without: string[]): Promise<void> {
  const bundle = join(tmp.dir, `runtime-${version}.tar`);
  const slot = buildRuntimeSlot({ projectRoot: repoRoot, board, withNode: true, version, without: ["onnxruntime-web", ...without] });
  await writeSlotBundle(slot, board, bundle);
  await repo.repo.addTarget(bundle, `runtime-generic-arm64-${version}.tar`, { kind: "runtime", version, boards: [board.name], arch: ["arm64"] });
  repo.repo.sign(repo.all());
}

let device: Peer | undefined;

test("flashed arm64 root under qemu: Modbus and MQTT values reach the cloud; the token comes from the credential file", async () => {
  const r = await superviseUntil("the gateway to serve", () => existsSync(join(data, "ridge.sock")) && collector.events.some((e) => e.device === "meter-1"), 1, 150_000);
  assert.ok(r.running, `the gateway stopped: exits ${r.codes.join(",")}\n${r.output.slice(-4000)}`);
  device = r.running;
  assert.match(r.output, /ridge boot: starting slot a/);
  const st = await controlRequest(data, "GET", "/status");
  const body = st.body as { arch: string; components: Record<string, { state: string }> };
  assert.is(body.arch, "arm64");
  // every package the slot carries, loaded by the arm64 runtime: serialport (Modbus), aedes (the
  // embedded broker), coap (the LwM2M server), mqtt (the cloud link), better-sqlite3 (the queue)
  for (const c of ["driver:rs485", "driver:site", "driver:field", "uplink", "pipeline"]) assert.is(body.components[c]?.state, "up", `${c} up`);

  // an MQTT device on the embedded broker (the arm64 gateway's aedes)
  const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: "sensor-7", reconnectPeriod: 0 });
  try {
    await waitFor(
      "the MQTT value at the cloud",
      async () => {
        await dev.publishAsync("devices/sensor-7/telemetry", JSON.stringify({ humidity: 41.5 }), { qos: 1 });
        return collector.events.some((e) => e.device === "sensor-7" && e.payload.humidity === 41.5) || undefined;
      },
      60_000,
      1000,
    );
  } finally {
    await dev.endAsync();
  }
  const meter = collector.events.find((e) => e.device === "meter-1")!;
  assert.is(meter.payload.h0, 100, "holding[0] of the pymodbus slave");
  assert.is(meter.payload.temp, 23.5, "input[10..11] as float32");

  // the token is the secret: the HTTP control API wants exactly it
  const ok = await fetch(`http://127.0.0.1:${httpPort}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.is(ok.status, 200);
  const bad = await fetch(`http://127.0.0.1:${httpPort}/status`, { headers: { authorization: "Bearer wrong" } });
  assert.is(bad.status, 401);

  // the operator's ridge on the device
  const s = deviceRidge(["status"]);
  assert.is(s.code, 0, s.stderr);
  assert.match(s.stdout, /arm64-e2e/);
});

test("a runtime OTA installs into slot b, the restart boots b under qemu, it passes its health check and commits", async () => {
  await publishBundle("99.0.0", []);
  const committed = () => history().some((h) => h.state === "committed" && h.version === "99.0.0");
  // the running slot a installs, then exits 75; the next start boots b
  const first = await waitFor("slot a to install and ask for a restart", () => (device!.child.exitCode !== null ? device!.child.exitCode : undefined), 240_000, 500);
  await device!.exited;
  assert.is(first, 75, `${history().map((h) => h.state).join(" ")}\n${device!.output().slice(-4000)}`);
  device = undefined;
  const r = await superviseUntil("slot b to commit", committed, 2, 180_000);
  device = r.running;
  assert.ok(committed(), `${history().map((h) => `${h.state}${h.code ? `:${h.code}` : ""}`).join(" ")}\n${r.output.slice(-4000)}`);
  assert.match(r.output, /ridge boot: starting slot b/);
  assert.is(readMarker(join(data, "slots/b"))?.version, "99.0.0");
  const st = deviceRidge(["ota", "status"]);
  assert.is(st.code, 0, st.stderr);
  assert.match(st.stdout, /^active slot: b, running 99\.0\.0/m, st.stdout);
  // values keep flowing from slot b
  const before = collector.events.filter((e) => e.device === "meter-1").length;
  await waitFor("Modbus values from slot b", () => collector.events.filter((e) => e.device === "meter-1").length > before + 2 || undefined, 60_000, 500);
});

test("a bad version (its slot cannot load serialport: Modbus down) fails its health check and rolls back to b", async () => {
  await publishBundle("99.1.0", ["serialport"]);
  const settled = () => history().some((h) => h.version === "99.1.0" && (h.state === "rolled-back" || h.state === "failed" || h.state === "committed"));
  const first = await waitFor("slot b to install 99.1.0 and ask for a restart", () => (device!.child.exitCode !== null ? device!.child.exitCode : settled() ? -1 : undefined), 240_000, 500);
  await device!.exited;
  device = undefined;
  assert.is(first, 75, history().map((h) => h.state).join(" "));
  const r = await superviseUntil("the bad version to settle", () => settled() && history().at(-1)?.state !== "trial", 5, 180_000);
  device = r.running;
  const rows = history().filter((h) => h.version === "99.1.0");
  assert.ok(rows.some((h) => h.state === "rolled-back"), `${rows.map((h) => `${h.state}${h.code ? `:${h.code}` : ""}`).join(" ")}\n${r.output.slice(-4000)}`);
  assert.not.ok(rows.some((h) => h.state === "committed"));
  assert.is(rows.find((h) => h.state === "rolled-back")?.code, "E_OTA_HEALTH");
  const st = deviceRidge(["ota", "status"]);
  assert.is(st.code, 0, st.stderr);
  assert.match(st.stdout, /^active slot: b, running 99\.0\.0/m, st.stdout);
  await device?.stop(15_000);
  device = undefined;
});

test.run();
