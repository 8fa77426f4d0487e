/**
 * "Did you mean …?" for the names a person types into a gateway config: unknown keys (the keys the
 * schema knows at that place), driver, operator and sink kinds, names and functions in pipeline
 * expressions, and enum values. References (drivers, sources, operators, sinks) get theirs where they are checked
 * (cross-checks.ts). Applied to the schema's issues before they are located.
 */
import { z } from "zod";
import { didYouMean } from "../../core/index.js";
import { driverKinds, type DriverKindName } from "../drivers.js";
import { operatorKinds, operatorKindNames, sinkKinds, sinkKindNames } from "../pipeline/config.js";
import { AGGREGATES, functionNames, parseExpression } from "../pipeline/expression.js";
import type { Path } from "./cross-checks.js";

type Schema = z.ZodTypeAny;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** The schema under its wrappers (defaults, optionals, refinements, transforms, pipes). */
function unwrap(s: Schema): Schema {
  for (let i = 0; i < 32; i++) {
    if (s instanceof z.ZodEffects) s = s._def.schema as Schema;
    else if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodCatch || s instanceof z.ZodReadonly) s = s._def.innerType as Schema;
    else if (s instanceof z.ZodBranded) s = s._def.type as Schema;
    else if (s instanceof z.ZodLazy) s = s._def.getter() as Schema;
    else if (s instanceof z.ZodPipeline) s = s._def.in as Schema;
    else return s;
  }
  return s;
}

/** The object schemas a value at this schema may be (the object branches of a union). */
export function objectSchemas(s: Schema): z.AnyZodObject[] {
  const u = unwrap(s);
  if (u instanceof z.ZodObject) return [u];
  if (u instanceof z.ZodUnion || u instanceof z.ZodDiscriminatedUnion) return (u.options as Schema[]).flatMap(objectSchemas);
  if (u instanceof z.ZodIntersection) return [...objectSchemas(u._def.left as Schema), ...objectSchemas(u._def.right as Schema)];
  return [];
}

function child(s: Schema, seg: string | number): Schema | undefined {
  const u = unwrap(s);
  if (u instanceof z.ZodArray) return typeof seg === "number" ? (u._def.type as Schema) : undefined;
  if (u instanceof z.ZodRecord) return u._def.valueType as Schema;
  for (const o of objectSchemas(u)) if (typeof seg === "string" && seg in o.shape) return o.shape[seg] as Schema;
  return undefined;
}

/**
 * The schema of the value at `path` of a gateway config. The `drivers:`, `devices:`, operator and
 * sink entries are chosen by their kind (the one key of a driver entry, the driver a device is on),
 * which the schema only knows inside its refinements.
 */
export function schemaAt(root: Schema, data: unknown, path: Path): Schema | undefined {
  const [a, b, c, d, ...rest] = path;
  const walk = (s: Schema | undefined, segs: Path) => segs.reduce<Schema | undefined>((x, seg) => (x ? child(x, seg) : undefined), s);
  if (a === "drivers" && typeof b === "number" && typeof c === "string") return c in driverKinds ? walk(driverKinds[c as DriverKindName].config, path.slice(3)) : undefined;
  if (a === "devices" && typeof b === "number") {
    const driver = valueAt(data, ["devices", b, "driver"]);
    const entries = Array.isArray(valueAt(data, ["drivers"])) ? (valueAt(data, ["drivers"]) as unknown[]) : [];
    const entry = entries.find((e) => isPlainObject(e) && Object.keys(e).length === 1 && isPlainObject(Object.values(e)[0]) && (Object.values(e)[0] as { name?: unknown }).name === driver);
    const kind = entry ? Object.keys(entry as object)[0]! : undefined;
    const schema = kind && kind in driverKinds ? driverKinds[kind as DriverKindName].device : undefined;
    return schema ? walk(schema as Schema, path.slice(2)) : undefined;
  }
  if (a === "pipeline" && (b === "operators" || b === "sinks") && typeof c === "string" && typeof d === "string") {
    const kinds = (b === "operators" ? operatorKinds : sinkKinds) as Record<string, Schema>;
    return d in kinds ? walk(kinds[d], rest) : undefined;
  }
  return walk(root, path);
}

/** The keys the schema knows at `path`, or undefined where it cannot tell. */
export function knownKeysAt(root: Schema, data: unknown, path: Path): string[] | undefined {
  const s = schemaAt(root, data, path);
  if (!s) return undefined;
  const keys = objectSchemas(s).flatMap((o) => Object.keys(o.shape));
  return keys.length ? [...new Set(keys)] : undefined;
}

