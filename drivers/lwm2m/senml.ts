/**
 * SenML (RFC 8428) in JSON (content format 110, §5) and CBOR (112, §6), as LwM2M 1.1 uses them
 * (OMA-TS-LightweightM2M-Core §7.4.4/7.4.5: names are LwM2M paths, `vlo` carries an Objlnk).
 * Pure and total: hostile input returns `{ ok: false, reason }`.
 */
import { decodeCbor, encodeCbor, type CborValue } from "./cbor.js";
import { isObjectLink, parsePath, type CodecResult, type Lwm2mValue, type ResourceValue, type TypeOf } from "./value.js";

export interface SenmlRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bs?: number;
  bver?: number;
  n?: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: Uint8Array;
  /** LwM2M Objlnk as "objectId:instanceId" */
  vlo?: string;
  s?: number;
  t?: number;
  ut?: number;
}

export interface ResolvedRecord {
  name: string;
  time?: number;
  unit?: string;
  value?: number | string | boolean | Uint8Array;
  vlo?: string;
  sum?: number;
}

type Field = keyof SenmlRecord;
const NUMBER_FIELDS: Field[] = ["bt", "bv", "bs", "bver", "v", "s", "t", "ut"];
const STRING_FIELDS: Field[] = ["bn", "bu", "n", "u", "vs", "vlo"];

/** RFC 8428 §6, Table 6: CBOR labels. */
export const SENML_CBOR_LABELS: Record<number, Field> = { [-1]: "bver", [-2]: "bn", [-3]: "bt", [-4]: "bu", [-5]: "bv", [-6]: "bs", 0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd" };
const CBOR_LABEL_OF: Record<string, number | string> = Object.fromEntries(Object.entries(SENML_CBOR_LABELS).map(([k, v]) => [v, Number(k)]));
CBOR_LABEL_OF.vlo = "vlo";

function checkRecord(raw: Record<string, unknown>, index: number, vdFromString: boolean): CodecResult<SenmlRecord> {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (NUMBER_FIELDS.includes(k as Field)) {
      if (typeof v !== "number" || !Number.isFinite(v)) return { ok: false, reason: `record ${index}: ${k} must be a number` };
      r[k] = v;
    } else if (STRING_FIELDS.includes(k as Field)) {
      if (typeof v !== "string") return { ok: false, reason: `record ${index}: ${k} must be a string` };
      r[k] = v;
    } else if (k === "vb") {
      if (typeof v !== "boolean") return { ok: false, reason: `record ${index}: vb must be a boolean` };
      r[k] = v;
    } else if (k === "vd") {
      if (vdFromString) {
        if (typeof v !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(v)) return { ok: false, reason: `record ${index}: vd must be base64url` };
        r[k] = new Uint8Array(Buffer.from(v.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
      } else {
        if (!(v instanceof Uint8Array)) return { ok: false, reason: `record ${index}: vd must be a byte string` };
        r[k] = v;
      }
    } else if (k.endsWith("_")) {
      // §4.4: labels ending in "_" are must-understand.
      return { ok: false, reason: `record ${index}: must-understand field ${k} is not supported` };
    }
  }
  const rec = r as SenmlRecord;
  const values = [rec.v, rec.vs, rec.vb, rec.vd, rec.vlo].filter((x) => x !== undefined).length;
  if (values > 1) return { ok: false, reason: `record ${index}: more than one value field` };
  return { ok: true, value: rec };
}

export function decodeSenmlJson(bytes: Uint8Array): CodecResult<SenmlRecord[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    return { ok: false, reason: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!Array.isArray(doc)) return { ok: false, reason: "a SenML pack is a JSON array" };
  const out: SenmlRecord[] = [];
  for (let i = 0; i < doc.length; i++) {
    const raw: unknown = doc[i];
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, reason: `record ${i} is not an object` };
    const r = checkRecord(raw as Record<string, unknown>, i, true);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return { ok: true, value: out };
}

export function encodeSenmlJson(records: SenmlRecord[]): Uint8Array {
  const json = records.map((r) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      if (v === undefined) continue;
      o[k] = v instanceof Uint8Array ? Buffer.from(v).toString("base64url") : v;
    }
    return o;
  });
  return new TextEncoder().encode(JSON.stringify(json));
}

