/**
 * The driver kinds this runtime knows: each has a config schema, a per-device schema and a lazy
 * factory, so that a driver that is not configured is never loaded (start-up time, memory).
 */
import type { ZodType, ZodTypeDef } from "zod";
import type { Driver } from "../core/index.js";
import {
  simDriverConfig,
  modbusDriverConfig,
  modbusDeviceConfig,
  mqttDriverConfig,
  mqttDeviceConfig,
  lwm2mDriverConfig,
  lwm2mDeviceConfig,
  coapDriverConfig,
  coapDeviceConfig,
  loadSimDriver,
  loadModbusDriver,
  loadMqttDriver,
  loadLwm2mDriver,
  loadCoapDriver,
} from "../drivers/index.js";

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
    create: async (c, _d) => new (await loadSimDriver()).SimDriver(c),
  } as DriverKind,
  modbus: {
    config: modbusDriverConfig,
    device: modbusDeviceConfig,
    create: async (c, d) => (await loadModbusDriver()).createModbusDriver(c, d),
  } as DriverKind,
  mqtt: {
    config: mqttDriverConfig,
    device: mqttDeviceConfig,
    create: async (c, d) => (await loadMqttDriver()).createMqttDriver(c, d),
  } as DriverKind,
  lwm2m: {
    config: lwm2mDriverConfig,
    device: lwm2mDeviceConfig,
    create: async (c, d) => (await loadLwm2mDriver()).createLwm2mDriver(c, d),
  } as DriverKind,
  coap: {
    config: coapDriverConfig,
    device: coapDeviceConfig,
    create: async (c, d) => (await loadCoapDriver()).createCoapDriver(c, d),
  } as DriverKind,
} satisfies Record<string, DriverKind>;

export type DriverKindName = keyof typeof driverKinds;
export const driverKindNames = Object.keys(driverKinds) as DriverKindName[];
