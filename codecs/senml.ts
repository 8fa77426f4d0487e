/**
 * SenML (RFC 8428): the JSON (§5, content format 110) and CBOR (§6, content format 112)
 * representations of a Pack, and resolution of a Pack into resolved Records (§4.6). Shared by the
 * MQTT payload decoder, the LwM2M content formats (OMA-TS-LightweightM2M-Core §7.4.4/7.4.5: names
 * are LwM2M paths, `vlo` carries an Objlnk) and CoAP points. Pure: no I/O, no clock ("now" is a
 * parameter).
 *
 * Decoding is total: malformed input returns a core `Failure` (its `offset` is the record number
 * where the problem is), never throws.
 * Unknown fields are kept in `extra` and otherwise ignored (§4.4), so LwM2M's `vlo` travels there;
 * a field whose label ends in "_" is a must-understand extension this codec does not know, so the
 * Pack is refused (§4.4). In CBOR, unknown integer labels are ignored: Table 4 is conclusive and
 * extensions use text labels (§6).
 */
import { fail as failure, ok, type Failure, type Result } from "../core/index.js";
import { decodeCbor, encodeCbor, type CborMap, type CborValue } from "./cbor.js";

/** The SenML version this codec understands (§4.1: the default Base Version is 10). */
export const SENML_VERSION = 10;

/** Extension values a SenML Record may carry besides the fields of RFC 8428 Table 1. */
export type SenmlExtraValue = string | number | boolean | Uint8Array;

/** The fields a Record keeps after resolution (§4.6), as on the wire. */
interface SenmlValueFields {
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  s?: number;
  ut?: number;
  /** Labels this codec does not define (e.g. LwM2M's "vlo"), by their JSON label or CBOR text key. */
  extra?: Record<string, SenmlExtraValue>;
}

/** One SenML Record as written on the wire (base fields not applied). */
export interface SenmlRecord extends SenmlValueFields {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bs?: number;
  bver?: number;
  n?: string;
  t?: number;
}

/** A Record after §4.6 resolution: full name, absolute time (s since the epoch), no base fields. */
export interface ResolvedSenmlRecord extends SenmlValueFields {
  n: string;
  t: number;
}

/**
 * A Record resolved without a clock: `t` is present only when the Pack carried a time (`bt` or
 * `t`), and a relative time (§4.5.3) stays relative.
 */
export interface UnclockedSenmlRecord extends SenmlValueFields {
  n: string;
  t?: number;
}

export type SenmlErrorCode =
  | "E_SENML_SYNTAX" // not JSON / not CBOR
  | "E_SENML_SHAPE" // not an array of records (maps), or an empty Pack
  | "E_SENML_FIELD" // a field of the wrong type, or a non-finite number
  | "E_SENML_MUST_UNDERSTAND" // a label ending in "_"
  | "E_SENML_VERSION" // bver larger than 10, or mixed versions
  | "E_SENML_NAME" // empty or invalid concatenated name
  | "E_SENML_VALUE"; // no value (and no sum), or several value fields


export interface SenmlDecodeOptions {
  /**
   * Accept a Pack with no Records. §11 (CDDL `1* record`) asks for at least one; LwM2M peers send
   * `[]` for an object with no instances. Default false.
   */
  allowEmpty?: boolean;
}

type FieldKind = "string" | "number" | "boolean" | "bytes" | "uint";
const FIELDS: Record<string, FieldKind> = {
  bn: "string", bt: "number", bu: "string", bv: "number", bs: "number", bver: "uint",
  n: "string", u: "string", v: "number", vs: "string", vb: "boolean", vd: "bytes", s: "number", t: "number", ut: "number",
};
/** RFC 8428 §6 Table 4: CBOR integer labels (conclusive). */
const CBOR_LABELS: Record<number, keyof typeof FIELDS> = {
  [-1]: "bver", [-2]: "bn", [-3]: "bt", [-4]: "bu", [-5]: "bv", [-6]: "bs",
  0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd",
};
const LABEL_TO_CBOR: Record<string, number> = Object.fromEntries(Object.entries(CBOR_LABELS).map(([k, v]) => [v, Number(k)]));

