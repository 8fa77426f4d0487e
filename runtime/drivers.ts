/**
 * The driver kinds this runtime knows: each has a config schema, a per-device schema and a lazy
 * factory, so that a driver that is not configured is never loaded (start-up time, memory).
 */
import type { ZodType, ZodTypeDef } from "zod";
import { asErrorCode, fail, ok, type Driver, type ErrorCode, type Result } from "../core/index.js";
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
  type FirmwareArtifact,
} from "../drivers/index.js";

type AnySchema = ZodType<unknown, ZodTypeDef, unknown>;

/**
 * The LwM2M driver's firmware verifier: OTA's TUF target check (tuf-spec §5.7.3: exact signed
 * length, every computable signed hash, sha256 required), loaded with the first push.
 */
export async function verifyAsOtaTarget(artifact: FirmwareArtifact, bytes: Uint8Array): Promise<Result<void, ErrorCode>> {
  const { TargetHasher } = await import("../ota/index.js");
  const h = new TargetHasher(artifact.file, { length: artifact.length, hashes: { ...(artifact.hashes ?? {}), sha256: (artifact.hashes?.sha256 ?? artifact.sha256).toLowerCase() } });
  h.update(bytes);
  const r = h.finish();
  return r.ok ? ok(undefined) : fail(asErrorCode(r.code, "E_LWM2M_FIRMWARE_VERIFY"), r.reason);
}

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
    create: async (c, d) => (await loadLwm2mDriver()).createLwm2mDriver(c, d, { verifyFirmware: verifyAsOtaTarget }),
  } as DriverKind,
  coap: {
    config: coapDriverConfig,
    device: coapDeviceConfig,
    create: async (c, d) => (await loadCoapDriver()).createCoapDriver(c, d),
  } as DriverKind,
} satisfies Record<string, DriverKind>;

export type DriverKindName = keyof typeof driverKinds;
export const driverKindNames = Object.keys(driverKinds) as DriverKindName[];
