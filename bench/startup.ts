/**
 * Start to ready of `ridge run --board sim` (the bundle), beside a bare `node -e` start; RSS after
 * 30 s idle with the sim driver, beside a bare idle Node process. Both measured in this run.
 * The gateway is started the way the product starts it: the bundle run as a program, through its
 * `#!` line and so with the launch environment (core/launch-env.ts).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, report } from "./harness.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 30_000);

function timeToLine(cmd: string, args: string[], match: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ ms: number; pid: number; kill(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (match.test(out)) {
        const ms = performance.now() - t0;
        resolve({
          ms,
          pid: child.pid!,
          kill: () =>
            new Promise((r) => {
              if (child.exitCode !== null) return r();
              child.on("exit", () => r());
              child.kill("SIGTERM");
            }),
        });
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (!match.test(out)) reject(new Error(`exited ${code} before ready: ${out}`));
    });
  });
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

spawnSync(process.execPath, [join(root, "scripts/bundle.mjs")], { stdio: "inherit" });
const bundle = join(root, "dist/ridge.mjs");
// `#!/usr/bin/env … node` finds node on PATH: the Node that runs the bare baselines comes first.
const sameNode = { PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };
const dirs: string[] = [];
const ridgeTimes: number[] = [];
const nodeTimes: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const data = mkdtempSync(join(tmpdir(), "ridge-bench-"));
  dirs.push(data);
  const r = await timeToLine(bundle, ["run", "--board", "sim", "--data", data], / ready in /, sameNode);
  ridgeTimes.push(r.ms);
  await r.kill();
  const n = await timeToLine(process.execPath, ["-e", "console.log('ready')"], /ready/);
  nodeTimes.push(n.ms);
}

// Idle RSS: the gateway with the sim driver and a bare Node process, side by side.
const data = mkdtempSync(join(tmpdir(), "ridge-bench-"));
dirs.push(data);
const gw = await timeToLine(bundle, ["run", "--board", "sim", "--data", data], / ready in /, sameNode);
const bare = await timeToLine(process.execPath, ["-e", "console.log('ready'); setInterval(() => {}, 1000)"], /ready/);
await new Promise((r) => setTimeout(r, IDLE_MS));
const gwRss = rssMiB(gw.pid);
const bareRss = rssMiB(bare.pid);
await gw.kill();
await bare.kill();
for (const d of dirs) rmSync(d, { recursive: true, force: true });

const startMs = median(ridgeTimes);
report("startup", [
  { metric: "start to ready, ridge run --board sim (median of " + RUNS + ")", value: startMs, unit: "ms", baseline: "node -e start to first line", baselineValue: median(nodeTimes), target: "< 400 ms", pass: startMs < 400 },
  { metric: `RSS after ${IDLE_MS / 1000} s idle with the sim driver`, value: gwRss, unit: "MiB", baseline: "bare idle node process", baselineValue: bareRss, target: "< 60 MB", pass: gwRss * 1.048576 < 60 },
]);