const fail = (code: SenmlErrorCode, reason: string, record?: number): Failure<SenmlErrorCode> => failure(code, reason, record);

/** RFC 4648 §5 base64url (the JSON form of "vd", §5): written without padding, read with or without. */
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
export function base64urlEncode(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    const chars = i + 2 < b.length ? 4 : i + 1 < b.length ? 3 : 2;
    for (let j = 0; j < chars; j++) s += B64URL[(n >> (18 - 6 * j)) & 63];
  }
  return s;
}
export function base64urlDecode(text: string): Uint8Array | undefined {
  const s = /^[A-Za-z0-9_-]*={1,2}$/.test(text) && text.length % 4 === 0 ? text.replace(/=+$/, "") : text;
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const c = [0, 1, 2, 3].map((j) => (i + j < s.length ? B64URL.indexOf(s[i + j]!) : 0));
    const n = (c[0]! << 18) | (c[1]! << 12) | (c[2]! << 6) | c[3]!;
    const take = Math.min(3, out.length - o);
    for (let j = 0; j < take; j++) out[o++] = (n >> (16 - 8 * j)) & 0xff;
  }
  return out;
}

/** Check one field's value and store it on the record. Returns an error reason or undefined. */
function setField(rec: SenmlRecord, label: string, raw: unknown, json: boolean): string | undefined {
  const kind = FIELDS[label];
  if (kind === undefined) {
    if (label.endsWith("_")) return `must-understand field "${label}" is not supported`;
    if (typeof raw === "string" || typeof raw === "boolean" || (typeof raw === "number" && Number.isFinite(raw)) || raw instanceof Uint8Array) {
      (rec.extra ??= {})[label] = raw;
    }
    return undefined; // §4.4: ignore what we do not recognise
  }
  switch (kind) {
    case "string":
      if (typeof raw !== "string") return `"${label}" must be a string`;
      break;
    case "boolean":
      if (typeof raw !== "boolean") return `"${label}" must be a boolean`;
      break;
    case "number":
      if (typeof raw !== "number" || !Number.isFinite(raw)) return `"${label}" must be a finite number`;
      break;
    case "uint":
      if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0) return `"${label}" must be an unsigned integer`;
      break;
    case "bytes":
      if (json) {
        if (typeof raw !== "string") return `"vd" must be a base64url string`;
        const b = base64urlDecode(raw);
        if (!b) return `"vd" is not valid base64url`;
        rec.vd = b;
        return undefined;
      }
      if (!(raw instanceof Uint8Array)) return `"vd" must be a byte string`;
      break;
  }
  (rec as Record<string, unknown>)[label] = raw;
  return undefined;
}

function fieldFailure(label: string, why: string, i: number): Failure<SenmlErrorCode> {
  return fail(label.endsWith("_") && !(label in FIELDS) ? "E_SENML_MUST_UNDERSTAND" : "E_SENML_FIELD", `record ${i}: ${why}`, i);
}

