/**
 * Payload decoders for plain CoAP points: text, JSON, CBOR, SenML JSON/CBOR (RFC 8428) → one
 * value. Pure and total: bad payloads return `{ ok: false, reason }`.
 */
import { decodeCbor, decodeSenmlCbor, decodeSenmlJson, resolveSenml, SENML_ANY_NAME, type CborValue } from "../codecs/index.js";
import type { CodecResult } from "../lwm2m/value.js";

export type DecoderName = "text" | "json" | "cbor" | "senml-json" | "senml-cbor";

function plain(v: CborValue): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v !== null && typeof v === "object" && "tag" in v && !(v instanceof Map)) return plain(v.value); // semantic tags do not change the value
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  return v;
}

function pick(doc: unknown, field: string | undefined): CodecResult<unknown> {
  if (!field) return { ok: true, value: doc };
  let cur: unknown = doc;
  for (const k of field.split(".")) {
    if (cur === null || typeof cur !== "object") return { ok: false, reason: `no field ${field}` };
    cur = Array.isArray(cur) ? cur[Number(k)] : (cur as Record<string, unknown>)[k];
    if (cur === undefined) return { ok: false, reason: `no field ${field}` };
  }
  return { ok: true, value: cur };
}

export function decodePoint(decoder: DecoderName, bytes: Uint8Array, field?: string): CodecResult<unknown> {
  const text = () => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return undefined;
    }
  };
  switch (decoder) {
    case "text": {
      const s = text();
      if (s === undefined) return { ok: false, reason: "payload is not UTF-8" };
      const t = s.trim();
      return { ok: true, value: t !== "" && Number.isFinite(Number(t)) ? Number(t) : s };
    }
    case "json": {
      const s = text();
      if (s === undefined) return { ok: false, reason: "payload is not UTF-8" };
      try {
        return pick(JSON.parse(s) as unknown, field);
      } catch (e) {
        return { ok: false, reason: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
      }
    }
    case "cbor": {
      const d = decodeCbor(bytes);
      return d.ok ? pick(plain(d.value), field) : d;
    }
    case "senml-json":
    case "senml-cbor": {
      const d = decoder === "senml-json" ? decodeSenmlJson(bytes, { allowEmpty: true }) : decodeSenmlCbor(bytes, { allowEmpty: true });
      if (!d.ok) return d;
      const r = resolveSenml(d.value, { names: SENML_ANY_NAME, valueless: true });
      if (!r.ok) return r;
      const rec = field ? r.value.find((x) => x.n === field || x.n.endsWith(field)) : r.value[0];
      const value = rec && (rec.v ?? rec.vs ?? rec.vb ?? rec.vd);
      if (value === undefined) return { ok: false, reason: field ? `no SenML record ${field}` : "empty SenML pack" };
      return { ok: true, value: value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value };
    }
  }
}
