import { z } from "zod";

// Placeholder: the pipeline issue replaces this with the full topology schema.
export const pipelineConfig = z
  .object({
    sources: z.record(z.unknown()).default({}),
    operators: z.record(z.unknown()).default({}),
    sinks: z.record(z.unknown()).default({}),
  })
  .strict();
export type PipelineConfig = z.infer<typeof pipelineConfig>;
