/**
 * runtime/cloud: the cloud MQTT link and its component, downlink dispatch, device twin sync and
 * the model cache with its fetcher. The composition root (runtime/gateway.ts) builds each.
 */
export { LinkComponent, offlineCloud, type CloudPort, type LinkComponentOptions } from "./link-component.js";
export { TwinComponent, type TwinComponentOptions } from "./twin-component.js";
export { ModelComponent, type ModelComponentOptions } from "./model-component.js";
export { createDownlinkRegistry, type DownlinkRegistry } from "./downlink.js";
export { cloudConfig, queueConfig, mqttLinkConfig, modelsConfig, type CloudConfig, type QueueConfig, type MqttLinkConfig, type ModelsConfig } from "./config.js";
export { CloudLink } from "./cloud-link.js";
export { linkStep, gateStep, type LinkState, type LinkInput, type LinkEffect, type GateState, type GateInput, type GateEffect } from "./link-machine.js";
export { encodeBatch, decodeBatch, type BatchFormat } from "./batch-codec.js";
export { verifyManifest, signedBytes, type ModelManifest } from "./model-manifest.js";
export { ModelFetcher } from "./model-fetcher.js";
export { TwinSync } from "./twin-sync.js";
export { cacheModelProvider } from "./model-provider.js";
