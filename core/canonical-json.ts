/**
 * The one canonical JSON of the project, as TUF signs it (tuf-spec §4.2, the OLPC dialect:
 * http://wiki.laptop.org/go/Canonical_JSON): object keys sorted by code unit, no whitespace,
 * strings escaped for backslash and double quote only, members whose value is `undefined`
 * left out. Independent TUF implementations compute the same bytes, which is what makes our
 * signatures and key ids readable by them. Signed documents (TUF metadata, model manifests,
 * audit records) use the default, integers only; `numbers: "finite"` admits any finite number
 * for content fingerprints that are never signed (the pipeline's operator definitions).
 */
import { RidgeError } from "./errors/index.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface CanonicalOptions {
  /** "integers" (default, what TUF signs) or "finite" (any finite number, for fingerprints). */
  numbers?: "integers" | "finite";
}

const MAX_DEPTH = 64;

function str(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function refuse(reason: string): never {
  throw new RidgeError("E_CANONICAL_JSON", `canonical JSON ${reason}`);
}

function encode(v: unknown, out: string[], depth: number, finite: boolean): void {
  if (depth > MAX_DEPTH) throw new RidgeError("E_CANONICAL_JSON_DEPTH", `canonical JSON nests at most ${MAX_DEPTH} levels deep; this document nests deeper`);
  if (typeof v === "string") out.push(str(v));
  else if (typeof v === "boolean" || v === null) out.push(String(v));
  else if (typeof v === "number") {
    if (finite ? !Number.isFinite(v) : !Number.isSafeInteger(v)) refuse(finite ? `has finite numbers only, got ${v}` : `has integers only, got ${v}`);
    out.push(String(v));
  } else if (Array.isArray(v)) {
    out.push("[");
    v.forEach((x, i) => {
      if (i) out.push(",");
      encode(x, out, depth + 1, finite);
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
      encode(o[k], out, depth + 1, finite);
    });
    out.push("}");
  } else refuse(`cannot encode a ${typeof v}`);
}

/** The canonical text of a JSON value; throws E_CANONICAL_JSON for what it cannot encode (E_CANONICAL_JSON_DEPTH when it nests too deep). */
export function canonicalJson(v: unknown, options: CanonicalOptions = {}): string {
  const out: string[] = [];
  encode(v, out, 0, options.numbers === "finite");
  return out.join("");
}

export function canonicalBytes(v: unknown, options: CanonicalOptions = {}): Uint8Array {
  return new TextEncoder().encode(canonicalJson(v, options));
}
