/**
 * OMA LwM2M TLV (content format 11542), OMA-TS-LightweightM2M-V1_0 §6.4.3. Pure, total decoder.
 *
 *   Type byte:
 *     bits 7-6  identifier kind: 00 Object Instance, 01 Resource Instance,
 *               10 Multiple Resource, 11 Resource with Value
 *     bit  5    identifier length: 0 = 8 bits, 1 = 16 bits
 *     bits 4-3  length type: 00 = length in bits 2-0, 01/10/11 = 8/16/24-bit length field follows
 *     bits 2-0  the value length when bits 4-3 are 00
 *   Identifier: 8 or 16 bits.  Length: 0-24 bits.  Value: nested TLVs for kinds 00 and 10.
 *
 * Values are typed by the resource definition, not the wire: Integer is 1/2/4/8-byte two's
 * complement, Float is 4/8-byte IEEE 754, Boolean one byte 0/1, Time an Integer, Objlnk two
 * 16-bit ids (§C, Table: Data Types).
 */
import { RidgeError, fail, ok, type ErrorCode, type Result } from "../../core/index.js";
import { isObjectLink, parsePath, joinPath, type Lwm2mValue, type ResourceType, type ResourceValue, type TypeOf } from "./value.js";

export type TlvKind = "objectInstance" | "resourceInstance" | "multipleResource" | "resource";
const KIND_BITS: Record<TlvKind, number> = { objectInstance: 0, resourceInstance: 1, multipleResource: 2, resource: 3 };
const KINDS: TlvKind[] = ["objectInstance", "resourceInstance", "multipleResource", "resource"];

export interface TlvRecord {
  kind: TlvKind;
  id: number;
  /** raw value bytes for leaf kinds (resource, resourceInstance) */
  value: Uint8Array;
  /** nested records for objectInstance and multipleResource */
  children: TlvRecord[];
}

const MAX_DEPTH = 3;

export function decodeTlv(buf: Uint8Array): Result<TlvRecord[], ErrorCode> {
  return decodeLevel(buf, 0, buf.length, 0);
}

function decodeLevel(buf: Uint8Array, start: number, end: number, depth: number): Result<TlvRecord[], ErrorCode> {
  const out: TlvRecord[] = [];
  let i = start;
  while (i < end) {
    const at = i;
    const t = buf[i++]!;
    const kind = KINDS[t >> 6]!;
    const idLen = t & 0x20 ? 2 : 1;
    const lenType = (t >> 3) & 3;
    if (i + idLen > end) return fail("E_LWM2M_TLV", "identifier runs past the end", i);
    const id = idLen === 2 ? (buf[i]! << 8) | buf[i + 1]! : buf[i]!;
    i += idLen;
    let length = t & 7;
    if (lenType > 0) {
      if (i + lenType > end) return fail("E_LWM2M_TLV", "length field runs past the end", i);
      length = 0;
      for (let k = 0; k < lenType; k++) length = (length << 8) | buf[i + k]!;
      i += lenType;
    }
    if (i + length > end) return fail("E_LWM2M_TLV", `value of ${length} bytes runs past the end`, i);
    const value = buf.slice(i, i + length);
    let children: TlvRecord[] = [];
    if (kind === "objectInstance" || kind === "multipleResource") {
      if (depth >= MAX_DEPTH) return fail("E_LWM2M_TLV", "TLV nested too deep", at);
      const inner = decodeLevel(buf, i, i + length, depth + 1);
      if (!inner.ok) return inner;
      const allowed: TlvKind[] = kind === "objectInstance" ? ["resource", "multipleResource"] : ["resourceInstance"];
      if (inner.value.some((c) => !allowed.includes(c.kind))) return fail("E_LWM2M_TLV", `a ${kind} holds a TLV of the wrong kind`, at);
      children = inner.value;
    }
    out.push({ kind, id, value: kind === "objectInstance" || kind === "multipleResource" ? new Uint8Array(0) : value, children });
    i += length;
  }
  return ok(out);
}