function params(is: z.ZodIssue): Record<string, unknown> | undefined {
  return is.code === "custom" ? (is.params as Record<string, unknown> | undefined) : undefined;
}

/** The function names called in an expression, outermost first. */
function calledFunction(src: unknown): string | undefined {
  if (typeof src !== "string") return undefined;
  try {
    const n = parseExpression(src) as { t: string; fn?: string };
    return n.t === "call" ? n.fn : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The schema's issues with suggestions: one issue per unknown key (at the key), with the closest key
 * known there; unknown kinds and expression names with the closest known one. A listen port out of
 * range is E_CONFIG_RANGE like every other port.
 */
export function withSuggestions(root: Schema, data: unknown, issues: readonly z.ZodIssue[]): z.ZodIssue[] {
  const out: z.ZodIssue[] = [];
  for (const is of issues) {
    if (is.code === "unrecognized_keys") {
      const known = knownKeysAt(root, data, is.path) ?? [];
      for (const k of is.keys) out.push({ code: "custom", path: [...is.path, k], message: `unknown key "${k}"${didYouMean(k, known)}`, params: { code: "E_CONFIG_UNKNOWN_KEY", atKey: true } });
      continue;
    }
    if (is.code === "invalid_enum_value" && typeof is.received === "string") {
      const options = is.options.map(String);
      out.push({ code: "custom", path: is.path, message: `expected one of ${options.join(", ")}, got ${JSON.stringify(is.received)}${didYouMean(is.received, options)}`, params: { code: "E_CONFIG_ENUM" } });
      continue;
    }
    if (is.code === "invalid_union") {
      // the branch reported is chosen later (config-errors.ts): suggest inside every branch
      out.push({ ...is, unionErrors: is.unionErrors.map((e) => new z.ZodError(withSuggestions(root, data, e.issues))) });
      continue;
    }
    const p = params(is);
    const code = p?.code;
    const last = is.path[is.path.length - 1];
    let extra = "";
    const entryKinds = code === "E_PIPELINE_UNKNOWN_OPERATOR" ? [...operatorKindNames, "input", "edge", "aggregate"] : code === "E_PIPELINE_UNKNOWN_SINK" ? [...sinkKindNames, "input", "edge", "batch"] : code === "E_CONFIG_DRIVER_KIND" ? Object.keys(driverKinds) : undefined;
    const entry = valueAt(data, is.path);
    if (entryKinds && isPlainObject(entry) && ((code === "E_CONFIG_DRIVER_KIND" && is.path.length === 2) || (code !== "E_CONFIG_DRIVER_KIND" && is.path.length === 3))) {
      // "exactly one kind, got filter, inptu": a misspelt key beside the kind
      extra = Object.keys(entry)
        .filter((k) => !entryKinds.includes(k))
        .map((k) => [k, didYouMean(k, entryKinds)] as const)
        .filter(([, d]) => d)
        .map(([k, d]) => `; "${k}":${d.slice(1)}`)
        .join("");
    } else if (code === "E_PIPELINE_UNKNOWN_OPERATOR" && typeof last === "string" && is.path.length === 4) extra = didYouMean(last, operatorKindNames);
    else if (code === "E_PIPELINE_UNKNOWN_SINK" && typeof last === "string" && is.path.length === 4) extra = didYouMean(last, sinkKindNames);
    else if (code === "E_EXPR_UNKNOWN_NAME") {
      const m = /unknown name "([^"]+)".*\(roots: ([^)]*)\)/.exec(is.message);
      if (m) extra = didYouMean(m[1]!, m[2]!.split(", "));
    } else if (code === "E_EXPR_UNKNOWN_FUNCTION") {
      const m = /unknown function "([^"]+)"/.exec(is.message);
      if (m) extra = didYouMean(m[1]!, functionNames);
    } else if (code === "E_EXPR_AGGREGATE") {
      const fn = calledFunction(valueAt(data, is.path));
      if (fn) extra = didYouMean(fn, AGGREGATES);
    } else if (is.code === "custom" && code === undefined && last === "listen" && /^port \d+ is out of range/.test(is.message)) {
      out.push({ ...is, params: { ...p, code: "E_CONFIG_RANGE" } });
      continue;
    }
    out.push(extra ? { ...is, message: is.message + extra } : is);
  }
  return out;
}
