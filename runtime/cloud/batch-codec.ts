/**
 * Uplink batch payloads. A batch is the events of one topic in queue order, each carrying its
 * stable `id` so the cloud can dedup redeliveries.
 * - `jsonl`: one JSON object per line (UTF-8, "\n" after each), cheap to build from stored rows.
 * - `cbor`:  one CBOR array (RFC 8949) of event maps.
 * Pure: no I/O. Decoding is total: hostile input gives `{ ok: false, reason }`.
 */
import type { Event } from "../../core/event.js";
import { decodeCbor, encodeCbor, type CborValue } from "../../drivers/codecs/index.js";
import { setOwn } from "../../core/own.js";

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

export type DecodedBatch = { ok: true; events: Event[] } | { ok: false; reason: string };

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
      if (!r.ok) return { ok: false, reason: `not a cbor batch: ${r.reason} at byte ${r.offset}` };
      const v = fromCbor(r.value);
      if (!Array.isArray(v)) return { ok: false, reason: "a CBOR batch is an array of events" };
      items = v;
    }
  } catch (e) {
    return { ok: false, reason: `not a ${format} batch: ${e instanceof Error ? e.message : String(e)}` };
  }
  const events: Event[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (!isEvent(it)) return { ok: false, reason: `item ${i} is not an event (id, ts, device, kind, payload)` };
    events.push(it);
  }
  return { ok: true, events };
}
