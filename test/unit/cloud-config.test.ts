/** The `cloud:` config section: defaults, units, and located errors with stable codes. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseYamlWith, ConfigError } from "../../core/config-errors.js";
import { gatewayConfig } from "../../runtime/config/schema.js";
import { cloudConfig, mqttLinkConfig } from "../../runtime/cloud/config.js";
import { maxPayloadFor } from "../../runtime/cloud/batch-codec.js";

test("defaults: a queue always, no link", () => {
  const c = cloudConfig.parse({});
  assert.is(c.mqtt, undefined);
  assert.is(c.queue.maxBytes, 512 * 1024 ** 2);
  assert.is(c.queue.maxAge, 7 * 86_400_000);
  assert.is(c.queue.whenFull, "evict-oldest-lowest-priority");
  assert.equal(c.queue.groupCommit, { every: 10, events: 1000 });
});

test("the design's example parses with units", () => {
  const { value } = parseYamlWith("gw.yaml", `gateway: { id: trail-gw-07 }
cloud:
  mqtt: { url: "mqtts://iot.example.com:8883", ca: /etc/ridgeline/ca.pem, cert: id.crt, key: id.key, backoff: { base: 500ms, cap: 2m } }
  queue: { maxBytes: 512MiB, maxAge: 7d, whenFull: evict-oldest-lowest-priority }
`, gatewayConfig);
  assert.is(value.cloud!.mqtt!.backoff.cap, 120_000);
  assert.is(value.cloud!.mqtt!.version, "5");
  assert.is(value.cloud!.queue.maxBytes, 512 * 1024 ** 2);
});

function codes(yaml: string): { code: string; line: number; path: string }[] {
  try {
    parseYamlWith("gw.yaml", yaml, gatewayConfig);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => ({ code: i.code, line: i.line, path: i.path }));
    throw e;
  }
  return [];
}

test("errors are located and coded", () => {
  assert.equal(codes(`gateway: { id: g }
cloud:
  mqtt:
    url: "mqtts://h:8883"
    cert: id.crt
`), [{ code: "E_CONFIG_TLS", line: 4, path: "cloud.mqtt.key" }]);
  assert.equal(codes(`gateway: { id: g }
cloud:
  mqtt: { url: "mqtt://h:1883", ca: ca.pem }
`).map((i) => i.code), ["E_CONFIG_TLS"]);
  assert.equal(codes(`gateway: { id: g }
cloud:
  queue: { whenFull: panic, maxAge: soon }
`).map((i) => i.code).sort(), ["E_CONFIG_ENUM", "E_CONFIG_INVALID"]);
  assert.equal(codes(`gateway: { id: g }
cloud:
  mqtt: { url: "http://h" }
`).map((i) => i.path), ["cloud.mqtt.url"]);
});

test("a topic prefix starting with $ is refused, located (the broker's own topics: $SYS, $aws)", () => {
  assert.equal(codes(`gateway: { id: g }
cloud:
  mqtt:
    url: "mqtt://h:1883"
    topicPrefix: $aws/things
`), [{ code: "E_CONFIG_TOPIC", line: 5, path: "cloud.mqtt.topicPrefix" }]);
  assert.equal(codes(`gateway: { id: g }
cloud:
  mqtt: { url: "mqtt://h:1883", topicPrefix: "$SYS" }
`).map((i) => i.code), ["E_CONFIG_TOPIC"]);
  assert.equal(codes(`gateway: { id: g }
cloud:
  mqtt: { url: "mqtt://h:1883", topicPrefix: "fleet/a$b" }
`), []);
});

test("the default batch fits AWS IoT Core's 128 KB message limit, whole PUBLISH included", () => {
  const c = mqttLinkConfig.parse({ url: "mqtts://iot.example.com:8883" });
  // A long topic (128-character gateway id) and MQTT 5: the payload limit still leaves the packet under 128,000 bytes.
  const topic = `${c.topicPrefix}/${"g".repeat(128)}/up/telemetry`.length;
  assert.ok(c.batch.maxBytes <= maxPayloadFor(128_000, topic, true), `${c.batch.maxBytes}`);
  assert.ok(c.batch.maxBytes >= 64 * 1024, "not needlessly small");
});

test.run();
