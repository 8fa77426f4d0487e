import { z } from "zod";

// Placeholder: the attestation issue replaces this.
export const attestConfig = z.object({}).passthrough();
export type AttestConfig = z.infer<typeof attestConfig>;
