// `/metrics` of a running gateway (embedded MQTT broker, a device publishing good and bad
// payloads, the pipeline, the queue) read with a strict text-format parser: every family has its
// HELP and TYPE, counters end in `_total` exactly once, other types never do, units are base units
// in the name, label values carry no float artefacts, no label appears twice. (prom-client's
// Node.js default metrics, `ridge_nodejs_*`, keep the names dashboards expect.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import mqtt from "mqtt";
import { freeTcpPort, tempDir, waitFor } from "../../peers/process.js";
import { startGateway } from "../helpers/gateway.js";
import { parsePromText } from "../helpers/prom-text.js";

test("every metric a gateway exposes follows the naming rules", async () => {
  const tmp = tempDir();
  const port = await freeTcpPort();
  const gw = await startGateway({
    dataDir: join(tmp.dir, "data"),
    config: `gateway: { id: names-gw }\nboard: sim\ndrivers:\n  - mqtt: { name: site, listen: "127.0.0.1:${port}", allowAnonymous: true }\n  - sim: { name: trail, devices: 2, rateHz: 20 }\ndevices:\n  - { id: t1, driver: site }\n`,
  });
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: "t1", reconnectPeriod: 0 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    await client.publishAsync("devices/t1/telemetry", JSON.stringify({ temp: 21.5 }), { qos: 1 });
    await client.publishAsync("devices/t1/telemetry", "{not json", { qos: 1 });
    const text = await waitFor(
      "mqtt counters",
      async () => {
        const t = (await gw.request("GET", "/metrics")).text;
        return /ridge_mqtt_bad_input_total\{/.test(t) && /ridge_mqtt_messages_total\{/.test(t) ? t : undefined;
      },
      15_000,
      200,
    );
    const fams = parsePromText(text);
    assert.ok(fams.size > 20, `${fams.size} families`);
    for (const f of fams.values()) {
      assert.ok(f.help.length > 0, `${f.name} has HELP`);
      assert.is.not(f.type, "untyped", `${f.name} has TYPE`);
      assert.not.match(f.name, /_total_total/, f.name);
      if (f.type === "counter") assert.match(f.name, /[a-z0-9]_total$/, `counter ${f.name} ends in _total`);
      // prom-client's Node.js defaults keep the names dashboards expect (nodejs_active_handles_total is a gauge there)
      else if (!f.name.startsWith("ridge_nodejs_")) assert.not.match(f.name, /_total$/, `${f.type} ${f.name} does not end in _total`);
      assert.not.match(f.name, /_(ms|millis|milliseconds|us|micros|kb|kib|mb|mib)(_|$)/, `${f.name}: base units (seconds, bytes)`);
      for (const s of f.samples) {
        for (const [k, v] of Object.entries(s.labels)) {
          if (/^-?[\d.]+(e-?\d+)?$/.test(v)) assert.ok(v.length <= 8 && String(Number(v)) === v, `${s.name}{${k}="${v}"}: no float artefacts`);
        }
      }
    }
    const bad = fams.get("ridge_mqtt_bad_input_total")!;
    assert.ok(bad.samples.some((s) => s.labels.driver === "site" && s.labels.reason === "malformed" && s.value >= 1), JSON.stringify(bad.samples));
    assert.ok(fams.get("ridge_pipeline_latency_seconds")!.samples.some((s) => s.labels.quantile === "0.999"));
  } finally {
    client.end(true);
    await gw.stop();
    tmp.cleanup();
  }
});

test.run();
