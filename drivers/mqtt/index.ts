import { RidgeError } from "../../core/errors.js";
import type { Driver } from "../../core/driver.js";
import type { MqttDriverConfig, MqttDeviceConfig } from "./config.js";

export * from "./config.js";
export * from "./senml.js";

export function createMqttDriver(config: MqttDriverConfig, _devices: MqttDeviceConfig[]): Driver {
  throw new RidgeError("E_DRIVER_UNAVAILABLE", "internal", `driver mqtt (${config.name}) is not built yet`);
}
