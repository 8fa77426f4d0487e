import { z } from "zod";

// Placeholder schema: the mqtt driver issue replaces it with the full one.
export const mqttDriverConfig = z.object({ name: z.string().min(1) }).passthrough();
export type MqttDriverConfig = z.infer<typeof mqttDriverConfig>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const mqttDeviceConfig = z.object({ id: z.string(), driver: z.string() }).passthrough();
export type MqttDeviceConfig = z.infer<typeof mqttDeviceConfig>;
