/**
 * Payload decoders: bytes of one MQTT message → readings. Pure (no I/O, "now" is a parameter),
 * total: hostile input gives a Failure (E_MQTT_PAYLOAD, or the SenML codec's own code).
 *
 * - json: one JSON object; its `id` (string) and `ts` (ms since the epoch, or an ISO date) become
 *   the event id and time, the rest is the payload.
 * - senml-json / senml-cbor (RFC 8428): the pack is resolved; records at the same time form one
 *   reading whose payload keys are the record names relative to the pack's base name.
 * - number: an ASCII decimal number → `{ value: n }`.
 * - auto: sniff the first byte: '[' SenML JSON, '{' JSON, a CBOR array head SenML CBOR, else number.
 */
import type { PayloadFormat } from "./config.js";
import { base64urlEncode, decodeSenmlCbor, decodeSenmlJson, resolveSenml, type ResolvedSenmlRecord, type SenmlErrorCode, type SenmlRecord } from "../../codecs/index.js";
import { fail, ok, setOwn, type ErrorCode, type Result } from "../../core/index.js";

export interface Reading {
  /** The message's own id, when it carries one. */
  id?: string;
  /** Event time in ms since the epoch. */
  ts: number;
  payload: Record<string, unknown>;
  meta?: Record<string, string>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const MAX_JSON_DEPTH = 32;

function depthOk(v: unknown, d = 0): boolean {
  if (d > MAX_JSON_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x) => depthOk(x, d + 1));
  if (v !== null && typeof v === "object") return Object.values(v).every((x) => depthOk(x, d + 1));
  return true;
}

export function sniffFormat(bytes: Uint8Array): Exclude<PayloadFormat, "auto"> {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  const b = bytes[i];
  if (b === 0x5b) return "senml-json"; // '['
  if (b === 0x7b) return "json"; // '{'
  if (i === 0 && b !== undefined && b >> 5 === 4) return "senml-cbor"; // CBOR major type 4 (array)
  return "number";
}

export function decodePayload(format: PayloadFormat, bytes: Uint8Array, nowMs: number): Result<Reading[], ErrorCode> {
  const f = format === "auto" ? sniffFormat(bytes) : format;
  switch (f) {
    case "json":
      return decodeJson(bytes, nowMs);
    case "number":
      return decodeNumber(bytes, nowMs);
    case "senml-json":
      return fromSenml(decodeSenmlJson(bytes), nowMs);
    case "senml-cbor":
      return fromSenml(decodeSenmlCbor(bytes), nowMs);
  }
}

function decodeJson(bytes: Uint8Array, nowMs: number): Result<Reading[], ErrorCode> {
  let v: unknown;
  try {
    v = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    return fail("E_MQTT_PAYLOAD", `not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return fail("E_MQTT_PAYLOAD", "a JSON payload must be an object");
  if (!depthOk(v)) return fail("E_MQTT_PAYLOAD", `JSON nested deeper than ${MAX_JSON_DEPTH}`);
  const { id, ts, ...payload } = v as Record<string, unknown>;
  const r: Reading = { ts: nowMs, payload };
  if (id !== undefined) {
    if (typeof id !== "string" || id.length === 0 || id.length > 200) return fail("E_MQTT_PAYLOAD", '"id" must be a non-empty string of at most 200 characters');
    r.id = id;
  }
  if (ts !== undefined) {
    const t = typeof ts === "number" ? ts : typeof ts === "string" ? Date.parse(ts) : NaN;
    if (!Number.isFinite(t) || t < 0) return fail("E_MQTT_PAYLOAD", '"ts" must be ms since the epoch or an ISO 8601 date');
    r.ts = t;
  }
  return ok([r]);
}

function decodeNumber(bytes: Uint8Array, nowMs: number): Result<Reading[], ErrorCode> {
  let s: string;
  try {
    s = utf8.decode(bytes).trim();
  } catch {
    return fail("E_MQTT_PAYLOAD", "not UTF-8 text");
  }
  if (s.length > 64 || !NUMBER.test(s)) return fail("E_MQTT_PAYLOAD", `not a number: ${JSON.stringify(s.slice(0, 32))}`);
  const n = Number(s);
  if (!Number.isFinite(n)) return fail("E_MQTT_PAYLOAD", "number out of range");
  return ok([{ ts: nowMs, payload: { value: n } }]);
}

function valueOf(r: ResolvedSenmlRecord): unknown {
  if (r.v !== undefined) return r.v;
  if (r.vs !== undefined) return r.vs;
  if (r.vb !== undefined) return r.vb;
  if (r.vd !== undefined) return base64urlEncode(r.vd);
  return r.s;
}

function fromSenml(d: Result<SenmlRecord[], SenmlErrorCode>, nowMs: number): Result<Reading[], ErrorCode> {
  if (!d.ok) return d;
  const r = resolveSenml(d.value, { now: nowMs / 1000 });
  if (!r.ok) return r;
  const bn = d.value[0]?.bn ?? "";
  const readings: Reading[] = [];
  let cur: Reading | undefined;
  for (const rec of r.value) {
    const ts = Math.round(rec.t * 1000);
    // the key: the name relative to the first base name, else the unit, else "value"
    let key = rec.n.startsWith(bn) ? rec.n.slice(bn.length) : rec.n;
    if (key === "") key = rec.u ?? "value";
    if (!cur || cur.ts !== ts || Object.hasOwn(cur.payload, key)) {
      cur = { ts, payload: {}, meta: { format: "senml" } };
      if (bn) cur.meta!.bn = bn;
      readings.push(cur);
    }
    setOwn(cur.payload, key, valueOf(rec));
    if (rec.u !== undefined && key !== rec.u) cur.meta![`unit.${key}`] = rec.u;
    if (rec.s !== undefined && rec.v !== undefined) setOwn(cur.payload, `${key}.sum`, rec.s);
  }
  return ok(readings);
}