export function encodeTlv(records: TlvRecord[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const r of records) {
    const body = r.kind === "objectInstance" || r.kind === "multipleResource" ? encodeTlv(r.children) : r.value;
    if (r.id < 0 || r.id > 0xffff) throw new RidgeError("E_LWM2M_TLV_ID", `TLV id ${r.id} out of range`);
    if (body.length > 0xffffff) throw new RidgeError("E_LWM2M_TLV_LENGTH", `TLV value of ${body.length} bytes > 16 MiB`);
    const head: number[] = [];
    let t = KIND_BITS[r.kind] << 6;
    if (r.id > 0xff) t |= 0x20;
    let lenBytes: number[] = [];
    if (body.length < 8) t |= body.length;
    else if (body.length <= 0xff) (t |= 1 << 3), (lenBytes = [body.length]);
    else if (body.length <= 0xffff) (t |= 2 << 3), (lenBytes = [body.length >> 8, body.length & 0xff]);
    else (t |= 3 << 3), (lenBytes = [body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]);
    head.push(t);
    if (r.id > 0xff) head.push(r.id >> 8, r.id & 0xff);
    else head.push(r.id);
    head.push(...lenBytes);
    parts.push(Uint8Array.from(head), body);
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
}

// ---- typed values ----

export function decodeTlvInteger(b: Uint8Array): number | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (b.length) {
    case 1: return dv.getInt8(0);
    case 2: return dv.getInt16(0);
    case 4: return dv.getInt32(0);
    case 8: return Number(dv.getBigInt64(0));
    default: return undefined;
  }
}

export function encodeTlvInteger(n: number): Uint8Array {
  if (!Number.isInteger(n)) throw new RidgeError("E_LWM2M_TLV_INTEGER", `not an integer: ${n}`);
  if (n >= -128 && n <= 127) return Uint8Array.of(n & 0xff);
  const out = n >= -32768 && n <= 32767 ? new Uint8Array(2) : n >= -(2 ** 31) && n < 2 ** 31 ? new Uint8Array(4) : new Uint8Array(8);
  const dv = new DataView(out.buffer);
  if (out.length === 2) dv.setInt16(0, n);
  else if (out.length === 4) dv.setInt32(0, n);
  else dv.setBigInt64(0, BigInt(n));
  return out;
}

export function decodeTlvFloat(b: Uint8Array): number | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length === 4) return dv.getFloat32(0);
  if (b.length === 8) return dv.getFloat64(0);
  return undefined;
}

export function encodeTlvFloat(n: number): Uint8Array {
  // Use 4 bytes when the value survives float32 exactly, else 8 (§C: 4 or 8 bytes).
  if (Math.fround(n) === n || Number.isNaN(n)) {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setFloat32(0, n);
    return out;
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, n);
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

/** Interpret a leaf's bytes by its declared type; unknown type → opaque bytes. */
export function decodeTlvValue(b: Uint8Array, type: ResourceType | undefined): Result<Lwm2mValue, ErrorCode> {
  switch (type) {
    case "integer":
    case "unsignedInteger":
    case "time": {
      if (type === "unsignedInteger" && b.length === 8) {
        return ok(Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0)));
      }
      const v = decodeTlvInteger(b);
      if (v === undefined) return fail("E_LWM2M_TLV", `integer of ${b.length} bytes (expected 1, 2, 4 or 8)`);
      if (type === "unsignedInteger" && v < 0) {
        // unsigned values use the width given: 0xFF in one byte is 255
        let u = 0;
        for (const x of b) u = u * 256 + x;
        return ok(u);
      }
      return ok(v);
    }
    case "float": {
      const v = decodeTlvFloat(b);
      return v === undefined ? fail("E_LWM2M_TLV", `float of ${b.length} bytes (expected 4 or 8)`) : ok(v);
    }
    case "boolean":
      if (b.length !== 1 || b[0]! > 1) return fail("E_LWM2M_TLV", "boolean must be one byte 0 or 1");
      return ok(b[0] === 1);
    case "string":
    case "corelnk":
      try {
        return ok(utf8.decode(b));
      } catch {
        return fail("E_LWM2M_TLV", "string is not valid UTF-8");
      }
    case "objlnk":
      if (b.length !== 4) return fail("E_LWM2M_TLV", "objlnk must be 4 bytes");
      return ok({ objectId: (b[0]! << 8) | b[1]!, instanceId: (b[2]! << 8) | b[3]! });
    default:
      return ok(b);
  }
}

