import { z } from "zod";
import { duration } from "../../core/index.js";

export const coapDecoderName = z.enum(["text", "json", "cbor", "senml-json", "senml-cbor"]);

export const coapPointConfig = z
  .object({
    /** event field name */
    name: z.string().min(1),
    /** resource path on the device, e.g. /sensors/temp */
    path: z.string().startsWith("/"),
    /** poll with GET every `every`, or Observe (RFC 7641) */
    mode: z.enum(["poll", "observe"]).default("poll"),
    every: duration.default(5000),
    decoder: coapDecoderName.default("text"),
    /** json/cbor: dotted key into the document; senml: the record name (resolved, base name included) */
    field: z.string().optional(),
  })
  .strict();

export const coapDriverConfig = z
  .object({
    name: z.string().min(1),
    /** per request; a request without an answer in this time counts as a timeout */
    timeout: duration.default(5000),
    /** consecutive failures after which a device is reported down */
    downAfter: z.number().int().min(1).default(3),
    /** retry backoff for a device that is down (exponential with full jitter) */
    backoff: z.object({ min: duration.default(1000), max: duration.default(60_000) }).strict().default({}),
  })
  .strict();
export type CoapDriverConfig = z.infer<typeof coapDriverConfig>;
export type CoapPointConfig = z.infer<typeof coapPointConfig>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const coapDeviceConfig = z
  .object({
    id: z.string().min(1),
    driver: z.string().min(1),
    /** coap://host:port or coaps://host:port (DTLS, needs psk) */
    url: z.string().regex(/^coaps?:\/\/[^/\s]+$/, "expected coap://host:port or coaps://host:port without a path"),
    psk: z.object({ identity: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    points: z.array(coapPointConfig).min(1),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.url.startsWith("coaps:") && !d.psk) ctx.addIssue({ code: "custom", path: ["psk"], message: "a coaps:// device needs psk: { identity, key }" });
  });
export type CoapDeviceConfig = z.infer<typeof coapDeviceConfig>;