/** Decode the JSON representation (§5): an array of objects. */
export function decodeSenmlJson(input: string | Uint8Array, opts: SenmlDecodeOptions = {}): Result<SenmlRecord[], SenmlErrorCode> {
  let text: string;
  if (typeof input === "string") text = input;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      return fail("E_SENML_SYNTAX", "payload is not valid UTF-8 (§5: only UTF-8 JSON is allowed)");
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail("E_SENML_SYNTAX", `not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!Array.isArray(doc)) return fail("E_SENML_SHAPE", "a SenML Pack is a JSON array of records");
  if (doc.length === 0 && !opts.allowEmpty) return fail("E_SENML_SHAPE", "a SenML Pack has at least one record");
  const out: SenmlRecord[] = [];
  for (let i = 0; i < doc.length; i++) {
    const r: unknown = doc[i];
    if (r === null || typeof r !== "object" || Array.isArray(r)) return fail("E_SENML_SHAPE", `record ${i} is not a JSON object`, i);
    const rec: SenmlRecord = {};
    for (const [k, v] of Object.entries(r)) {
      const why = setField(rec, k, v, true);
      if (why) return fieldFailure(k, why, i);
    }
    out.push(rec);
  }
  return ok(out);
}

/** A CBOR numeric: integer, bigint, float, or decimal fraction (tag 4, [exponent, mantissa]). */
function cborNumber(v: CborValue): CborValue {
  if (typeof v === "bigint") return Number(v);
  if (isTagged(v) && v.tag === 4) {
    const a = v.value;
    if (Array.isArray(a) && a.length === 2) {
      const [e, m] = a.map((x) => (typeof x === "bigint" ? Number(x) : x));
      if (typeof e === "number" && typeof m === "number" && Number.isInteger(e) && Number.isInteger(m)) return Number(`${m}e${e}`);
    }
  }
  return v;
}

function isTagged(v: CborValue): v is { tag: number; value: CborValue } {
  return v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !(v instanceof Map) && !Array.isArray(v);
}

/** Other semantic tags (e.g. 32, URI, on a string) do not change a field's value: read through them. */
function untag(v: CborValue): CborValue {
  let x = v;
  while (isTagged(x)) x = x.value;
  return x;
}

/** Decode the CBOR representation (§6): an array (definite or indefinite) of maps with integer labels. */
export function decodeSenmlCbor(bytes: Uint8Array, opts: SenmlDecodeOptions = {}): Result<SenmlRecord[], SenmlErrorCode> {
  const r = decodeCbor(bytes);
  if (!r.ok) return fail("E_SENML_SYNTAX", `not CBOR: ${r.reason} at byte ${r.offset}`);
  const doc = r.value;
  if (!Array.isArray(doc)) return fail("E_SENML_SHAPE", "a SenML Pack is a CBOR array of maps");
  if (doc.length === 0 && !opts.allowEmpty) return fail("E_SENML_SHAPE", "a SenML Pack has at least one record");
  const out: SenmlRecord[] = [];
  for (let i = 0; i < doc.length; i++) {
    const m = doc[i];
    if (!(m instanceof Map)) return fail("E_SENML_SHAPE", `record ${i} is not a CBOR map`, i);
    const rec: SenmlRecord = {};
    for (const [k, raw] of m as CborMap) {
      let label: string;
      if (typeof k === "number") {
        const l = CBOR_LABELS[k];
        if (l === undefined) continue; // Table 4 is conclusive; unknown integer labels are ignored
        label = l;
      } else if (typeof k === "string") {
        label = k;
      } else {
        return fail("E_SENML_FIELD", `record ${i}: a map key is neither an integer nor a text string`, i);
      }
      const v = untag(FIELDS[label] === "number" || FIELDS[label] === "uint" ? cborNumber(raw) : raw);
      const why = setField(rec, label, v, false);
      if (why) return fieldFailure(label, why, i);
    }
    out.push(rec);
  }
  return ok(out);
}

/** §4.5.1: the default rule for concatenated names. */
export const SENML_NAME = /^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/;
/** Any non-empty name, for callers that check names themselves (LwM2M paths, CoAP point fields). */
export const SENML_ANY_NAME = /^[\s\S]+$/;
/** §4.5.3: times below 2**28 are relative to "now". */
export const SENML_RELATIVE_TIME_LIMIT = 2 ** 28;

export interface ResolveOptions {
  /**
   * "Now" in seconds since the epoch. With it, relative times (§4.5.3) become absolute and every
   * record gets a time. Without it, `t` is present only when the Pack carried one, and stays as sent.
   */
  now?: number;
  /** Sort the resolved records chronologically (§4.6); stable. Default: true when `now` is given. */
  sort?: boolean;
  /** The rule for concatenated names; default SENML_NAME (§4.5.1). LwM2M names such as "/3/0/0" start with "/". */
  names?: RegExp;
  /** Accept records with neither value nor sum (LwM2M read lists name resources only). Default false. */
  valueless?: boolean;
}

/** Apply base fields and relative times (§4.6). */
export function resolveSenml(pack: SenmlRecord[], opts: ResolveOptions & { now: number }): Result<ResolvedSenmlRecord[], SenmlErrorCode>;
export function resolveSenml(pack: SenmlRecord[], opts?: ResolveOptions): Result<UnclockedSenmlRecord[], SenmlErrorCode>;
export function resolveSenml(pack: SenmlRecord[], opts: ResolveOptions = {}): Result<UnclockedSenmlRecord[], SenmlErrorCode> {
  let bn = "";
  let bt: number | undefined;
  let bu: string | undefined;
  let bv: number | undefined;
  let bs: number | undefined;
  let version: number | undefined;
  const out: UnclockedSenmlRecord[] = [];
  for (let i = 0; i < pack.length; i++) {
    const r = pack[i]!;
    if (r.bver !== undefined) {
      if (r.bver > SENML_VERSION) return fail("E_SENML_VERSION", `record ${i}: version ${r.bver} is newer than ${SENML_VERSION}`, i);
      if (version !== undefined && version !== r.bver) return fail("E_SENML_VERSION", `record ${i}: version ${r.bver} differs from ${version} earlier in the pack (§4.4)`, i);
      version = r.bver;
    }
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    if (r.bs !== undefined) bs = r.bs;
    const n = bn + (r.n ?? "");
    if (!(opts.names ?? SENML_NAME).test(n)) return fail("E_SENML_NAME", `record ${i}: name ${JSON.stringify(n)} is empty or not allowed (§4.5.1: A-Z a-z 0-9 - : . / _, starting with a letter or digit)`, i);
    const values = (["v", "vs", "vb", "vd"] as const).filter((k) => r[k] !== undefined);
    if (values.length > 1) return fail("E_SENML_VALUE", `record ${i}: more than one value field (${values.join(", ")})`, i);
    const hasSum = r.s !== undefined || bs !== undefined;
    if (values.length === 0 && !hasSum && bv === undefined && !opts.valueless) return fail("E_SENML_VALUE", `record ${i}: no value and no sum`, i);
    const res: UnclockedSenmlRecord = { n };
    if (opts.now !== undefined) {
      const t = (bt ?? 0) + (r.t ?? 0);
      res.t = t < SENML_RELATIVE_TIME_LIMIT ? opts.now + t : t;
    } else if (bt !== undefined || r.t !== undefined) {
      res.t = (bt ?? 0) + (r.t ?? 0);
    }
    const u = r.u ?? bu;
    if (u !== undefined) res.u = u;
    if (r.v !== undefined || (values.length === 0 && bv !== undefined)) res.v = (bv ?? 0) + (r.v ?? 0);
    if (r.vs !== undefined) res.vs = r.vs;
    if (r.vb !== undefined) res.vb = r.vb;
    if (r.vd !== undefined) res.vd = r.vd;
    if (hasSum) res.s = (bs ?? 0) + (r.s ?? 0);
    if (r.ut !== undefined) res.ut = r.ut;
    if (r.extra) res.extra = { ...r.extra };
    out.push(res);
  }
  if (opts.sort ?? opts.now !== undefined) out.sort((a, b) => (a.t ?? 0) - (b.t ?? 0));
  return ok(out);
}

const ORDER = ["bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"] as const;

function fieldsOf(r: SenmlRecord | UnclockedSenmlRecord): [string, SenmlExtraValue][] {
  // Keep the record's own key order (it decides the bytes), extensions last.
  const own = Object.keys(r).filter((k) => k !== "extra" && (r as Record<string, unknown>)[k] !== undefined);
  const keys = own.length ? own : ORDER.filter((k) => (r as SenmlRecord)[k] !== undefined);
  const out: [string, SenmlExtraValue][] = keys.map((k) => [k, (r as Record<string, SenmlExtraValue>)[k]!]);
  for (const [k, v] of Object.entries(r.extra ?? {})) out.push([k, v]);
  return out;
}

/** Encode the JSON representation (§5), fields in the record's own order. */
export function encodeSenmlJson(pack: (SenmlRecord | UnclockedSenmlRecord)[]): string {
  return JSON.stringify(pack.map((r) => Object.fromEntries(fieldsOf(r).map(([k, v]) => [k, v instanceof Uint8Array ? base64urlEncode(v) : v]))));
}

/** Encode the CBOR representation (§6) with integer labels and preferred serialization. */
export function encodeSenmlCbor(pack: (SenmlRecord | UnclockedSenmlRecord)[]): Uint8Array {
  return encodeCbor(pack.map((r) => new Map<CborValue, CborValue>(fieldsOf(r).map(([k, v]) => [LABEL_TO_CBOR[k] ?? k, v]))));
}