export function decodeSenmlCbor(bytes: Uint8Array): CodecResult<SenmlRecord[]> {
  const doc = decodeCbor(bytes);
  if (!doc.ok) return doc;
  if (!Array.isArray(doc.value)) return { ok: false, reason: "a SenML pack is a CBOR array" };
  const out: SenmlRecord[] = [];
  for (let i = 0; i < doc.value.length; i++) {
    const m: CborValue = doc.value[i];
    if (!(m instanceof Map)) return { ok: false, reason: `record ${i} is not a map` };
    const raw: Record<string, unknown> = {};
    for (const [k, v] of m) {
      const name = typeof k === "number" ? SENML_CBOR_LABELS[k] : typeof k === "string" ? k : undefined;
      if (name === undefined) {
        if (typeof k === "number" && k < 0 && k <= -256) return { ok: false, reason: `record ${i}: unknown must-understand label ${k}` };
        continue;
      }
      raw[name] = v;
    }
    const r = checkRecord(raw, i, false);
    if (!r.ok) return r;
    out.push(r.value);
  }
  return { ok: true, value: out };
}

export function encodeSenmlCbor(records: SenmlRecord[]): Uint8Array {
  return encodeCbor(
    records.map((r) => {
      const m = new Map<CborValue, CborValue>();
      for (const [k, v] of Object.entries(r)) if (v !== undefined) m.set(CBOR_LABEL_OF[k] ?? k, v as CborValue);
      return m;
    }),
  );
}

/**
 * RFC 8428 §4.6 resolution: base name/time/unit/value carried forward, times below 2^28 relative
 * to `now` (seconds). Records without a value (e.g. a read request list) keep only a name.
 */
export function resolveSenml(records: SenmlRecord[], nowSeconds?: number): CodecResult<ResolvedRecord[]> {
  let bn = "";
  let bt = 0;
  let bu: string | undefined;
  let bv: number | undefined;
  let bs: number | undefined;
  const out: ResolvedRecord[] = [];
  for (const [i, r] of records.entries()) {
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    if (r.bs !== undefined) bs = r.bs;
    const name = bn + (r.n ?? "");
    if (name.length === 0) return { ok: false, reason: `record ${i} has no name` };
    const res: ResolvedRecord = { name };
    const t = bt + (r.t ?? 0);
    if (r.t !== undefined || r.bt !== undefined || bt !== 0) res.time = t < 2 ** 28 && nowSeconds !== undefined ? nowSeconds + t : t;
    const unit = r.u ?? bu;
    if (unit !== undefined) res.unit = unit;
    if (r.v !== undefined || (bv !== undefined && r.vs === undefined && r.vb === undefined && r.vd === undefined && r.vlo === undefined)) res.value = (bv ?? 0) + (r.v ?? 0);
    else if (r.vs !== undefined) res.value = r.vs;
    else if (r.vb !== undefined) res.value = r.vb;
    else if (r.vd !== undefined) res.value = r.vd;
    if (r.vlo !== undefined) res.vlo = r.vlo;
    if (r.s !== undefined || bs !== undefined) res.sum = (bs ?? 0) + (r.s ?? 0);
    out.push(res);
  }
  return { ok: true, value: out };
}

export function senmlToValues(records: SenmlRecord[], typeOf: TypeOf, nowSeconds?: number): CodecResult<ResourceValue[]> {
  const resolved = resolveSenml(records, nowSeconds);
  if (!resolved.ok) return resolved;
  const out: ResourceValue[] = [];
  for (const r of resolved.value) {
    const ids = parsePath(r.name);
    if (!ids || ids.length < 3) return { ok: false, reason: `SenML name ${JSON.stringify(r.name)} is not a resource path` };
    let value: Lwm2mValue | undefined = r.value;
    if (r.vlo !== undefined) {
      const m = /^(\d{1,5}):(\d{1,5})$/.exec(r.vlo);
      if (!m) return { ok: false, reason: `vlo ${JSON.stringify(r.vlo)} is not objectId:instanceId` };
      value = { objectId: Number(m[1]), instanceId: Number(m[2]) };
    }
    if (value === undefined) continue;
    const type = typeOf("/" + ids.slice(0, 3).join("/"));
    if ((type === "integer" || type === "unsignedInteger" || type === "time") && typeof value === "number" && !Number.isInteger(value)) {
      return { ok: false, reason: `${r.name}: ${value} is not an integer` };
    }
    out.push(r.time !== undefined ? { path: r.name, value, time: r.time } : { path: r.name, value });
  }
  return { ok: true, value: out };
}

export function valuesToSenml(values: ResourceValue[]): SenmlRecord[] {
  return values.map((v) => {
    const r: SenmlRecord = { n: v.path };
    const x = v.value;
    if (typeof x === "number") r.v = x;
    else if (typeof x === "string") r.vs = x;
    else if (typeof x === "boolean") r.vb = x;
    else if (x instanceof Uint8Array) r.vd = x;
    else if (isObjectLink(x)) r.vlo = `${x.objectId}:${x.instanceId}`;
    if (v.time !== undefined) r.t = v.time;
    return r;
  });
}
