/**
 * Turning schema issues into messages an operator can act on:
 * `gateway.yaml:14:7 drivers[1].modbus.baudRate: expected one of 9600, 19200, got "fast"`.
 * The YAML document keeps source ranges, so every issue is mapped back to file:line:col.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { ZodIssue, ZodType, ZodTypeDef } from "zod";
import { RidgeError, type ErrorCode } from "./errors/index.js";

export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
  code: string;
}

export function formatPath(path: readonly (string | number)[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += s === "" ? p : `.${p}`;
  }
  return s || "(root)";
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col} ${i.path}: ${i.message}`;
}

export class ConfigError extends RidgeError {
  constructor(readonly issues: ConfigIssue[], code: ErrorCode = "E_CONFIG_INVALID") {
    super(code, issues.map(formatIssue).join("\n"), { detail: { issues } });
  }
}

/** A parsed YAML source that can locate any path in itself. */
export class YamlSource {
  readonly lines = new LineCounter();
  readonly doc: Document;
  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  syntaxIssues(): ConfigIssue[] {
    return this.doc.errors.map((e) => {
      const pos = this.lines.linePos(e.pos[0]);
      return { file: this.file, line: pos.line, col: pos.col, path: "(syntax)", message: e.message.split("\n")[0] ?? e.message, code: "E_CONFIG_SYNTAX" };
    });
  }

  /** Position of the node at `path`, or of its nearest existing ancestor. With `key`, the key of the last segment. */
  locate(path: readonly (string | number)[], key?: string): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let best: { line: number; col: number } = { line: 1, col: 1 };
    const at = (n: unknown) => {
      const r = (n as Node | undefined)?.range;
      if (r) best = this.lines.linePos(r[0]);
    };
    at(node);
    const segs = key === undefined ? path : [...path, key];
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (key !== undefined && i === segs.length - 1) {
          at(pair.key);
          break;
        }
        node = pair.value;
        at(pair.value ?? pair.key);
      } else if (isSeq(node) && typeof seg === "number") {
        node = node.items[seg];
        if (!node) break;
        at(node);
      } else break;
    }
    return best;
  }

  issue(path: readonly (string | number)[], message: string, code = "E_CONFIG_INVALID", key?: string): ConfigIssue {
    const pos = this.locate(path, key);
    return { file: this.file, ...pos, path: formatPath(key === undefined ? path : [...path, key]), message, code };
  }
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** Map zod issues to located config issues with "expected …, got …" messages. */
export function zodIssues(src: YamlSource, data: unknown, issues: ZodIssue[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const is of issues) {
    const got = describe(valueAt(data, is.path));
    switch (is.code) {
      case "unrecognized_keys":
        for (const k of is.keys) out.push(src.issue(is.path, `unknown key "${k}"`, "E_CONFIG_UNKNOWN_KEY", k));
        break;
      case "invalid_type":
        if (is.received === "undefined") out.push(src.issue(is.path, `required ${is.expected} is missing`, "E_CONFIG_MISSING"));
        else out.push(src.issue(is.path, `expected ${is.expected}, got ${got}`, "E_CONFIG_TYPE"));
        break;
      case "invalid_enum_value":
        out.push(src.issue(is.path, `expected one of ${is.options.map(String).join(", ")}, got ${got}`, "E_CONFIG_ENUM"));
        break;
      case "invalid_literal":
        out.push(src.issue(is.path, `expected ${JSON.stringify(is.expected)}, got ${got}`, "E_CONFIG_ENUM"));
        break;
      case "invalid_union": {
        const lits = is.unionErrors.flatMap((e) => e.issues).filter((x) => x.code === "invalid_literal").map((x) => (x as { expected: unknown }).expected);
        if (lits.length === is.unionErrors.length && lits.length > 0)
          out.push(src.issue(is.path, `expected one of ${lits.map(String).join(", ")}, got ${got}`, "E_CONFIG_ENUM"));
        else {
          // report the branch that got furthest
          const best = is.unionErrors.map((e) => e.issues).sort((a, b) => Math.max(...b.map((x) => x.path.length)) - Math.max(...a.map((x) => x.path.length)))[0];
          if (best && best.some((x) => x.path.length > is.path.length)) out.push(...zodIssues(src, data, best));
          else out.push(src.issue(is.path, `${is.message}, got ${got}`, "E_CONFIG_TYPE"));
        }
        break;
      }
      case "too_small":
      case "too_big":
        out.push(src.issue(is.path, `${is.message.toLowerCase()}, got ${got}`, "E_CONFIG_RANGE"));
        break;
      case "custom": {
        const code = (is.params?.code as string | undefined) ?? "E_CONFIG_INVALID";
        // `atKey`: the key itself is wrong (an unknown name), so point at the key, not its value.
        if (is.params?.atKey && is.path.length) out.push(src.issue(is.path.slice(0, -1), is.message, code, String(is.path[is.path.length - 1])));
        else out.push(src.issue(is.path, is.message, code));
        break;
      }
        break;
      default:
        out.push(src.issue(is.path, `${is.message}, got ${got}`, "E_CONFIG_INVALID"));
    }
  }
  return out;
}

/** Substitute `${VAR}` in every string scalar, reporting missing variables at their position. */
export function substituteEnv(src: YamlSource, data: unknown, env: NodeJS.ProcessEnv, issues: ConfigIssue[], path: (string | number)[] = []): unknown {
  if (typeof data === "string") {
    return data.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (dflt !== undefined) return dflt;
      issues.push(src.issue(path, `environment variable ${name} is not set`, "E_CONFIG_ENV"));
      return "";
    });
  }
  if (Array.isArray(data)) return data.map((v, i) => substituteEnv(src, v, env, issues, [...path, i]));
  if (data && typeof data === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(data)) o[k] = substituteEnv(src, v, env, issues, [...path, k]);
    return o;
  }
  return data;
}

/** Parse YAML text and validate it against a schema, throwing one ConfigError with every issue. */
export function parseYamlWith<T>(file: string, text: string, schema: ZodType<T, ZodTypeDef, unknown>, env: NodeJS.ProcessEnv = process.env): { value: T; source: YamlSource } {
  const src = new YamlSource(file, text);
  const syntax = src.syntaxIssues();
  if (syntax.length) throw new ConfigError(syntax, "E_CONFIG_SYNTAX");
  const issues: ConfigIssue[] = [];
  const raw = substituteEnv(src, src.doc.toJS({ maxAliasCount: 100 }) ?? {}, env, issues);
  const r = schema.safeParse(raw);
  if (!r.success) issues.push(...zodIssues(src, raw, r.error.issues));
  if (issues.length) throw new ConfigError(issues.sort((a, b) => a.line - b.line || a.col - b.col));
  return { value: (r as { data: T }).data, source: src };
}
