import { z } from "zod";
import { duration } from "../../core/index.js";

export const simSignal = z.enum(["sine", "random-walk", "step", "counter"]);

export const simDriverConfig = z
  .object({
    name: z.string().min(1),
    /** The built-in scenario: trail trackers (GPS, altitude, speed, heart rate, battery) or generic signals. */
    scenario: z.enum(["trail", "signals"]).default("trail"),
    devices: z.number().int().min(1).max(100_000).default(24),
    /** Readings per device per second. */
    rateHz: z.number().positive().max(10_000).default(1),
    /** Signals for the `signals` scenario, one field each. */
    signals: z
      .array(z.object({ field: z.string(), shape: simSignal, min: z.number().default(0), max: z.number().default(100), period: duration.default(60_000) }).strict())
      .default([]),
    /** Probability that an event is emitted out of order (delayed) or twice. */
    outOfOrder: z.number().min(0).max(1).default(0.01),
    duplicates: z.number().min(0).max(1).default(0.005),
    /** Probability that an altitude leaves the 500–4500 m band (trail scenario). */
    outliers: z.number().min(0).max(1).default(0.03),
    seed: z.number().int().default(7),
    /** Id prefix of the simulated devices. */
    prefix: z.string().default("tracker-"),
  })
  .strict();

export type SimDriverConfig = z.infer<typeof simDriverConfig>;
