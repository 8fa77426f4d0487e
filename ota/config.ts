/**
 * The `ota:` section of the gateway config.
 *
 *   ota:
 *     repo: https://updates.example.com/ridgeline/   # or a directory (USB stick, local copy)
 *     mirrors: [https://mirror-2.example.com/ridgeline/]
 *     poll: 6h              # 0 turns polling off (downlink notifications and `ridge ota install` still work)
 *     jitter: 30m           # up to this much added to each poll interval
 *     root: /etc/ridgeline/root.json   # trusted root shipped out of band (default <data>/ota/root.json)
 *     health: { upFor: 120s, drivers: true, cloud: auto, command: /usr/local/bin/site-check, timeout: 30s }
 */
import { z } from "zod";
import { duration } from "../core/index.js";

/** How long a runtime must have been up before its slot is confirmed (or its trial's health check runs). */
export const DEFAULT_HEALTH_UP_FOR_MS = 120_000;

export const otaConfig = z
  .object({
    repo: z.string().min(1),
    mirrors: z.array(z.string().min(1)).default([]),
    poll: duration.default(6 * 3_600_000),
    jitter: duration.default(30 * 60_000),
    root: z.string().optional(),
    /** Target hashes checked besides sha256 (e.g. [sm3] where SM algorithms are required). */
    verifyHashes: z.array(z.enum(["sm3", "sha512", "sha384"])).default([]),
    /** Boot attempts for a new slot (default: the board's). */
    attempts: z.number().int().min(1).max(10).optional(),
    health: z
      .object({
        upFor: duration.default(DEFAULT_HEALTH_UP_FOR_MS),
        /** Every configured driver must report up. */
        drivers: z.boolean().default(true),
        /** The cloud link must be up: `auto` = when a cloud section is configured. */
        cloud: z.union([z.boolean(), z.literal("auto")]).default("auto"),
        /** The user's own check: a command that must exit 0. */
        command: z.string().optional(),
        timeout: duration.default(30_000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type OtaConfig = z.output<typeof otaConfig>;
