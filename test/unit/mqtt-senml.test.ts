/** SenML through the MQTT payload decoder (the codec itself is the shared one in codecs/). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as mqtt from "../../drivers/mqtt/index.js";

test("a SenML pack through the MQTT payload decoder", () => {
  const d = mqtt.decodePayload("senml-json", new TextEncoder().encode('[{"bn":"urn:dev:x:","n":"temp","u":"Cel","v":21.5}]'), 1_700_000_000_000);
  assert.equal(d, { ok: true, value: [{ ts: 1_700_000_000_000, payload: { temp: 21.5 }, meta: { format: "senml", bn: "urn:dev:x:", "unit.temp": "Cel" } }] });
});

test.run();
