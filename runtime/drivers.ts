/**
 * The driver kinds this runtime knows: each has a config schema, a per-device schema and a lazy
 * factory, so that a driver that is not configured is never loaded (start-up time, memory).
 */
import type { ZodType, ZodTypeDef } from "zod";
import type { Driver } from "../core/driver.js";
import { simDriverConfig } from "../drivers/sim/config.js";
import { modbusDriverConfig, modbusDeviceConfig } from "../drivers/modbus/config.js";
import { mqttDriverConfig, mqttDeviceConfig } from "../drivers/mqtt/config.js";
import { lwm2mDriverConfig, lwm2mDeviceConfig } from "../drivers/lwm2m/config.js";
import { coapDriverConfig, coapDeviceConfig } from "../drivers/coap/config.js";

type AnySchema = ZodType<unknown, ZodTypeDef, unknown>;

export interface DriverKind {
  config: AnySchema;
  device: AnySchema | undefined;
  // The concrete config types are checked by each driver's own schema; here they travel as unknown.
  create(config: never, devices: never[]): Promise<Driver>;
}

export const driverKinds = {
  sim: {
    config: simDriverConfig,
    device: undefined,
    create: async (c, _d) => new (await import("../drivers/sim/index.js")).SimDriver(c),
  } as DriverKind,
  modbus: {
    config: modbusDriverConfig,
    device: modbusDeviceConfig,
    create: async (c, d) => (await import("../drivers/modbus/index.js")).createModbusDriver(c, d),
  } as DriverKind,
  mqtt: {
    config: mqttDriverConfig,
    device: mqttDeviceConfig,
    create: async (c, d) => (await import("../drivers/mqtt/index.js")).createMqttDriver(c, d),
  } as DriverKind,
  lwm2m: {
    config: lwm2mDriverConfig,
    device: lwm2mDeviceConfig,
    create: async (c, d) => (await import("../drivers/lwm2m/index.js")).createLwm2mDriver(c, d),
  } as DriverKind,
  coap: {
    config: coapDriverConfig,
    device: coapDeviceConfig,
    create: async (c, d) => (await import("../drivers/coap/index.js")).createCoapDriver(c, d),
  } as DriverKind,
} satisfies Record<string, DriverKind>;

export type DriverKindName = keyof typeof driverKinds;
export const driverKindNames = Object.keys(driverKinds) as DriverKindName[];
