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
 *     download: { minRate: 1KiB, grace: 30s, idleTimeout: 30s }
 *
 * `download` bounds every file fetched from a mirror, metadata and targets alike (slow retrieval):
 * a file of N bytes must arrive within `grace + N / minRate` (minRate in bytes per second; N is the
 * listed length, or for metadata without one its size cap: timestamp 16 KiB, root 512 KiB,
 * snapshot 2 MiB, targets 8 MiB), else E_OTA_SLOW; a socket silent for `idleTimeout` is dropped
 * and the download resumed later.
 */
import { z } from "zod";
import { duration, size } from "../core/index.js";
import { DEFAULT_RETRIEVAL_LIMITS, type RetrievalLimits } from "./repo-fetchers.js";

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
    download: z
      .object({
        /** Bytes per second, averaged over the whole file (a size: 1KiB means 1 KiB/s). */
        minRate: size.refine((v) => v >= 1, "at least 1 byte per second").default(DEFAULT_RETRIEVAL_LIMITS.minRateBytesPerS),
        grace: duration.default(DEFAULT_RETRIEVAL_LIMITS.graceMs),
        idleTimeout: duration.refine((v) => v >= 1, "more than 0").default(DEFAULT_RETRIEVAL_LIMITS.idleTimeoutMs),
      })
      .strict()
      .default({}),
  })
  .strict();

export type OtaConfig = z.output<typeof otaConfig>;

/** The mirrors' limits from `ota.download` (pass as `fetcherFor(location, { limits })`). */
export function retrievalLimits(cfg: OtaConfig): RetrievalLimits {
  return { minRateBytesPerS: cfg.download.minRate, graceMs: cfg.download.grace, idleTimeoutMs: cfg.download.idleTimeout };
}
