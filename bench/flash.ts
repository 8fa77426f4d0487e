/**
 * `npm run bench -- flash`:
 *  - cold start to ready of the flashed runtime (through its boot launcher, simulated trackers into
 *    the queue) under qemu-aarch64 with the slot's own arm64 Node, beside the same config flashed for
 *    this x86-64 host in the same run: the ratio is how much of start-up is CPU work (a real
 *    Cortex-A78 redoes it at its own speed, not qemu's);
 *  - the runtime slot's size in bytes per board, beside the bare bundle (dist/ridge.mjs);
 *  - a full flash of generic-arm64, beside the idempotent re-flash that finds nothing to change.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listBoards, loadBoard, type Board } from "../boards/index.js";
import { deviceLayout, flashDevice, planFlash } from "../flash/index.js";
import { validateGatewayConfig } from "../runtime/cli/commands/flash.js";
import { median, report, type RowInput } from "./harness.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SYSROOT = process.env.RIDGE_ARM64_SYSROOT ?? "/usr/aarch64-linux-gnu";
const CONFIG = `drivers:
  - sim: { name: trail, scenario: trail, devices: 8, rateHz: 2 }
pipeline:
  sources: { trackers: { from: trail, kind: telemetry } }
  operators:
    valid: { filter: "payload.altitude >= 500 and payload.altitude <= 4500", input: trackers }
  sinks:
    cloud: { uplink: { priority: telemetry }, input: valid }
`;

const tmp = mkdtempSync(join(tmpdir(), "ridge-bench-flash-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed`);
}

function flashInto(board: Board, name: string, force = false): { root: string; ms: number; changes: number } {
  const root = join(tmp, name);
  mkdirSync(root, { recursive: true });
  const t0 = performance.now();
  const { steps } = flashDevice({ root, board, projectRoot: repo, validate: validateGatewayConfig, gatewayId: `bench-${name}`, configText: CONFIG, force });
  return { root, ms: performance.now() - t0, changes: steps.filter((s) => s.action !== "unchanged" && s.action !== "kept").length };
}

/** Launcher start to the runtime's ready line: wall ms, and the runtime's own "ready in N ms". */
function coldStart(root: string, board: Board, wrapper: string | undefined): Promise<{ wall: number; own: number }> {
  const L = deviceLayout(board);
  rmSync(join(root, L.dataDir, "ridgeline.db"), { force: true });
  rmSync(join(root, L.dataDir, "ridgeline.db-wal"), { force: true });
  rmSync(join(root, L.dataDir, "ridgeline.db-shm"), { force: true });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const env = { ...process.env, RIDGE_ROOT: root, ...(wrapper ? { RIDGE_EXEC_WRAPPER: wrapper } : {}) };
    const child = spawn("timeout", ["--kill-after=5", "180", join(root, L.launcher)], { env, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = / ready in (\d+) ms/.exec(out);
      if (m) {
        const wall = performance.now() - t0;
        child.on("exit", () => resolve({ wall, own: Number(m[1]) }));
        child.kill("SIGTERM");
      }
    });
    child.on("exit", (code) => {
      if (!/ ready in /.test(out)) reject(new Error(`exited ${code} before ready: ${out}`));
    });
  });
}

sh(process.execPath, [join(repo, "scripts/bundle.mjs"), "--if-stale"]);
for (const arch of ["arm64", "riscv64"]) sh(process.execPath, [join(repo, "scripts/prepare-target.mjs"), "--arch", arch]);
const rows: RowInput[] = [];

// 1. Cold start: arm64 under qemu vs this host.
const hasQemu = spawnSync("sh", ["-c", "command -v qemu-aarch64-static"]).status === 0;
const arm = loadBoard("generic-arm64");
const host = loadBoard("sim");
const armRoot = flashInto(arm, "arm64").root;
const hostRoot = flashInto(host, "host").root;
const native: { wall: number; own: number }[] = [];
const emulated: { wall: number; own: number }[] = [];
for (let i = 0; i < RUNS; i++) {
  native.push(await coldStart(hostRoot, host, undefined));
  if (hasQemu) emulated.push(await coldStart(armRoot, arm, `qemu-aarch64-static -L ${SYSROOT}`));
}
const nWall = median(native.map((x) => x.wall));
const nOwn = median(native.map((x) => x.own));
if (hasQemu) {
  const eWall = median(emulated.map((x) => x.wall));
  const eOwn = median(emulated.map((x) => x.own));
  rows.push({ metric: "cold start to ready, arm64 under qemu (launcher to ready line, median)", value: eWall, unit: "ms", baseline: `same config on x86-64 ${process.arch} native`, baselineValue: nWall, target: "< 60 s under qemu", pass: eWall < 60_000 });
  rows.push({ metric: "runtime's own 'ready in', arm64 under qemu (median)", value: eOwn, unit: "ms", baseline: "x86-64 native", baselineValue: nOwn, target: "informational", pass: true });
} else console.error("!! qemu-aarch64-static missing: no arm64 start-up figure");

// 2. Slot size per board.
const bundle = statSync(join(repo, "dist/ridge.mjs")).size;
for (const name of listBoards()) {
  const b = loadBoard(name);
  const root = join(tmp, `size-${name}`);
  mkdirSync(root);
  const plan = planFlash({ root, board: b, projectRoot: repo, validate: validateGatewayConfig, gatewayId: "size" });
  rows.push({ metric: `slot size ${name} (${b.arch}${plan.slot.node ? " + node" : ""})`, value: plan.slotBytes, unit: "B", baseline: "dist/ridge.mjs alone", baselineValue: bundle, target: "< 200 MB", pass: plan.slotBytes < 200e6 });
}

// 3. Flash time: full, then the idempotent pass.
const full = flashInto(arm, "time");
const again = flashInto(arm, "time", true);
rows.push({ metric: "flash generic-arm64 (full write, with node)", value: full.ms, unit: "ms", baseline: "re-flash --force, nothing to change", baselineValue: again.ms, target: `second pass changes 0 (got ${again.changes})`, pass: again.changes === 0 });

report("flash", rows);
