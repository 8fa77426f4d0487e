/**
 * LwM2M benchmark: 1,000 simulated devices (each its own UDP socket, in a separate process)
 * register and are observed on 3 resources each; they notify at 1 Hz (3,000 notifications/s).
 * Measured: notifications/s turned into events (sustained over the window) and p50/p99
 * notify-to-event latency (device send time → Event emitted), beside a raw UDP receive loop fed
 * by the same generator in the same run.
 *
 *   npm run bench -- lwm2m          (RIDGE_BENCH_LWM2M_DEVICES, RIDGE_BENCH_MS to change size/window)
 */
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { systemClock, type DriverContext } from "../core/index.js";
import { Lwm2mDriver, lwm2mDriverConfig } from "../drivers/lwm2m/index.js";
import { decodeCoapMessage } from "../codecs/index.js";
import { report } from "./harness.js";

const DEVICES = Number(process.env.RIDGE_BENCH_LWM2M_DEVICES ?? 1000);
const WINDOW_MS = Number(process.env.RIDGE_BENCH_MS ?? 10_000);
const WARMUP_MS = 2000;
const SWARM = fileURLToPath(new URL("../peers/lwm2m-swarm-process.ts", import.meta.url));
const wallNow = () => performance.timeOrigin + performance.now();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.bind(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function startSwarm(port: number, mode: "lwm2m" | "raw") {
  const child = spawn("timeout", ["--kill-after=5", "300", process.execPath, "--import", "tsx", SWARM, "--target", `127.0.0.1:${port}`, "--n", String(DEVICES), "--rate", "1", "--mode", mode], { stdio: ["pipe", "pipe", "inherit"] });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* ignore */
    }
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  return {
    lines,
    async waitObserving(n: number, ms = 120_000) {
      const end = Date.now() + ms;
      while (!lines.some((l) => l.event === "observing" && (l.n as number) >= n)) {
        if (Date.now() > end) throw new Error(`swarm: only ${JSON.stringify(lines.filter((l) => l.event === "observing").pop())} observing after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      child.stdin!.on("error", () => undefined);
      child.stdin!.write("stop\n");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

interface Window {
  count: number;
  latencies: number[];
  open: boolean;
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function measure(w: Window): Promise<void> {
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  w.open = true;
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  w.open = false;
}

// ---- the LwM2M driver ----
const data = mkdtempSync(join(tmpdir(), "ridge-bench-lwm2m-"));
const lw: Window = { count: 0, latencies: [], open: false };
const streams = new Set<string>();
const ctx: DriverContext = {
  emit: (e) => {
    if (lw.open && e.kind === "telemetry") {
      const now = wallNow();
      streams.add(`${e.device}${e.meta?.path ?? ""}`);
      for (const v of Object.values(e.payload)) {
        if (typeof v === "number") {
          lw.count++;
          lw.latencies.push(now - v);
        }
      }
    }
    return true;
  },
  drained: async () => {},
  clock: systemClock,
  log: { debug() {}, info() {}, warn() {}, error() {} },
  count: () => {},
  dataDir: data,
};
const port = await freePort();
const driver = new Lwm2mDriver(
  lwm2mDriverConfig.parse({
    name: "bench",
    listen: `127.0.0.1:${port}`,
    defaultType: "t3",
    deviceTypes: { t3: { observe: ["/3303/0/5700", "/3303/1/5700", "/3303/2/5700"] } },
    limits: { maxUnknown: DEVICES + 10, registrationsPerSecond: 100_000, burst: 100_000 },
    requestTimeout: "20s",
  }),
  [],
);
await driver.start(ctx);
const swarm = startSwarm(port, "lwm2m");
const t0 = Date.now();
await swarm.waitObserving(DEVICES * 3).catch((e: unknown) => {
  console.error(`${String(e)}; registered ${driver.lwm2m.registrations.size}, observing ${driver.lwm2m.observing().length}, stats ${JSON.stringify(driver.lwm2m.stats)}`);
  process.exit(1);
});
const setupS = (Date.now() - t0) / 1000;
const observing = driver.lwm2m.observing().length;
const cpu0 = process.cpuUsage();
const dg0 = { ...driver.lwm2m.stats };
await measure(lw);
const dg1 = { ...driver.lwm2m.stats };
const cpu = process.cpuUsage(cpu0);
await swarm.stop();
await driver.stop();
rmSync(data, { recursive: true, force: true });

// ---- baseline: raw UDP receive loop, same generator ----
const raw: Window = { count: 0, latencies: [], open: false };
const rport = await freePort();
const sock = createSocket("udp4");
await new Promise<void>((r) => sock.bind(rport, "127.0.0.1", () => r()));
sock.on("message", (buf) => {
  if (!raw.open) return;
  const d = decodeCoapMessage(buf);
  if (!d.ok) return;
  const v = Number(new TextDecoder().decode(d.value.payload));
  raw.count++;
  raw.latencies.push(wallNow() - v);
});
const rswarm = startSwarm(rport, "raw");
await rswarm.waitObserving(DEVICES * 3);
await measure(raw);
await rswarm.stop();
sock.close();

const offered = DEVICES * 3;
const lwRate = lw.count / (WINDOW_MS / 1000);
const rawRate = raw.count / (WINDOW_MS / 1000);
const cpuPct = ((cpu.user + cpu.system) / 1000 / WINDOW_MS) * 100;
console.log(`\n${DEVICES} devices × 3 resources @ 1 Hz = ${offered} notifications/s offered; setup (register + observe all) ${setupS.toFixed(1)} s, ${observing} observations, ${streams.size} streams seen in the window; gateway CPU ${cpuPct.toFixed(0)}% of one core over the window; over warm-up + window the socket received ${dg1.datagrams - dg0.datagrams} datagrams and the server decoded ${dg1.notifications - dg0.notifications} notifications`);
report("lwm2m", [
  { metric: `notifications/s → events (${DEVICES} dev × 3 res @ 1 Hz)`, value: lwRate, unit: "/s", baseline: "raw UDP receive loop (same generator)", baselineValue: rawRate, target: `≥ ${Math.round(offered * 0.95)}/s`, pass: lwRate >= offered * 0.95 },
  { metric: "p50 notify-to-event latency", value: pct(lw.latencies, 50), unit: "ms", baseline: "raw UDP receive p50", baselineValue: pct(raw.latencies, 50), target: "< 20 ms", pass: pct(lw.latencies, 50) < 20 },
  { metric: "p99 notify-to-event latency", value: pct(lw.latencies, 99), unit: "ms", baseline: "raw UDP receive p99", baselineValue: pct(raw.latencies, 99), target: "< 100 ms", pass: pct(lw.latencies, 99) < 100 },
]);
process.exit(0);
