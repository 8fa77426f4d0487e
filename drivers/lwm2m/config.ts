import { z } from "zod";

// Placeholder schema: the lwm2m driver issue replaces it with the full one.
export const lwm2mDriverConfig = z.object({ name: z.string().min(1) }).passthrough();
export type Lwm2mDriverConfig = z.infer<typeof lwm2mDriverConfig>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const lwm2mDeviceConfig = z.object({ id: z.string(), driver: z.string() }).passthrough();
export type Lwm2mDeviceConfig = z.infer<typeof lwm2mDeviceConfig>;
