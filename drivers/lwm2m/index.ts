import { RidgeError } from "../../core/errors.js";
import type { Driver } from "../../core/driver.js";
import type { Lwm2mDriverConfig, Lwm2mDeviceConfig } from "./config.js";

export * from "./config.js";

export function createLwm2mDriver(config: Lwm2mDriverConfig, _devices: Lwm2mDeviceConfig[]): Driver {
  throw new RidgeError("E_DRIVER_UNAVAILABLE", "internal", `driver lwm2m (${config.name}) is not built yet`);
}
