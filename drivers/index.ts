/**
 * The drivers' public surface: each kind's config schemas (cheap to import) and its factory,
 * loaded lazily so a gateway never loads a driver it does not run.
 */
export type { Driver, DriverContext, DriverHealth } from "../core/index.js";
export type { FirmwareArtifact, FirmwareVerifier } from "./lwm2m/firmware-push.js";
export { simDriverConfig, type SimDriverConfig } from "./sim/config.js";
export { modbusDriverConfig, modbusDeviceConfig } from "./modbus/config.js";
export { mqttDriverConfig, mqttDeviceConfig } from "./mqtt/config.js";
export { lwm2mDriverConfig, lwm2mDeviceConfig } from "./lwm2m/config.js";
export { coapDriverConfig, coapDeviceConfig } from "./coap/config.js";

export const loadSimDriver = () => import("./sim/index.js");
export const loadModbusDriver = () => import("./modbus/index.js");
export const loadMqttDriver = () => import("./mqtt/index.js");
export const loadLwm2mDriver = () => import("./lwm2m/index.js");
export const loadCoapDriver = () => import("./coap/index.js");
