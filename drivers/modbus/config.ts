import { z } from "zod";

// Placeholder schema: the modbus driver issue replaces it with the full one.
export const modbusDriverConfig = z.object({ name: z.string().min(1) }).passthrough();
export type ModbusDriverConfig = z.infer<typeof modbusDriverConfig>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const modbusDeviceConfig = z.object({ id: z.string(), driver: z.string() }).passthrough();
export type ModbusDeviceConfig = z.infer<typeof modbusDeviceConfig>;
