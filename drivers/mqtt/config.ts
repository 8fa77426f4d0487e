/**
 * Config of an MQTT driver: an embedded broker for the devices on site (aedes) or a client of an
 * existing site broker (MQTT.js). Topic patterns map topics to devices and event kinds; payload
 * formats pick the decoder.
 */
import { z } from "zod";
import { duration, listenAddress, size } from "../../core/index.js";

export const payloadFormat = z.enum(["auto", "json", "senml-json", "senml-cbor", "number"]);
export type PayloadFormat = z.infer<typeof payloadFormat>;

/** `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<hash base64>` (see password-hash.ts). */
export const scryptHash = z.string().regex(/^\$scrypt\$ln=\d{1,2},r=\d{1,2},p=\d{1,2}\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/, "expected a password hash such as $scrypt$ln=14,r=8,p=1$<salt>$<hash> (make one with hashPassword)");

/** One topic level that is exactly `{device}` captures the device id; `+` and a final `#` are MQTT wildcards. */
const topicPattern = z
  .string()
  .min(1)
  .refine((p) => p.split("/").filter((l) => l === "{device}").length === 1, "a topic pattern has exactly one level that is {device}")
  .refine((p) => p.split("/").every((l, i, a) => (l === "#" ? i === a.length - 1 : !l.includes("#") && (l === "+" || !l.includes("+")))), "'+' must be a whole level and '#' only the last level");

export const topicMapping = z
  .object({
    pattern: topicPattern,
    kind: z.string().min(1).default("telemetry"),
    format: payloadFormat.default("auto"),
  })
  .strict();
export type TopicMapping = z.infer<typeof topicMapping>;

export const defaultTopics: TopicMapping[] = [
  { pattern: "devices/{device}/telemetry", kind: "telemetry", format: "auto" },
  { pattern: "devices/{device}/state", kind: "state", format: "auto" },
  { pattern: "devices/{device}/alarm", kind: "alarm", format: "auto" },
];

const commandTopic = z
  .string()
  .min(1)
  .refine((p) => !p.includes("+") && !p.includes("#"), "a command topic has no wildcards")
  .refine((p) => p.includes("{device}"), "a command topic contains {device}");

export const mqttDriverConfig = z
  .object({
    name: z.string().min(1),
    broker: z.enum(["embedded", "client"]).default("embedded"),
    /** Embedded broker: plain MQTT listener. Loopback by default. */
    listen: listenAddress.default("127.0.0.1:1883"),
    /** Embedded broker: an extra MQTT-over-TLS listener; with `requireClientCert`, the certificate CN is the device id. */
    tls: z
      .object({
        listen: listenAddress.default("127.0.0.1:8883"),
        cert: z.string().min(1),
        key: z.string().min(1),
        ca: z.string().min(1).optional(),
        requireClientCert: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /** username → scrypt hash. Devices may also carry their own `password` hash. */
    auth: z.object({ users: z.record(z.string().min(1), scryptHash).default({}) }).strict().default({}),
    /** Accept clients without credentials; the device is then taken from the topic and must be configured. */
    allowAnonymous: z.boolean().default(false),
    /** Extra topic filters each device may use; `{device}` is replaced by the client's device id. */
    acl: z
      .object({
        publish: z.array(z.string().min(1)).default([]),
        subscribe: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({}),
    limits: z
      .object({
        maxConnections: z.number().int().positive().default(1000),
        /** Sustained messages per second per client (token bucket) and its burst. */
        messagesPerSecond: z.number().positive().default(50),
        burst: z.number().int().positive().default(100),
        /** Largest MQTT packet accepted; a bigger one closes the connection before it is buffered. */
        maxPacket: size.default(65_536),
        /** A connection that sends no CONNECT within this time is closed. */
        connectTimeout: duration.default(10_000),
      })
      .strict()
      .default({}),
    topics: z.array(topicMapping).min(1).default(defaultTopics),
    /** Where write(device, point, value) publishes. `{point}` is optional. */
    command: commandTopic.default("devices/{device}/cmd/{point}"),
    /** Where a device's desired twin document ({version, state}) is published, retained. */
    desired: commandTopic.default("devices/{device}/desired"),
    /** QoS of command publishes. */
    commandQos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
    /** Client mode: the site broker. */
    client: z
      .object({
        url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/[^\s]+$/, "expected mqtt://host:port or mqtts://host:port"),
        clientId: z.string().min(1).optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
        qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
        keepalive: duration.default(30_000),
        reconnect: duration.default(2_000),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.broker === "client" && !c.client) ctx.addIssue({ code: "custom", path: ["client"], message: "broker: client needs a client: { url: ... } section" });
    if (c.tls?.requireClientCert && !c.tls.ca) ctx.addIssue({ code: "custom", path: ["tls", "ca"], message: "requireClientCert needs the CA that signs device certificates (tls.ca)" });
  });
export type MqttDriverConfig = z.infer<typeof mqttDriverConfig>;
export type MqttDriverConfigInput = z.input<typeof mqttDriverConfig>;

/** Per-device config for devices on this driver (the `devices:` list entries). */
export const mqttDeviceConfig = z
  .object({
    id: z.string().min(1).regex(/^[^/+#\s]+$/, "a device id used in topics has no '/', '+', '#' or spaces"),
    driver: z.string().min(1),
    /** MQTT username of this device (default: its id). */
    username: z.string().min(1).optional(),
    /** scrypt hash of its password (overrides auth.users). */
    password: scryptHash.optional(),
    /** Its own topic mappings (replace the driver's). */
    topics: z.array(topicMapping).min(1).optional(),
    /** Its own command topic. */
    command: commandTopic.optional(),
    /** Its own desired-document topic. */
    desired: commandTopic.optional(),
  })
  .passthrough();
export type MqttDeviceConfig = z.infer<typeof mqttDeviceConfig>;
