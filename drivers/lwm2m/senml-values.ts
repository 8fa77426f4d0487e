/**
 * SenML Packs ↔ LwM2M resource values (OMA-TS-LightweightM2M-Core §7.4.4/7.4.5): names are LwM2M
 * paths, `vlo` (kept by the shared codec in `extra`) carries an Objlnk as "objectId:instanceId".
 * The RFC 8428 codec itself lives in codecs/.
 */
import { fail, ok, type ErrorCode, type Failure, type Result } from "../../core/index.js";
import { resolveSenml, SENML_ANY_NAME, SENML_RELATIVE_TIME_LIMIT, type SenmlRecord } from "../../codecs/index.js";
import { isObjectLink, parsePath, type Lwm2mValue, type ResourceValue, type TypeOf } from "./value.js";

/** LwM2M peers send `[]` for an object without instances. */
export const LWM2M_SENML_DECODE = { allowEmpty: true } as const;

/** An Objlnk is a value of its own: a record with `vlo` and another value field is refused. */
function vloConflict(records: SenmlRecord[]): Failure<ErrorCode> | undefined {
  const i = records.findIndex((r) => r.extra?.vlo !== undefined && (r.v ?? r.vs ?? r.vb ?? r.vd) !== undefined);
  return i < 0 ? undefined : fail("E_SENML_VALUE", `record ${i}: more than one value field (vlo and another)`, i);
}

/**
 * Resolve (RFC 8428 §4.6) and map to resource values. Records without a value (a read list) are
 * skipped; a value keeps a time only when the device sent one, relative times (§4.5.3) taken
 * against `nowSeconds` when given.
 */
export function senmlToValues(records: SenmlRecord[], typeOf: TypeOf, nowSeconds?: number): Result<ResourceValue[], ErrorCode> {
  const conflict = vloConflict(records);
  if (conflict) return conflict;
  const resolved = resolveSenml(records, { names: SENML_ANY_NAME, valueless: true });
  if (!resolved.ok) return resolved;
  const out: ResourceValue[] = [];
  for (const r of resolved.value) {
    const ids = parsePath(r.n);
    if (!ids || ids.length < 3) return fail("E_SENML_NAME", `SenML name ${JSON.stringify(r.n)} is not a resource path`);
    let value: Lwm2mValue | undefined = r.v ?? r.vs ?? r.vb ?? r.vd;
    const vlo = r.extra?.vlo;
    if (vlo !== undefined) {
      const m = typeof vlo === "string" ? /^(\d{1,5}):(\d{1,5})$/.exec(vlo) : null;
      if (!m) return fail("E_SENML_VALUE", `vlo ${JSON.stringify(vlo)} is not objectId:instanceId`);
      value = { objectId: Number(m[1]), instanceId: Number(m[2]) };
    }
    if (value === undefined) continue;
    const type = typeOf("/" + ids.slice(0, 3).join("/"));
    if ((type === "integer" || type === "unsignedInteger" || type === "time") && typeof value === "number" && !Number.isInteger(value)) {
      return fail("E_SENML_VALUE", `${r.n}: ${value} is not an integer`);
    }
    if (r.t === undefined) out.push({ path: r.n, value });
    else out.push({ path: r.n, value, time: r.t < SENML_RELATIVE_TIME_LIMIT && nowSeconds !== undefined ? nowSeconds + r.t : r.t });
  }
  return ok(out);
}

export function valuesToSenml(values: ResourceValue[]): SenmlRecord[] {
  return values.map((v) => {
    const r: SenmlRecord = { n: v.path };
    const x = v.value;
    if (typeof x === "number") r.v = x;
    else if (typeof x === "string") r.vs = x;
    else if (typeof x === "boolean") r.vb = x;
    else if (x instanceof Uint8Array) r.vd = x;
    else if (isObjectLink(x)) r.extra = { vlo: `${x.objectId}:${x.instanceId}` };
    if (v.time !== undefined) r.t = v.time;
    return r;
  });
}
