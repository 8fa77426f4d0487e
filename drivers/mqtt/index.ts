/**
 * MQTT for local devices: an embedded broker (aedes) or a client of the site broker (MQTT.js),
 * payload decoders (JSON, SenML JSON/CBOR, bare number); the SenML codec (RFC 8428) is codecs/.
 */
import type { Driver } from "../../core/index.js";
import type { MqttDriverConfig, MqttDeviceConfig } from "./config.js";
import { MqttDriver } from "./mqtt-driver.js";

export * from "./config.js";
export { decodePayload, sniffFormat, type Reading } from "./payload-decoder.js";
export { hashPassword, verifyPassword, type ScryptParams } from "./password-hash.js";
export { TopicPattern, topicMatches, filterCovers, fillTopic } from "./topic-pattern.js";
export { MqttFrameMeter, type FrameVerdict } from "./frame-meter.js";
export { BAD_INPUT_METRIC, type BadInputReason } from "./bad-input.js";
export { MqttDriver, MESSAGES_METRIC } from "./mqtt-driver.js";

export function createMqttDriver(config: MqttDriverConfig, devices: MqttDeviceConfig[]): Driver {
  return new MqttDriver(config, devices);
}
