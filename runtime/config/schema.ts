/**
 * The one gateway config schema. Each section's schema lives with the code that uses it
 * (drivers/<kind>/config.ts, runtime/pipeline/config.ts, ota/config.ts, ...); this file joins them.
 */
import { z } from "zod";
import { driverKinds, driverKindNames, type DriverKindName } from "../drivers.js";
import { pipelineConfig } from "../pipeline/config.js";
import { cloudConfig } from "../cloud/config.js";
import { otaConfig } from "../../ota/index.js";
import { attestConfig } from "../../attest/index.js";
import { controlConfig } from "../control/config.js";
import { didYouMean, duration } from "../../core/index.js";
import { crossChecks } from "./cross-checks.js";

/** One `drivers:` entry: exactly one key naming the kind, e.g. `- modbus: { name: rs485-1, ... }`. */
const driverEntry = z
  .record(z.unknown())
  .superRefine((entry, ctx) => {
    const keys = Object.keys(entry);
    if (keys.length !== 1) {
      ctx.addIssue({ code: "custom", message: `a driver entry has exactly one key naming its kind (one of ${driverKindNames.join(", ")}), got ${keys.length ? keys.join(", ") : "none"}`, params: { code: "E_CONFIG_DRIVER_KIND" } });
      return;
    }
    const kind = keys[0]!;
    if (!(kind in driverKinds)) {
      ctx.addIssue({ code: "custom", path: [kind], message: `unknown driver kind "${kind}": expected one of ${driverKindNames.join(", ")}${didYouMean(kind, driverKindNames)}`, params: { code: "E_CONFIG_DRIVER_KIND", atKey: true } });
      return;
    }
    const r = driverKinds[kind as DriverKindName].config.safeParse(entry[kind]);
    if (!r.success) for (const is of r.error.issues) ctx.addIssue({ ...is, path: [kind, ...is.path] });
  })
  .transform((entry) => {
    const kind = Object.keys(entry)[0] as DriverKindName;
    const config = driverKinds[kind].config.parse(entry[kind]) as { name: string } & Record<string, unknown>;
    return { kind, name: config.name, config };
  });

export type DriverEntry = z.output<typeof driverEntry>;

const deviceEntry = z.object({ id: z.string().min(1), driver: z.string().min(1) }).passthrough();

/** The sections and their own schemas, without the checks across sections. */
export const gatewaySections = z
  .object({
    gateway: z.object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a gateway id of letters, digits, '.', '_' or '-'") }).strict(),
    board: z.string().default("sim"),
    data: z.string().optional(),
    log: z
      .object({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
        /** auto: journald's stream under systemd, text lines on a terminal, else JSON lines (runtime/log.ts). */
        format: z.enum(["auto", "pretty", "json", "journal"]).default("auto"),
      })
      .strict()
      .default({}),
    shutdown: z.object({ deadline: duration.default(10_000) }).strict().default({}),
    drivers: z.array(driverEntry).default([]),
    devices: z.array(deviceEntry).default([]),
    pipeline: pipelineConfig.default({}),
    cloud: cloudConfig.optional(),
    ota: otaConfig.optional(),
    attest: attestConfig.optional(),
    control: controlConfig.default({}),
  })
  .strict();

/**
 * The gateway config. The checks across sections (a device's driver, a source's `from:`, the
 * pipeline's wiring, URL ports, `$` topics: cross-checks.ts) read the input as written, before the
 * sections are parsed, so that they are reported together with every section's own errors instead
 * of only once those are fixed.
 */
export const gatewayConfig = z.preprocess((raw, ctx) => {
  for (const is of crossChecks(raw)) ctx.addIssue(is);
  return raw;
}, gatewaySections);

export type GatewayConfig = z.output<typeof gatewayConfig>;
