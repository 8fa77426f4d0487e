/**
 * Start the test LwM2M client (lwm2m-client-process.ts) as its own process on its own UDP port,
 * talk to it with JSON lines, wait for what it reports. Stopped by PID, bounded by `timeout`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { systemClock, type Clock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { waitFor } from "../../peers/process.js";

/** A DriverContext that records events and counters (metric{reason} when a reason label is given). */
export function recordingContext(dataDir: string, clock: Clock = systemClock): { ctx: DriverContext; events: Event[]; counts: Map<string, number> } {
  const events: Event[] = [];
  const counts = new Map<string, number>();
  const ctx: DriverContext = {
    emit: (e) => (events.push(e), true),
    drained: async () => {},
    clock,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    count: (m, l, by = 1) => {
      const key = l.reason ? `${m}{${l.reason}}` : m;
      counts.set(key, (counts.get(key) ?? 0) + by);
      if (key !== m) counts.set(m, (counts.get(m) ?? 0) + by);
    },
    dataDir,
  };
  return { ctx, events, counts };
}

export interface ClientEvent {
  event: string;
  [k: string]: unknown;
}

export interface TestLwm2mClient {
  pid: number;
  port: number;
  events: ClientEvent[];
  send(cmd: Record<string, unknown>): void;
  waitEvent(what: string, pred: (e: ClientEvent) => boolean, ms?: number): Promise<ClientEvent>;
  stop(): Promise<void>;
  kill(): void;
}

const SCRIPT = fileURLToPath(new URL("./lwm2m-client-process.ts", import.meta.url));

export async function startLwm2mClient(o: { server: string; endpoint: string; lifetime?: number; format?: string; maxSeconds?: number }): Promise<TestLwm2mClient> {
  const args = ["--signal=TERM", "--kill-after=3", String(o.maxSeconds ?? 120), process.execPath, "--import", "tsx", SCRIPT, "--server", o.server, "--ep", o.endpoint, "--lt", String(o.lifetime ?? 60), "--format", o.format ?? "senml-json"];
  const child: ChildProcess = spawn("timeout", args, { stdio: ["pipe", "pipe", "pipe"] });
  const events: ClientEvent[] = [];
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on("line", (l) => {
    try {
      events.push(JSON.parse(l) as ClientEvent);
    } catch {
      /* not ours */
    }
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const waitEvent = (what: string, pred: (e: ClientEvent) => boolean, ms = 10_000) =>
    waitFor(`${what} (client ${o.endpoint}; stderr: ${stderr.slice(-300)})`, () => events.find(pred), ms);
  const ready = await waitEvent("ready", (e) => e.event === "ready", 20_000);
  return {
    pid: child.pid!,
    port: ready.port as number,
    events,
    send: (cmd) => void child.stdin!.write(JSON.stringify(cmd) + "\n"),
    waitEvent,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
    kill: () => void child.kill("SIGKILL"),
  };
}
