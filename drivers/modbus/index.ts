import { RidgeError } from "../../core/errors.js";
import type { Driver } from "../../core/driver.js";
import type { ModbusDriverConfig, ModbusDeviceConfig } from "./config.js";

export * from "./config.js";

export function createModbusDriver(config: ModbusDriverConfig, _devices: ModbusDeviceConfig[]): Driver {
  throw new RidgeError("E_DRIVER_UNAVAILABLE", "internal", `driver modbus (${config.name}) is not built yet`);
}
