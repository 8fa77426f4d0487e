/**
 * Embedded broker ingest: 1,000 simulated devices publish JSON telemetry (QoS 0) into the MQTT
 * driver, measured until every message has become an Event; beside it, mosquitto receiving the
 * same load (one subscriber on devices/+/telemetry) in the same run.
 *
 * The load generator runs in a child process (this same file with `--load`), on raw sockets with
 * pre-encoded MQTT 3.1.1 packets, so neither side pays for the generator's event loop.
 *
 *   npm run bench -- mqtt            (DEVICES, MESSAGES, RUNS env vars change the load)
 */
import { fork, type ChildProcess } from "node:child_process";
import { createConnection, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

const DEVICES = Number(process.env.DEVICES ?? 1000);
const MESSAGES = Number(process.env.MESSAGES ?? 20);
const RUNS = Number(process.env.RUNS ?? 3);

// ---- MQTT 3.1.1 packet encoding for the generator (§3.1 CONNECT, §3.3 PUBLISH) ----
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
function str(s: string): number[] {
  const b = [...Buffer.from(s)];
  return [b.length >> 8, b.length & 0xff, ...b];
}
function connectPacket(clientId: string): Buffer {
  const body = [...str("MQTT"), 0x04, 0x02, 0x00, 0x3c, ...str(clientId)];
  return Buffer.from([0x10, ...remainingLength(body.length), ...body]);
}
function publishPacket(topic: string, payload: string): Buffer {
  const body = [...str(topic), ...Buffer.from(payload)];
  return Buffer.from([0x30, ...remainingLength(body.length), ...body]);
}

interface LoadMsg {
  port: number;
  devices: number;
  messages: number;
}

async function runLoad(msg: LoadMsg, send: (m: unknown) => void, onGo: (fn: () => void) => void): Promise<void> {
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from({ length: msg.devices }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        const s = createConnection({ port: msg.port, host: "127.0.0.1" }, () => s.write(connectPacket(`dev-${i}`)));
        s.setNoDelay(true);
        let ack = Buffer.alloc(0);
        const onData = (d: Buffer): void => {
          ack = Buffer.concat([ack, d]);
          if (ack.length < 4) return;
          s.off("data", onData);
          if (ack[0] === 0x20 && ack[3] === 0) resolve();
          else reject(new Error(`CONNACK refused for dev-${i}: ${ack.toString("hex")}`));
        };
        s.on("data", onData);
        s.on("error", reject);
        sockets.push(s);
      }),
    ),
  );
  onGo(async () => {
    const t0 = performance.now();
    for (let m = 0; m < msg.messages; m++) {
      const waits: Promise<void>[] = [];
      for (let i = 0; i < sockets.length; i++) {
        const ok = sockets[i]!.write(publishPacket(`devices/dev-${i}/telemetry`, `{"t":${(20 + (i % 10) / 10).toFixed(1)},"seq":${m}}`));
        if (!ok) waits.push(new Promise((r) => sockets[i]!.once("drain", () => r())));
      }
      await Promise.all(waits);
    }
    send({ sent: msg.devices * msg.messages, ms: performance.now() - t0 });
  });
  send({ ready: true });
}

if (process.argv.includes("--load")) {
  process.on("message", (m: LoadMsg & { go?: boolean; end?: boolean }) => {
    if (m.end) process.exit(0);
  });
  const first = await new Promise<LoadMsg>((r) => process.once("message", (m: LoadMsg) => r(m)));
  await runLoad(first, (m) => process.send!(m), (go) => process.once("message", () => go()));
} else {
  await main();
}

async function generator(port: number): Promise<{ child: ChildProcess; go(): Promise<void> }> {
  const child = fork(fileURLToPath(import.meta.url), ["--load"], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (m: { ready?: boolean }) => m.ready && resolve());
    child.once("exit", (code) => reject(new Error(`load generator exited ${code}`)));
  });
  child.send({ port, devices: DEVICES, messages: MESSAGES });
  await ready;
  return {
    child,
    go: async () => {
      const sent = new Promise<void>((r) => child.on("message", (m: { sent?: number }) => m.sent && r()));
      child.send({ go: true });
      await sent;
    },
  };
}

