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
      ctx.addIssue({ code: "custom", path: [kind], message: `unknown driver kind "${kind}": expected one of ${driverKindNames.join(", ")}`, params: { code: "E_CONFIG_DRIVER_KIND", atKey: true } });
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

export const gatewayConfig = z
  .object({
    gateway: z.object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a gateway id of letters, digits, '.', '_' or '-'") }).strict(),
    board: z.string().default("sim"),
    data: z.string().optional(),
    log: z.object({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info") }).strict().default({}),
    shutdown: z.object({ deadline: duration.default(10_000) }).strict().default({}),
    drivers: z.array(driverEntry).default([]),
    devices: z.array(deviceEntry).default([]),
    pipeline: pipelineConfig.default({}),
    cloud: cloudConfig.optional(),
    ota: otaConfig.optional(),
    attest: attestConfig.optional(),
    control: controlConfig.default({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const names = new Map<string, number>();
    cfg.drivers.forEach((d, i) => {
      if (names.has(d.name)) ctx.addIssue({ code: "custom", path: ["drivers", i, d.kind, "name"], message: `driver name "${d.name}" is already used by drivers[${names.get(d.name)}]`, params: { code: "E_CONFIG_DUPLICATE" } });
      names.set(d.name, i);
    });
    const ids = new Set<string>();
    cfg.devices.forEach((dev, i) => {
      if (ids.has(dev.id)) ctx.addIssue({ code: "custom", path: ["devices", i, "id"], message: `device id "${dev.id}" is used twice`, params: { code: "E_CONFIG_DUPLICATE" } });
      ids.add(dev.id);
      const di = names.get(dev.driver);
      if (di === undefined) {
        ctx.addIssue({ code: "custom", path: ["devices", i, "driver"], message: `no driver named "${dev.driver}" (drivers: ${[...names.keys()].join(", ") || "none"})${didYouMean(dev.driver, names.keys())}`, params: { code: "E_CONFIG_REFERENCE" } });
        return;
      }
      const kind = cfg.drivers[di]!.kind;
      const schema = driverKinds[kind].device;
      if (!schema) {
        ctx.addIssue({ code: "custom", path: ["devices", i, "driver"], message: `driver "${dev.driver}" (${kind}) does not take configured devices`, params: { code: "E_CONFIG_REFERENCE" } });
        return;
      }
      const r = schema.safeParse(dev);
      if (!r.success) for (const is of r.error.issues) ctx.addIssue({ ...is, path: ["devices", i, ...is.path] });
    });
    // a pipeline source reading from a driver that does not exist would never see an event
    for (const [src, def] of Object.entries(cfg.pipeline.sources)) {
      (def.from ?? []).forEach((d, j) => {
        if (names.has(d)) return;
        const path = ["pipeline", "sources", src, "from", ...(Array.isArray(def.from) && def.from.length > 1 ? [j] : [])];
        ctx.addIssue({ code: "custom", path, message: `source "${src}" reads from "${d}", but no driver has that name (drivers: ${[...names.keys()].join(", ") || "none"})${didYouMean(d, names.keys())}`, params: { code: "E_CONFIG_REFERENCE" } });
      });
    }
  });

export type GatewayConfig = z.output<typeof gatewayConfig>;
