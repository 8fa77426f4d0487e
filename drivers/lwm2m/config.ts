import { z } from "zod";
import { duration, listenAddress, size } from "../../core/index.js";

const lwm2mPath = z.string().regex(/^(\/\d{1,5}){1,4}$/, "expected an LwM2M path such as /3303/0/5700");
const formatName = z.enum(["text", "opaque", "tlv", "senml-json", "senml-cbor", "lwm2m-json"]);

/**
 * A named point of a device mapped to an LwM2M resource: the twin and `cmd/<device>/<name>` use the
 * name; `writable` points take desired twin values (written with Write).
 */
export const lwm2mPointConfig = z.object({ name: z.string().min(1), path: lwm2mPath, writable: z.boolean().default(false) }).strict();
export type Lwm2mPointConfig = z.infer<typeof lwm2mPointConfig>;

/** Notification attributes (OMA-TS-LightweightM2M-Core §5.1.2): sent with Write-Attributes before observing. */
export const notificationAttributes = z
  .object({ pmin: z.number().int().min(0).optional(), pmax: z.number().int().min(0).optional(), gt: z.number().optional(), lt: z.number().optional(), st: z.number().min(0).optional() })
  .strict();

export const lwm2mDeviceType = z
  .object({
    /** paths observed as soon as a device of this type registers */
    observe: z.array(lwm2mPath).default([]),
    attributes: notificationAttributes.optional(),
    /** Accept format asked for on reads and observations (default: whatever the device sends) */
    accept: formatName.optional(),
  })
  .strict();

export const lwm2mDriverConfig = z
  .object({
    name: z.string().min(1),
    /** one UDP socket for registrations, Send, requests to devices and firmware downloads; `[::]:5683` is IPv6 (dual-stack where the OS allows) */
    listen: listenAddress.default("0.0.0.0:5683"),
    /** host put into firmware Package URIs; default: the listen host, or this gateway's first IPv4 when listening on 0.0.0.0 */
    advertise: z.string().min(1).optional(),
    /** accept registrations from endpoints that are not in `devices:` (their device id is the endpoint name) */
    acceptUnknown: z.boolean().default(true),
    /** device type for unknown endpoints */
    defaultType: z.string().optional(),
    deviceTypes: z.record(lwm2mDeviceType).default({}),
    limits: z
      .object({
        maxUnknown: z.number().int().min(0).default(1000),
        registrationsPerSecond: z.number().positive().default(50),
        burst: z.number().int().min(1).default(100),
        minLifetime: duration.default(30_000),
        maxLifetime: duration.default(7 * 86_400_000),
        maxRegistrationBytes: size.default(8192),
        /** largest Send (LwM2M 1.1 POST /dp) payload accepted; larger ones are answered 4.13 */
        maxSendBytes: size.default(16_384),
      })
      .strict()
      .default({}),
    requestTimeout: duration.default(10_000),
    firmware: z
      .object({
        /** whole push, from Package URI write to a final Update Result */
        timeout: duration.default(600_000),
        /** how often State / Update Result are read while a push runs */
        pollEvery: duration.default(1000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.defaultType !== undefined && !(c.defaultType in c.deviceTypes)) ctx.addIssue({ code: "custom", path: ["defaultType"], message: `no device type "${c.defaultType}" in deviceTypes`, params: { code: "E_CONFIG_REFERENCE" } });
  });
export type Lwm2mDriverConfig = z.infer<typeof lwm2mDriverConfig>;
export type Lwm2mDeviceType = z.infer<typeof lwm2mDeviceType>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const lwm2mDeviceConfig = z
  .object({
    id: z.string().min(1),
    driver: z.string().min(1),
    /** LwM2M endpoint client name (`ep=`); default: the device id */
    endpoint: z.string().min(1).optional(),
    /** a key of the driver's deviceTypes */
    type: z.string().optional(),
    /** extra paths to observe on this device */
    observe: z.array(lwm2mPath).default([]),
    /** named points (twin keys, command points) mapped to resources; without it, points are paths or field names */
    points: z.array(lwm2mPointConfig).optional(),
  })
  .strict();

/**
 * A command with an explicit operation (issue 18 item 9), as the value of a command or write:
 * `{"op": "execute", "path": "/3/0/4", "args": "5"}`. `path` defaults to the command's point.
 */
export const lwm2mCommand = z.discriminatedUnion("op", [
  z.object({ op: z.literal("read"), path: lwm2mPath.optional() }).strict(),
  z.object({ op: z.literal("write"), path: lwm2mPath.optional(), value: z.union([z.number(), z.string(), z.boolean()]), partial: z.boolean().default(false) }).strict(),
  z.object({ op: z.literal("execute"), path: lwm2mPath.optional(), args: z.string().max(1024).optional() }).strict(),
  z.object({ op: z.literal("discover"), path: lwm2mPath.optional() }).strict(),
  z.object({ op: z.literal("write-attributes"), path: lwm2mPath.optional(), attributes: notificationAttributes }).strict(),
  z.object({ op: z.literal("observe"), path: lwm2mPath.optional() }).strict(),
  z.object({ op: z.literal("cancel"), path: lwm2mPath.optional() }).strict(),
]);
export type Lwm2mCommand = z.infer<typeof lwm2mCommand>;
export type Lwm2mDeviceConfig = z.infer<typeof lwm2mDeviceConfig>;