export function encodeTlvValue(v: Lwm2mValue, type: ResourceType | undefined): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (isObjectLink(v)) return Uint8Array.of(v.objectId >> 8, v.objectId & 0xff, v.instanceId >> 8, v.instanceId & 0xff);
  if (typeof v === "boolean") return Uint8Array.of(v ? 1 : 0);
  if (typeof v === "string") return utf8enc.encode(v);
  if (type === "float" || (type === undefined && !Number.isInteger(v))) return encodeTlvFloat(v);
  if (type === "string") return utf8enc.encode(String(v));
  return encodeTlvInteger(v);
}

/**
 * Flatten decoded TLV records into resource values, given the request path they answer
 * (`/3`, `/3/0`, `/3/0/6` or `/3/0/6/1`).
 */
export function tlvToValues(records: TlvRecord[], basePath: string, typeOf: TypeOf): Result<ResourceValue[], ErrorCode> {
  const base = parsePath(basePath);
  if (!base || base.length === 0) return fail("E_LWM2M_TLV", `bad base path ${basePath}`);
  const out: ResourceValue[] = [];
  const leaf = (ids: number[], bytes: Uint8Array): string | undefined => {
    const path = joinPath(ids);
    const v = decodeTlvValue(bytes, typeOf(joinPath(ids.slice(0, 3))));
    if (!v.ok) return `${path}: ${v.reason}`;
    out.push({ path, value: v.value });
    return undefined;
  };
  const resource = (prefix: number[], r: TlvRecord): string | undefined => {
    if (r.kind === "resource") return leaf([...prefix, r.id], r.value);
    if (r.kind === "multipleResource") {
      for (const c of r.children) {
        const e = leaf([...prefix, r.id, c.id], c.value);
        if (e) return e;
      }
      return undefined;
    }
    return `unexpected ${r.kind} at ${joinPath(prefix)}`;
  };
  for (const r of records) {
    let err: string | undefined;
    if (base.length === 1) {
      if (r.kind !== "objectInstance") return fail("E_LWM2M_TLV", `an object read must hold object instances, got ${r.kind}`);
      for (const c of r.children) if ((err = resource([base[0]!, r.id], c))) break;
    } else if (base.length === 2) {
      if (r.kind === "objectInstance") {
        for (const c of r.children) if ((err = resource([base[0]!, r.id], c))) break;
      } else err = resource(base, r);
    } else if (base.length === 3) {
      if (r.kind === "resourceInstance") err = leaf([...base, r.id], r.value);
      else err = resource(base.slice(0, 2), r);
    } else {
      err = leaf(base.slice(0, 3).concat(r.id), r.value);
    }
    if (err) return fail("E_LWM2M_TLV", err);
  }
  return ok(out);
}

/** Build TLV for a write to `basePath` (an object instance or a resource) from resource values. */
export function valuesToTlv(values: ResourceValue[], basePath: string, typeOf: TypeOf): Uint8Array {
  const base = parsePath(basePath);
  if (!base || base.length < 2) throw new RidgeError("E_LWM2M_PATH", `TLV writes need an instance or resource path, got ${basePath}`);
  const byResource = new Map<number, { single?: Uint8Array; instances: TlvRecord[] }>();
  for (const v of values) {
    const ids = parsePath(v.path);
    if (!ids || ids.length < 3) throw new RidgeError("E_LWM2M_PATH", `bad resource path ${v.path}`);
    const bytes = encodeTlvValue(v.value, typeOf(joinPath(ids.slice(0, 3))));
    const entry = byResource.get(ids[2]!) ?? { instances: [] };
    if (ids.length === 4) entry.instances.push({ kind: "resourceInstance", id: ids[3]!, value: bytes, children: [] });
    else entry.single = bytes;
    byResource.set(ids[2]!, entry);
  }
  const records: TlvRecord[] = [];
  for (const [id, e] of byResource) {
    if (e.instances.length) records.push({ kind: "multipleResource", id, value: new Uint8Array(0), children: e.instances });
    else records.push({ kind: "resource", id, value: e.single ?? new Uint8Array(0), children: [] });
  }
  return encodeTlv(records);
}
