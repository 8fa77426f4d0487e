/**
 * The value model every LwM2M content-format codec decodes into and encodes from: a flat list of
 * leaf resource values addressed by their full path (`/3/0/0`, `/3/0/6/1` for a resource instance).
 * Types follow OMA-TS-LightweightM2M-Core Appendix C (data types).
 */
export type ResourceType = "string" | "integer" | "unsignedInteger" | "float" | "boolean" | "opaque" | "time" | "objlnk" | "corelnk" | "none";

export interface ObjectLink {
  objectId: number;
  instanceId: number;
}

export type Lwm2mValue = number | string | boolean | Uint8Array | ObjectLink;

export interface ResourceValue {
  path: string;
  value: Lwm2mValue;
  /** seconds since the epoch when the content format carried a time (SenML `t`, LwM2M JSON `t`). */
  time?: number;
}

/** Resolves the declared type of a resource path; undefined when the object is unknown. */
export type TypeOf = (path: string) => ResourceType | undefined;

export function isObjectLink(v: unknown): v is ObjectLink {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && "objectId" in v && "instanceId" in v;
}

/** `/3303/0/5700` → [3303, 0, 5700]; undefined when a segment is not a 16-bit id. */
export function parsePath(path: string): number[] | undefined {
  const parts = path.split("/").filter((s) => s.length > 0);
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,5}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 65535) return undefined;
    out.push(n);
  }
  return out.length <= 4 ? out : undefined;
}

export function joinPath(ids: number[]): string {
  return "/" + ids.join("/");
}
