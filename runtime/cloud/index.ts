/**
 * runtime/cloud: store-and-forward uplink, the cloud MQTT link, downlink dispatch, device twin sync
 * and the model fetcher. The gateway calls `createUplinkComponent(services)` always; it registers
 * the `uplink` sink and feeds `services.downlink` from the cloud link.
 */
export { createUplinkComponent, type UplinkComponent } from "./uplink-component.js";
export { createDownlinkRegistry, type DownlinkRegistry } from "./downlink.js";
export { cloudConfig, queueConfig, mqttLinkConfig, modelsConfig, type CloudConfig, type QueueConfig, type MqttLinkConfig, type ModelsConfig } from "./config.js";
export { CloudLink } from "./cloud-link.js";
export { step as linkStep, type LinkState, type LinkInput, type LinkEffect } from "./link-machine.js";
export { fullJitterDelay } from "../../core/index.js";
export { encodeBatch, decodeBatch, type BatchFormat } from "./batch-codec.js";
export { verifyManifest, signedBytes, type ModelManifest } from "./model-manifest.js";
export { ModelFetcher } from "./model-fetcher.js";
export { TwinSync } from "./twin-sync.js";
export { cacheModelProvider } from "./model-provider.js";