async function waitCount(get: () => number, want: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (get() < want) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

async function main(): Promise<void> {
  const { report, median } = await import("./harness.js");
  const { createMqttDriver, mqttDeviceConfig, mqttDriverConfig } = await import("../drivers/mqtt/index.js");
  const { startMosquitto } = await import("../peers/mosquitto.js");
  const { connectMqtt } = await import("../peers/mqtt-clients.js");
  const { systemClock } = await import("../core/clock.js");
  const total = DEVICES * MESSAGES;

  const ridge: number[] = [];
  const mosq: number[] = [];
  let ridgeLost = 0;
  let mosqLost = 0;
  for (let run = 0; run < RUNS; run++) {
    // ---- Ridgeline embedded broker → events
    {
      let events = 0;
      const ctx = {
        emit: () => (events++, true),
        drained: () => Promise.resolve(),
        clock: systemClock,
        log: { debug() {}, info() {}, warn() {}, error() {} },
        count() {},
        dataDir: "/nonexistent",
      };
      const config = mqttDriverConfig.parse({
        name: "bench",
        listen: "127.0.0.1:0",
        allowAnonymous: true,
        limits: { maxConnections: DEVICES + 10, messagesPerSecond: 1e9, burst: 1e9 },
      });
      const devices = Array.from({ length: DEVICES }, (_, i) => mqttDeviceConfig.parse({ id: `dev-${i}`, driver: "bench" }));
      const driver = createMqttDriver(config, devices) as InstanceType<typeof import("../drivers/mqtt/index.js").MqttDriver>;
      await driver.start(ctx);
      const g = await generator(driver.addresses.plain!.port);
      const t0 = performance.now();
      await g.go();
      const all = await waitCount(() => events, total, 60_000);
      const ms = performance.now() - t0;
      if (!all) ridgeLost += total - events;
      ridge.push((events / ms) * 1000);
      g.child.send({ end: true });
      await driver.stop();
    }
    // ---- mosquitto → one subscriber
    {
      const broker = await startMosquitto({ extraConfig: ["max_connections -1", "max_queued_messages 0", "max_queued_bytes 0"] });
      const sub = await connectMqtt(broker.url, { clientId: "bench-sub" });
      let got = 0;
      sub.on("message", () => got++);
      await sub.subscribeAsync("devices/+/telemetry", { qos: 0 });
      const g = await generator(broker.port);
      const t0 = performance.now();
      await g.go();
      const all = await waitCount(() => got, total, 60_000);
      const ms = performance.now() - t0;
      if (!all) mosqLost += total - got;
      mosq.push((got / ms) * 1000);
      g.child.send({ end: true });
      await sub.endAsync(true);
      await broker.cleanup();
    }
  }
  const r = median(ridge);
  const m = median(mosq);
  console.log(`runs: ridgeline ${ridge.map((x) => x.toFixed(0)).join(", ")} msg/s; mosquitto ${mosq.map((x) => x.toFixed(0)).join(", ")} msg/s; lost: ridgeline ${ridgeLost}, mosquitto ${mosqLost}`);
  report("mqtt", [
    {
      metric: `embedded broker ingest, ${DEVICES} devices × ${MESSAGES} JSON msgs (QoS 0) → events`,
      value: Number(r.toFixed(0)),
      unit: "msg/s",
      baseline: "mosquitto 2.0 → 1 subscriber, same load",
      baselineValue: Number(m.toFixed(0)),
      target: ">= 0.5× mosquitto, nothing lost",
      pass: r >= 0.5 * m && ridgeLost === 0,
    },
  ]);
  process.exit(0);
}
