/**
 * Content-format dispatch for LwM2M payloads (OMA-TS-LightweightM2M-Core §7.4; CoAP registry
 * numbers): decode anything a device sends into resource values, encode writes in a format the
 * device accepts. Pure.
 */
import { decodeLwm2mJson, encodeLwm2mJson } from "./lwm2m-json.js";
import { decodeSenmlCbor, decodeSenmlJson, encodeSenmlCbor, encodeSenmlJson } from "../../codecs/index.js";
import { LWM2M_SENML_DECODE, senmlToValues, valuesToSenml } from "./senml-values.js";
import { decodeTlv, tlvToValues, valuesToTlv } from "./tlv.js";
import { fail, ok, type ErrorCode, type Result } from "../../core/index.js";
import { isObjectLink, parsePath, type Lwm2mValue, type ResourceValue, type TypeOf } from "./value.js";

export const ContentFormat = {
  text: 0,
  linkFormat: 40,
  opaque: 42,
  cbor: 60,
  senmlJson: 110,
  senmlCbor: 112,
  tlv: 11542,
  lwm2mJson: 11543,
  /** pre-registration numbers some LwM2M 1.0 clients still send */
  legacyTlv: 1542,
  legacyJson: 1543,
} as const;

export type ContentFormatName = "text" | "opaque" | "tlv" | "senml-json" | "senml-cbor" | "lwm2m-json";
export const CONTENT_FORMAT_NUMBER: Record<ContentFormatName, number> = {
  text: 0,
  opaque: 42,
  tlv: 11542,
  "senml-json": 110,
  "senml-cbor": 112,
  "lwm2m-json": 11543,
};

export function isSupportedFormat(cf: number): boolean {
  return [0, 42, 110, 112, 11542, 11543, 1542, 1543].includes(cf);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

function decodeText(bytes: Uint8Array, path: string, typeOf: TypeOf): Result<ResourceValue[], ErrorCode> {
  const ids = parsePath(path);
  if (!ids || ids.length < 3) return fail("E_LWM2M_CONTENT", `text/plain carries one resource, not ${path}`);
  let s: string;
  try {
    s = utf8.decode(bytes);
  } catch {
    return fail("E_LWM2M_CONTENT", "text/plain payload is not UTF-8");
  }
  const type = typeOf("/" + ids.slice(0, 3).join("/"));
  let value: Lwm2mValue = s;
  switch (type) {
    case "integer":
    case "unsignedInteger":
    case "time":
      if (!/^-?\d+$/.test(s.trim())) return fail("E_LWM2M_CONTENT", `${path}: ${JSON.stringify(s)} is not an integer`);
      value = Number(s.trim());
      break;
    case "float":
      if (!Number.isFinite(Number(s.trim())) || s.trim() === "") return fail("E_LWM2M_CONTENT", `${path}: ${JSON.stringify(s)} is not a number`);
      value = Number(s.trim());
      break;
    case "boolean":
      if (s !== "0" && s !== "1") return fail("E_LWM2M_CONTENT", `${path}: boolean text must be 0 or 1`);
      value = s === "1";
      break;
    case "objlnk": {
      const m = /^(\d{1,5}):(\d{1,5})$/.exec(s);
      if (!m) return fail("E_LWM2M_CONTENT", `${path}: objlnk text must be objectId:instanceId`);
      value = { objectId: Number(m[1]), instanceId: Number(m[2]) };
      break;
    }
    case "opaque":
      value = new Uint8Array(Buffer.from(s, "base64"));
      break;
    case undefined:
      // unknown object: a number when it reads as one
      if (s.trim() !== "" && Number.isFinite(Number(s))) value = Number(s);
      break;
    default:
      break;
  }
  return ok([{ path, value }]);
}

export function decodeContent(format: number | undefined, bytes: Uint8Array, path: string, typeOf: TypeOf, nowSeconds?: number): Result<ResourceValue[], ErrorCode> {
  switch (format ?? ContentFormat.text) {
    case ContentFormat.text:
      return decodeText(bytes, path, typeOf);
    case ContentFormat.opaque: {
      const ids = parsePath(path);
      if (!ids || ids.length < 3) return fail("E_LWM2M_CONTENT", `opaque carries one resource, not ${path}`);
      return ok([{ path, value: bytes.slice() }]);
    }
    case ContentFormat.tlv:
    case ContentFormat.legacyTlv: {
      const r = decodeTlv(bytes);
      if (!r.ok) return r;
      return tlvToValues(r.value, path, typeOf);
    }
    case ContentFormat.senmlJson: {
      const r = decodeSenmlJson(bytes, LWM2M_SENML_DECODE);
      return r.ok ? senmlToValues(r.value, typeOf, nowSeconds) : r;
    }
    case ContentFormat.senmlCbor: {
      const r = decodeSenmlCbor(bytes, LWM2M_SENML_DECODE);
      return r.ok ? senmlToValues(r.value, typeOf, nowSeconds) : r;
    }
    case ContentFormat.lwm2mJson:
    case ContentFormat.legacyJson:
      return decodeLwm2mJson(bytes, nowSeconds);
    default:
      return fail("E_LWM2M_CONTENT_FORMAT", `unsupported content format ${format}`);
  }
}

export function encodeContent(format: number, values: ResourceValue[], path: string, typeOf: TypeOf): Uint8Array {
  switch (format) {
    case ContentFormat.text: {
      const v = values[0]?.value;
      if (v === undefined) return new Uint8Array(0);
      if (typeof v === "boolean") return new TextEncoder().encode(v ? "1" : "0");
      if (v instanceof Uint8Array) return new TextEncoder().encode(Buffer.from(v).toString("base64"));
      if (isObjectLink(v)) return new TextEncoder().encode(`${v.objectId}:${v.instanceId}`);
      return new TextEncoder().encode(String(v));
    }
    case ContentFormat.opaque: {
      const v = values[0]?.value;
      return v instanceof Uint8Array ? v : new TextEncoder().encode(String(v ?? ""));
    }
    case ContentFormat.tlv:
    case ContentFormat.legacyTlv:
      return valuesToTlv(values, path, typeOf);
    case ContentFormat.senmlJson:
      return utf8enc.encode(encodeSenmlJson(valuesToSenml(values)));
    case ContentFormat.senmlCbor:
      return encodeSenmlCbor(valuesToSenml(values));
    case ContentFormat.lwm2mJson:
    case ContentFormat.legacyJson:
      return encodeLwm2mJson(values, path);
    default:
      return utf8enc.encode(encodeSenmlJson(valuesToSenml(values)));
  }
}
