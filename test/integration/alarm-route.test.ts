// Issue 18 item 11: a route to an uplink sink of class alarm makes the events alarms — kind and
// topic (`up/alarm`), not only the queue's class — without a `map`. Through the real gateway
// (`ridge run`), events POSTed to its http source, and a cloud mosquitto on loopback.
import { test } from "uvu";
import * as assert from "uvu/assert";
import mqtt from "mqtt";
import { join } from "node:path";
import { startMosquitto } from "../../peers/mosquitto.js";
import { freeTcpPort, tempDir } from "../../peers/process.js";
import { decodeBatch } from "../../runtime/cloud/batch-codec.js";
import type { Event } from "../../core/event.js";
import { startGateway } from "../helpers/gateway.js";
import { waitFor } from "../../peers/process.js";

test("route → alarm sink: the cloud gets kind alarm on up/alarm; the rest stays telemetry; an alarm on a telemetry sink stays an alarm", async () => {
  const t = tempDir("ridge-alarm-route-");
  const broker = await startMosquitto({ maxSeconds: 120 });
  const port = await freeTcpPort();
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  const sub = mqtt.connect(broker.url, { reconnectPeriod: 0 });
  const got: { topic: string; e: Event }[] = [];
  try {
    await new Promise<void>((res, rej) => sub.once("connect", () => res()).once("error", rej));
    await sub.subscribeAsync("ridge/alarm-gw/up/#", { qos: 1 });
    sub.on("message", (topic, payload) => {
      const b = decodeBatch("jsonl", payload);
      if (b.ok) for (const e of b.value) got.push({ topic, e });
    });
    gw = await startGateway({
      dataDir: join(t.dir, "data"),
      config: `gateway: { id: alarm-gw }
board: sim
drivers: []
attest: { tpm: off }
cloud:
  mqtt: { url: "${broker.url}" }
pipeline:
  sources:
    apps: { http: { listen: "127.0.0.1:${port}", token: "t0ken-0123456789abcdef" } }
  operators:
    split: { route: [ { when: "payload.temp > 80", to: hot }, { to: rest } ], input: apps }
  sinks:
    hot:  { uplink: { priority: alarm } }
    rest: { uplink: { priority: telemetry } }
`,
    });
    const events = [
      { id: "e1", ts: 1, device: "boiler", kind: "telemetry", payload: { temp: 95 } },
      { id: "e2", ts: 2, device: "boiler", kind: "telemetry", payload: { temp: 20 } },
      { id: "e3", ts: 3, device: "boiler", kind: "state", payload: { temp: 99 } },
      { id: "e4", ts: 4, device: "valve", kind: "alarm", payload: { temp: 10, stuck: true } },
    ];
    const r = await fetch(`http://127.0.0.1:${port}/events`, { method: "POST", headers: { authorization: "Bearer t0ken-0123456789abcdef", "content-type": "application/json" }, body: JSON.stringify(events) });
    assert.is(r.status, 202, await r.text());
    await waitFor("all four events in the cloud", async () => (new Set(got.map((g) => g.e.id)).size === 4 ? true : undefined), 20_000, 100);
    const by = new Map(got.map((g) => [g.e.id, g]));
    assert.equal([by.get("e1")!.e.kind, by.get("e1")!.topic], ["alarm", "ridge/alarm-gw/up/alarm"], "a hot telemetry reading became an alarm");
    assert.equal([by.get("e3")!.e.kind, by.get("e3")!.topic], ["alarm", "ridge/alarm-gw/up/alarm"], "a hot state became an alarm");
    assert.equal([by.get("e2")!.e.kind, by.get("e2")!.topic], ["telemetry", "ridge/alarm-gw/up/telemetry"]);
    assert.equal([by.get("e4")!.e.kind, by.get("e4")!.topic], ["alarm", "ridge/alarm-gw/up/alarm"], "never demoted by a telemetry sink");
    assert.equal(by.get("e1")!.e.payload, { temp: 95 });
  } finally {
    sub.end(true);
    await gw?.stop();
    await broker.stop();
    t.cleanup();
  }
});

test.run();
