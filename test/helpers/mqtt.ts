/** Helpers for the MQTT driver tests: a recording DriverContext, MQTT.js connect, mosquitto_pub/sub. */
import { spawn } from "node:child_process";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { systemClock, type Clock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";

export interface RecordingContext extends DriverContext {
  events: Event[];
  counts: Map<string, number>;
  logs: { level: string; obj: Record<string, unknown>; msg: string }[];
  /** Sum of a metric over label sets matching `where`. */
  count_(metric: string, where?: Record<string, string>): number;
  /** While true, emit() answers false and drained() waits for release(). */
  backpressure: boolean;
  release(): void;
}

export function recordingContext(clock: Clock = systemClock): RecordingContext {
  const counts = new Map<string, number>();
  const logs: RecordingContext["logs"] = [];
  let waiters: (() => void)[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string) => void logs.push({ level, obj, msg });
  const ctx: RecordingContext = {
    events: [],
    counts,
    logs,
    backpressure: false,
    emit(e) {
      ctx.events.push(e);
      return !ctx.backpressure;
    },
    drained() {
      if (!ctx.backpressure) return Promise.resolve();
      return new Promise<void>((r) => waiters.push(r));
    },
    release() {
      ctx.backpressure = false;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    clock,
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    count(metric, labels, by = 1) {
      const k = `${metric}${JSON.stringify(Object.entries(labels).sort())}`;
      counts.set(k, (counts.get(k) ?? 0) + by);
    },
    count_(metric, where = {}) {
      let n = 0;
      for (const [k, v] of counts) {
        if (!k.startsWith(metric + "[")) continue;
        const labels = Object.fromEntries(JSON.parse(k.slice(metric.length)) as [string, string][]);
        if (Object.entries(where).every(([a, b]) => labels[a] === b)) n += v;
      }
      return n;
    },
    dataDir: "/nonexistent",
  };
  return ctx;
}

/** Connect with MQTT.js; rejects on a refused CONNECT (no reconnects). */
export async function connectMqtt(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  try {
    await new Promise<void>((resolve, reject) => {
      c.once("connect", () => resolve());
      c.once("error", reject);
      c.once("close", () => reject(new Error("connection closed before CONNACK")));
    });
  } catch (e) {
    c.end(true);
    throw e;
  }
  return c;
}

/** Run a command to completion (bounded), resolving with its exit code and output. */
export function runCommand(cmd: string, args: string[], input?: Uint8Array, maxSeconds = 15): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("timeout", ["--signal=KILL", String(maxSeconds), cmd, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => resolve({ code, out }));
    if (input) child.stdin.end(Buffer.from(input));
    else child.stdin.end();
  });
}

/** mosquitto_pub one message (payload from stdin, so binary works). */
export function mosquittoPub(port: number, topic: string, payload: Uint8Array | string, extra: string[] = []): Promise<{ code: number | null; out: string }> {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  return runCommand("mosquitto_pub", ["-h", "127.0.0.1", "-p", String(port), "-t", topic, "-s", "-q", "1", ...extra], bytes);
}
