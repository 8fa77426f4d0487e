import { RidgeError } from "../../core/errors.js";
import type { Driver } from "../../core/driver.js";
import type { CoapDriverConfig, CoapDeviceConfig } from "./config.js";

export * from "./config.js";

export function createCoapDriver(config: CoapDriverConfig, _devices: CoapDeviceConfig[]): Driver {
  throw new RidgeError("E_DRIVER_UNAVAILABLE", "internal", `driver coap (${config.name}) is not built yet`);
}
