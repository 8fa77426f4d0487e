/** drivers/mqtt keeps its public SenML/CBOR surface: the shared codec (drivers/codecs), re-exported. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as mqtt from "../../drivers/mqtt/index.js";
import * as codecs from "../../drivers/codecs/index.js";

test("every SenML and CBOR export of drivers/mqtt is the shared codec", () => {
  for (const name of ["SENML_VERSION", "SENML_RELATIVE_TIME_LIMIT", "base64urlEncode", "base64urlDecode", "decodeSenmlJson", "decodeSenmlCbor", "encodeSenmlJson", "encodeSenmlCbor", "resolveSenml", "decodeCbor", "encodeCbor"] as const) {
    assert.is(mqtt[name], codecs[name], name);
  }
});

test("a SenML pack through the MQTT payload decoder", () => {
  const d = mqtt.decodePayload("senml-json", new TextEncoder().encode('[{"bn":"urn:dev:x:","n":"temp","u":"Cel","v":21.5}]'), 1_700_000_000_000);
  assert.equal(d, { ok: true, readings: [{ ts: 1_700_000_000_000, payload: { temp: 21.5 }, meta: { format: "senml", bn: "urn:dev:x:", "unit.temp": "Cel" } }] });
});

test.run();
