import { z } from "zod";

// Placeholder: the OTA issue replaces this.
export const otaConfig = z.object({}).passthrough();
export type OtaConfig = z.infer<typeof otaConfig>;
