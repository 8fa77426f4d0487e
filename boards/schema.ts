/** A board is data: arch, ports, slots, boot control adapter, TPM, watchdog and config defaults. */
import { z } from "zod";

export const boardSchema = z
  .object({
    name: z.string(),
    description: z.string(),
    arch: z.enum(["x64", "arm64", "riscv64"]),
    /** `any` for the sim board: it runs wherever Node runs. */
    hostArch: z.boolean().default(false),
    serial: z.array(z.object({ path: z.string(), label: z.string() }).strict()).default([]),
    dataDir: z.string(),
    slots: z
      .object({
        /** `runtime`: A/B folders under the install root; `system`: rootfs partitions switched by the boot loader. */
        layout: z.enum(["runtime", "system"]),
        a: z.string(),
        b: z.string(),
      })
      .strict(),
    bootControl: z
      .object({
        adapter: z.enum(["file", "uboot-env", "nvbootctrl"]),
        /** Boot attempts before the boot loader (or launcher) falls back to the other slot. */
        attempts: z.number().int().min(1).max(10).default(3),
        envFile: z.string().optional(),
      })
      .strict(),
    tpm: z.union([z.literal("none"), z.object({ device: z.string() }).strict()]),
    watchdog: z.union([z.literal("none"), z.object({ device: z.string(), timeoutSec: z.number().int().positive() }).strict()]),
    /** Boot-chain files measured into the attestation log, where readable. */
    measure: z.array(z.object({ path: z.string(), pcr: z.number().int().min(0).max(23), what: z.string() }).strict()).default([]),
    /** Gateway config defaults; the gateway's own config overrides them key by key. */
    defaults: z.record(z.unknown()).default({}),
  })
  .strict();

export type Board = z.output<typeof boardSchema>;
