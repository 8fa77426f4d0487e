/** LwM2M server driver: public surface. */
import type { Driver } from "../../core/index.js";
import type { Lwm2mDriverConfig, Lwm2mDeviceConfig } from "./config.js";
import { Lwm2mDriver, type Lwm2mDriverDeps } from "./lwm2m-driver.js";

export * from "./config.js";
export { Lwm2mDriver, type Lwm2mDriverDeps } from "./lwm2m-driver.js";
export { Lwm2mServer, type Observation, type WriteAttributes, type CoapReply } from "./lwm2m-server.js";
export { verifyLengthAndSha256, runFirmwarePush, type FirmwareArtifact, type FirmwareVerifier, type PushStatus } from "./firmware-push.js";
export { decodeContent, encodeContent, ContentFormat, CONTENT_FORMAT_NUMBER } from "./content-format.js";
export { decodeTlv, encodeTlv, tlvToValues, valuesToTlv } from "./tlv.js";
export { senmlToValues, valuesToSenml } from "./senml-values.js";
export { decodeLwm2mJson, encodeLwm2mJson } from "./lwm2m-json.js";
export { OBJECTS, fieldName, typeOfPath } from "./object-registry.js";
export { parseLinkFormat, formatLinkFormat } from "./link-format.js";
export { lifetimeStep, type LifetimeState, type LifetimeInput, type LifetimeEffect } from "./registration-lifetime.js";
export { admissionStep, type AdmissionState, type AdmissionInput, type AdmissionEffect } from "./registration-admission.js";
export type { Registration } from "./registration-store.js";
export type { ResourceValue, Lwm2mValue, ResourceType } from "./value.js";

export function createLwm2mDriver(config: Lwm2mDriverConfig, devices: Lwm2mDeviceConfig[], deps?: Lwm2mDriverDeps): Driver {
  return new Lwm2mDriver(config, devices, deps);
}
