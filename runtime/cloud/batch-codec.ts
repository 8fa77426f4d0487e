/**
 * Uplink batch payloads. A batch is the events of one topic in queue order, each carrying its
 * stable `id` so the cloud can dedup redeliveries.
 * - `jsonl`: one JSON object per line (UTF-8, "\n" after each), cheap to build from stored rows.
 * - `cbor`:  one CBOR array (RFC 8949) of event maps.
 * Pure: no I/O. Decoding is total: hostile input gives a `Failure` with code E_CLOUD_BATCH.
 */
import { fail, ok, setOwn, type Event, type Result } from "../../core/index.js";
import { decodeCbor, encodeCbor, type CborValue } from "../../codecs/index.js";

export type BatchFormat = "jsonl" | "cbor";

/** JSON values (from the stored rows) as CBOR values: objects become text-keyed maps. */
function toCbor(v: unknown): CborValue {
  if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (Array.isArray(v)) return v.map(toCbor);
  if (typeof v === "object") return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toCbor(x)] as [CborValue, CborValue]));
  return null;
}

/** CBOR back to JSON-like values; a map with a non-text key is not an event batch. */
function fromCbor(v: CborValue): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) {
      if (typeof k !== "string") throw new Error("map key is not text");
      setOwn(o, k, fromCbor(x));
    }
    return o;
  }
  if (Array.isArray(v)) return v.map(fromCbor);
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (v !== null && typeof v === "object") return fromCbor(v.value);
  return v;
}

/**
 * Build a payload from events already serialized as JSON lines (the queue's stored rows: each
 * string is one or more events joined by "\n"; JSON text never holds a raw line break).
 */
export function encodeBatch(format: BatchFormat, jsonLines: readonly string[]): Buffer {
  if (format === "jsonl") return Buffer.from(jsonLines.length ? jsonLines.join("\n") + "\n" : "", "utf8");
  return Buffer.from(encodeCbor(toCbor(jsonLines.flatMap((chunk) => chunk.split("\n").map((l) => JSON.parse(l) as unknown)))));
}

export type DecodedBatch = Result<Event[], "E_CLOUD_BATCH">;

function isEvent(v: unknown): v is Event {
  if (!v || typeof v !== "object") return false;
  const e = v as Record<string, unknown>;
  return typeof e.id === "string" && typeof e.device === "string" && typeof e.kind === "string" && typeof e.ts === "number" && !!e.payload && typeof e.payload === "object";
}

export function decodeBatch(format: BatchFormat, payload: Uint8Array): DecodedBatch {
  let items: unknown[];
  try {
    if (format === "jsonl") {
      const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
      items = text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as unknown);
    } else {
      const r = decodeCbor(payload);
      if (!r.ok) return fail("E_CLOUD_BATCH", `not a cbor batch: ${r.reason} at byte ${r.offset}`, r.offset);
      const v = fromCbor(r.value);
      if (!Array.isArray(v)) return fail("E_CLOUD_BATCH", "a CBOR batch is an array of events");
      items = v;
    }
  } catch (e) {
    return fail("E_CLOUD_BATCH", `not a ${format} batch: ${e instanceof Error ? e.message : String(e)}`);
  }
  const events: Event[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (!isEvent(it)) return fail("E_CLOUD_BATCH", `item ${i} is not an event (id, ts, device, kind, payload)`);
    events.push(it);
  }
  return ok(events);
}

/**
 * The size of the MQTT PUBLISH packet (QoS 1, no properties) that carries `payloadBytes` on a
 * topic of `topicBytes` UTF-8 bytes: the figure a broker's Maximum Packet Size limits.
 * MQTT 5 §3.3: fixed header (1 byte + Remaining Length as a variable byte integer, §1.5.5),
 * topic (2-byte length + bytes), packet id (2), properties (their length: 1 byte for none), payload.
 * MQTT 3.1.1 §3.3 has no properties.
 */
export function publishPacketSize(topicBytes: number, payloadBytes: number, mqtt5: boolean): number {
  const remaining = 2 + topicBytes + 2 + (mqtt5 ? 1 : 0) + payloadBytes;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}

/** The largest payload that fits a PUBLISH of at most `maxPacket` bytes on that topic (0 when none does). */
export function maxPayloadFor(maxPacket: number, topicBytes: number, mqtt5: boolean): number {
  let p = Math.max(0, maxPacket - (1 + 4 + 2 + topicBytes + 2 + (mqtt5 ? 1 : 0)));
  // The Remaining Length field may be shorter than the 4 bytes assumed: grow while it still fits.
  while (publishPacketSize(topicBytes, p + 1, mqtt5) <= maxPacket) p++;
  return p;
}

/** CBOR array head (RFC 8949 §3): 1, 2, 3 or 5 bytes for a definite length. */
function cborArrayHead(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

export interface FittedBatch {
  /** Events taken from the front of `lines` (at least one). */
  count: number;
  payload: Buffer;
  /** False when even the first event alone exceeds `maxPayload` (it is then the whole batch). */
  fits: boolean;
}

/**
 * The longest prefix of `lines` (one event per JSON line) whose encoded batch is at most
 * `maxPayload` bytes, measured on the encoded bytes (UTF-8 for jsonl; for CBOR each event is
 * encoded on its own, and a definite-length array is its head followed by the items).
 */
export function fitBatch(format: BatchFormat, lines: readonly string[], maxPayload: number): FittedBatch {
  if (lines.length === 0) return { count: 0, payload: encodeBatch(format, []), fits: true };
  let count = 0;
  if (format === "jsonl") {
    let size = 0;
    for (const l of lines) {
      const s = Buffer.byteLength(l, "utf8") + 1;
      if (size + s > maxPayload) break;
      size += s;
      count++;
    }
  } else {
    let items = 0;
    for (const l of lines) {
      const s = encodeCbor(toCbor(JSON.parse(l) as unknown)).length;
      if (cborArrayHead(count + 1) + items + s > maxPayload) break;
      items += s;
      count++;
    }
  }
  const fits = count > 0;
  count = Math.max(1, count);
  let payload = encodeBatch(format, lines.slice(0, count));
  // The sum above is exact; this guard only keeps a promise the caller relies on.
  while (fits && payload.length > maxPayload && count > 1) payload = encodeBatch(format, lines.slice(0, --count));
  return { count, payload, fits: fits && payload.length <= maxPayload };
}
