/**
 * OMA LwM2M JSON (content format 11543), OMA-TS-LightweightM2M-V1_0 §6.4.4:
 *   {"bn":"/3/0/","bt":<time>,"e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"6/0","v":1},
 *                                  {"n":"4","bv":true},{"n":"x","ov":"3:0"},{"n":"9","v":95,"t":-5}]}
 * Pure and total.
 */
import { fail, ok, type ErrorCode, type Result } from "../../core/index.js";
import { isObjectLink, parsePath, type Lwm2mValue, type ResourceValue } from "./value.js";

export function decodeLwm2mJson(bytes: Uint8Array, nowSeconds?: number): Result<ResourceValue[], ErrorCode> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    return fail("E_LWM2M_JSON", `not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return fail("E_LWM2M_JSON", "LwM2M JSON is an object with an `e` array");
  const d = doc as Record<string, unknown>;
  const bn = d.bn ?? "";
  const bt = d.bt ?? 0;
  if (typeof bn !== "string") return fail("E_LWM2M_JSON", "bn must be a string");
  if (typeof bt !== "number") return fail("E_LWM2M_JSON", "bt must be a number");
  if (!Array.isArray(d.e)) return fail("E_LWM2M_JSON", "`e` must be an array");
  const out: ResourceValue[] = [];
  for (const [i, raw] of (d.e as unknown[]).entries()) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail("E_LWM2M_JSON", `e[${i}] is not an object`);
    const e = raw as Record<string, unknown>;
    const n = e.n ?? "";
    if (typeof n !== "string") return fail("E_LWM2M_JSON", `e[${i}].n must be a string`);
    const path = (bn + n).replace(/\/+$/, "");
    const ids = parsePath(path);
    if (!ids || ids.length < 3) return fail("E_LWM2M_JSON", `e[${i}]: ${JSON.stringify(path)} is not a resource path`);
    let value: Lwm2mValue;
    if (typeof e.v === "number") value = e.v;
    else if (typeof e.sv === "string") value = e.sv;
    else if (typeof e.bv === "boolean") value = e.bv;
    else if (typeof e.ov === "string") {
      const m = /^(\d{1,5}):(\d{1,5})$/.exec(e.ov);
      if (!m) return fail("E_LWM2M_JSON", `e[${i}].ov is not objectId:instanceId`);
      value = { objectId: Number(m[1]), instanceId: Number(m[2]) };
    } else return fail("E_LWM2M_JSON", `e[${i}] has no v, sv, bv or ov`);
    const rv: ResourceValue = { path, value };
    if (e.t !== undefined || d.bt !== undefined) {
      if (e.t !== undefined && typeof e.t !== "number") return fail("E_LWM2M_JSON", `e[${i}].t must be a number`);
      const t = bt + ((e.t as number | undefined) ?? 0);
      rv.time = t < 2 ** 28 && nowSeconds !== undefined ? nowSeconds + t : t;
    }
    out.push(rv);
  }
  return ok(out);
}

export function encodeLwm2mJson(values: ResourceValue[], basePath: string): Uint8Array {
  const bn = basePath.endsWith("/") ? basePath : basePath + "/";
  const e = values.map((v) => {
    const n = v.path.startsWith(bn) ? v.path.slice(bn.length) : v.path;
    const o: Record<string, unknown> = { n };
    const x = v.value;
    if (typeof x === "number") o.v = x;
    else if (typeof x === "string") o.sv = x;
    else if (typeof x === "boolean") o.bv = x;
    else if (x instanceof Uint8Array) o.sv = Buffer.from(x).toString("base64");
    else if (isObjectLink(x)) o.ov = `${x.objectId}:${x.instanceId}`;
    if (v.time !== undefined) o.t = v.time;
    return o;
  });
  return new TextEncoder().encode(JSON.stringify({ bn, e }));
}
