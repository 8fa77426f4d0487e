/** MQTT clients against a real broker: MQTT.js connected and waiting for CONNACK, mosquitto_pub (bounded in time). */
import { spawn } from "node:child_process";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

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
