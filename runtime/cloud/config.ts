/**
 * The `cloud:` section: the cloud MQTT link (`mqtt`), the durable uplink queue (`queue`) and the
 * model cache (`models`). The queue always exists: with no `mqtt`, the gateway is offline and the
 * queue fills within its limits.
 *
 *   cloud:
 *     mqtt: { url: "mqtts://iot.example.com:8883", ca: ca.pem, cert: id.crt, key: id.key }
 *     queue: { maxBytes: 512MiB, maxAge: 7d, whenFull: evict-oldest-lowest-priority }
 */
import { z } from "zod";
import { duration, size } from "../../core/index.js";

export const QUEUE_POLICIES = ["evict-oldest-lowest-priority", "drop-newest"] as const;
export type QueuePolicy = (typeof QUEUE_POLICIES)[number];

export const queueConfig = z
  .object({
    /** Bytes of queued events (body plus row overhead) kept at most. */
    maxBytes: size.default(512 * 1024 ** 2),
    /** Events older than this (since they were queued) are expired and counted. */
    maxAge: duration.default(7 * 86_400_000),
    /** What happens when a limit (or the disk) is reached. */
    whenFull: z.enum(QUEUE_POLICIES).default("evict-oldest-lowest-priority"),
    /** Group commit: an append is committed at most `every` ms later, or at once when `events` are waiting. */
    groupCommit: z
      .object({ every: duration.default(10), events: z.number().int().min(1).max(100_000).default(1000) })
      .strict()
      .default({}),
  })
  .strict();
export type QueueConfig = z.output<typeof queueConfig>;

const url = z.string().regex(/^(mqtts?|wss?):\/\/[^\s/]+(:\d{1,5})?(\/.*)?$/, "expected mqtt://host:port or mqtts://host:port");

export const mqttLinkConfig = z
  .object({
    url,
    /** MQTT protocol version: "5" or "3.1.1". */
    version: z.enum(["5", "3.1.1"]).default("5"),
    /** Defaults to the gateway id. */
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** PEM files: the broker's CA, the gateway's certificate and key (mutual TLS). Relative paths are resolved against the data directory. */
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    /** SNI / certificate host name check override (defaults to the URL host). */
    servername: z.string().optional(),
    keepalive: duration.default(30_000),
    connectTimeout: duration.default(10_000),
    /** MQTT 5 session expiry (persistent session); 3.1.1 keeps the session with clean=false. */
    sessionExpiry: duration.default(7 * 86_400_000),
    /**
     * Topic root: `<prefix>/<gateway-id>/up/<kind>`, `<prefix>/<gateway-id>/down/#`. Not starting
     * with `$`: such topics are the broker's own (`$SYS/…`, AWS `$aws/…`; MQTT 5 §4.7.2) and a
     * broker refuses or silently drops client publishes to them.
     */
    topicPrefix: z
      .string()
      .regex(/^[^#+\s]+$/, "a topic prefix has no wildcards (#, +) or spaces")
      .refine((p) => !p.startsWith("$"), { message: "a topic prefix must not start with $: topics beginning with $ are reserved for the broker ($SYS, $aws, …; MQTT 5 §4.7.2); use e.g. ridge", params: { code: "E_CONFIG_TOPIC" } })
      .default("ridge"),
    /** Batch payload encoding: JSON lines or a CBOR array. */
    format: z.enum(["jsonl", "cbor"]).default("jsonl"),
    /**
     * Events per batch at most, and encoded payload bytes per batch at most. The default 120 KiB
     * keeps the whole PUBLISH (topic and header too) under AWS IoT Core's 128 KB message limit; a
     * broker that announces a smaller Maximum Packet Size (MQTT 5 CONNACK) cuts batches further.
     */
    batch: z
      .object({ maxEvents: z.number().int().min(1).max(50_000).default(500), maxBytes: size.default(120 * 1024) })
      .strict()
      .default({}),
    /**
     * A PUBACK not received this long after its publish. With no announced packet limit and a
     * publish larger than any acknowledged, it is taken for too large (some brokers drop such a
     * publish without a PUBACK: mosquitto's message_size_limit) and batches are cut smaller;
     * otherwise the connection is taken for dead and made again.
     */
    ackTimeout: duration.default(30_000),
    /** Batches published and not yet acknowledged (PUBACK), at most. */
    inflight: z.number().int().min(1).max(1000).default(16),
    /** Reconnect: exponential backoff with full jitter, delay = random(0, min(cap, base * 2^attempt)). */
    backoff: z.object({ base: duration.default(1000), cap: duration.default(300_000) }).strict().default({}),
    /** Backlog pace in events/s (0 = as fast as the link allows); fresh alarms are never paced. */
    drainRate: z.number().min(0).default(0),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.cert === undefined) !== (c.key === undefined))
      ctx.addIssue({ code: "custom", path: [c.cert === undefined ? "cert" : "key"], message: "a client certificate needs both cert and key", params: { code: "E_CONFIG_TLS" } });
    if ((c.ca || c.cert) && !/^(mqtts|wss):/.test(c.url))
      ctx.addIssue({ code: "custom", path: ["url"], message: `certificates are configured but ${c.url} is not TLS: use mqtts://`, params: { code: "E_CONFIG_TLS" } });
  });
export type MqttLinkConfig = z.output<typeof mqttLinkConfig>;

export const modelsConfig = z
  .object({
    /** Public keys (hex) trusted to sign model manifests: Ed25519 (32 bytes), or P-256 / SM2 (65-byte uncompressed point). */
    trustedKeys: z.array(z.string().regex(/^([0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$/, "a public key in hex: 32-byte Ed25519 or 65-byte uncompressed P-256/SM2 point")).default([]),
    /** Versions kept per model for rollback (the active one included). */
    keep: z.number().int().min(1).max(20).default(3),
    /** Retry delay for a failed or interrupted download. */
    retry: duration.default(5000),
  })
  .strict();
export type ModelsConfig = z.output<typeof modelsConfig>;

export const cloudConfig = z
  .object({
    mqtt: mqttLinkConfig.optional(),
    queue: queueConfig.default({}),
    models: modelsConfig.default({}),
  })
  .strict();
export type CloudConfig = z.output<typeof cloudConfig>;
