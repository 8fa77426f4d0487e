/**
 * Canonical JSON as TUF signs it (tuf-spec §4.2, the OLPC dialect: http://wiki.laptop.org/go/Canonical_JSON):
 * object keys sorted by code unit, no whitespace, integers only (no floats), and strings escaped for
 * backslash and double quote only. Independent TUF implementations compute the same bytes, which is
 * what makes our signatures and key ids readable by them.
 */
import { RidgeError } from "../core/index.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

function str(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function encode(v: unknown, out: string[], depth: number): void {
  if (depth > 64) throw new RidgeError("E_OTA_CANONICAL", "peer", "canonical JSON: nesting deeper than 64");
  if (typeof v === "string") out.push(str(v));
  else if (typeof v === "boolean" || v === null) out.push(String(v));
  else if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RidgeError("E_OTA_CANONICAL", "peer", `canonical JSON has integers only, got ${v}`);
    out.push(String(v));
  } else if (Array.isArray(v)) {
    out.push("[");
    v.forEach((x, i) => {
      if (i) out.push(",");
      encode(x, out, depth + 1);
    });
    out.push("]");
  } else if (typeof v === "object") {
    out.push("{");
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    keys.forEach((k, i) => {
      if (i) out.push(",");
      out.push(str(k), ":");
      encode(o[k], out, depth + 1);
    });
    out.push("}");
  } else throw new RidgeError("E_OTA_CANONICAL", "peer", `canonical JSON cannot encode a ${typeof v}`);
}

/** The canonical text of a JSON value; throws E_OTA_CANONICAL for floats and non-JSON values. */
export function canonicalJson(v: unknown): string {
  const out: string[] = [];
  encode(v, out, 0);
  return out.join("");
}

export function canonicalBytes(v: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(v));
}
