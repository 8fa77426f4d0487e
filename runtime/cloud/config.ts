import { z } from "zod";

// Placeholder: the offline-first issue replaces this with the cloud link and queue schema.
export const cloudConfig = z.object({}).passthrough();
export type CloudConfig = z.infer<typeof cloudConfig>;
