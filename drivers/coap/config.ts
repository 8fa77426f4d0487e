import { z } from "zod";

// Placeholder schema: the coap driver issue replaces it with the full one.
export const coapDriverConfig = z.object({ name: z.string().min(1) }).passthrough();
export type CoapDriverConfig = z.infer<typeof coapDriverConfig>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const coapDeviceConfig = z.object({ id: z.string(), driver: z.string() }).passthrough();
export type CoapDeviceConfig = z.infer<typeof coapDeviceConfig>;
