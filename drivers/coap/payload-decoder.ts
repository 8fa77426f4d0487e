/**
 * Payload decoders for plain CoAP points: text, JSON, CBOR, SenML JSON/CBOR (RFC 8428) → one
 * value. Pure and total: a bad payload ends in a Failure with a stable code (E_COAP_PAYLOAD, or the
 * CBOR/SenML codec's own).
 */
import { fail, ok, type ErrorCode, type Result } from "../../core/index.js";
import { decodeCbor, decodeSenmlCbor, decodeSenmlJson, resolveSenml, SENML_ANY_NAME, type CborValue } from "../../codecs/index.js";

export type DecoderName = "text" | "json" | "cbor" | "senml-json" | "senml-cbor";

function plain(v: CborValue): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v !== null && typeof v === "object" && "tag" in v && !(v instanceof Map)) return plain(v.value); // semantic tags do not change the value
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  return v;
}

function pick(doc: unknown, field: string | undefined): Result<unknown, ErrorCode> {
  if (!field) return ok(doc);
  let cur: unknown = doc;
  for (const k of field.split(".")) {
    if (cur === null || typeof cur !== "object") return fail("E_COAP_PAYLOAD", `no field ${field}`);
    cur = Array.isArray(cur) ? cur[Number(k)] : (cur as Record<string, unknown>)[k];
    if (cur === undefined) return fail("E_COAP_PAYLOAD", `no field ${field}`);
  }
  return ok(cur);
}

export function decodePoint(decoder: DecoderName, bytes: Uint8Array, field?: string): Result<unknown, ErrorCode> {
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
      if (s === undefined) return fail("E_COAP_PAYLOAD", "payload is not UTF-8");
      const t = s.trim();
      return ok(t !== "" && Number.isFinite(Number(t)) ? Number(t) : s);
    }
    case "json": {
      const s = text();
      if (s === undefined) return fail("E_COAP_PAYLOAD", "payload is not UTF-8");
      try {
        return pick(JSON.parse(s) as unknown, field);
      } catch (e) {
        return fail("E_COAP_PAYLOAD", `not JSON: ${e instanceof Error ? e.message : String(e)}`);
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
      if (value === undefined) return fail("E_COAP_PAYLOAD", field ? `no SenML record ${field}` : "empty SenML pack");
      return ok(value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value);
    }
  }
}
