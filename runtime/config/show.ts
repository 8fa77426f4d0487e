/**
 * `ridge config show`: the config the gateway would run with, as YAML in the shape it is written
 * in, every value with where it came from:
 *
 *   file gateway.yaml:12   written in the file
 *   env NAME               a `${NAME}` in the file, taken from the environment (credential NAME: from $CREDENTIALS_DIRECTORY)
 *   board rpi5             the board's defaults (boards/rpi5.yaml)
 *   default                the schema's default (the value is shown the way the schema holds it: durations in ms)
 *   option --board         the command line
 *
 * Secrets are never printed: a `${NAME}` without a default is shown as written (`"${RIDGE_TOKEN}"`),
 * and fields that hold a secret whatever their source (password, token, a PSK's key) as "***".
 */
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { RidgeError, YamlSource, substituteEnv, type ConfigIssue } from "../../core/index.js";
import { loadBoard } from "../../boards/index.js";
import { loadConfig, mergeDefaults, resolveSecrets, secretRefs, secretSources, type LoadOptions } from "./load.js";
import { gatewaySections } from "./schema.js";
import { objectSchemas, schemaAt } from "./suggestions.js";
import type { Path } from "./cross-checks.js";

export interface ShownValue {
  /** `drivers[0].mqtt.listen` */
  path: string;
  /** The value as printed (masked for secrets). */
  value: unknown;
  source: string;
  masked: boolean;
}

export interface ConfigView {
  values: ShownValue[];
  text: string;
}

/** Field names whose value is a secret wherever it comes from. */
const SECRET_FIELDS = new Set(["password", "token"]);
const MASK = "***";

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

function fmtPath(path: Path): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s || "(root)";
}

/** The schema's default of a field, or undefined when it has none. */
function defaultOf(s: z.ZodTypeAny): { value: unknown } | undefined {
  for (let i = 0; i < 16; i++) {
    const def = s._def as { typeName?: string; defaultValue?: () => unknown; schema?: z.ZodTypeAny; innerType?: z.ZodTypeAny; in?: z.ZodTypeAny };
    if (def.typeName === "ZodDefault") return { value: structuredClone(def.defaultValue!()) };
    if (def.typeName === "ZodEffects" && def.schema) s = def.schema;
    else if (def.typeName === "ZodPipeline" && def.in) s = def.in;
    else return undefined;
  }
  return undefined;
}

/** Fill in the schema's defaults where the merged config has no value; returns the paths filled. */
function fillDefaults(root: unknown, node: unknown, path: Path, filled: Set<string>): void {
  if (Array.isArray(node)) {
    node.forEach((v, i) => fillDefaults(root, v, [...path, i], filled));
    return;
  }
  if (!isPlainObject(node)) return;
  const s = schemaAt(gatewaySections, root, path);
  const order: string[] = [];
  for (const o of s ? objectSchemas(s) : [])
    for (const [k, field] of Object.entries(o.shape as Record<string, z.ZodTypeAny>)) {
      order.push(k);
      if (k in node) continue;
      const d = defaultOf(field);
      if (!d) continue;
      node[k] = d.value;
      filled.add(fmtPath([...path, k]));
    }
  // in the schema's order, as the sections are documented
  const entries = Object.entries(node).sort(([a], [b]) => (order.indexOf(a) + 1 || Infinity) - (order.indexOf(b) + 1 || Infinity));
  for (const [k] of entries) delete node[k];
  for (const [k, v] of entries) node[k] = v;
  for (const [k, v] of entries) fillDefaults(root, v, [...path, k], filled);
}

export interface ShowOptions extends LoadOptions {
  file: string;
}

/** The merged config with the source of every value. Throws the loader's ConfigError when the config is invalid. */
export function showConfig(opts: ShowOptions): ConfigView {
  const env = opts.env ?? process.env;
  // validate first: show only what the gateway would accept
  const loaded = loadConfig(opts);
  let text = opts.text;
  if (text === undefined) {
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (e) {
      throw new RidgeError("E_CONFIG_READ", `cannot read config ${opts.file}: ${(e as Error).message}`, { cause: e });
    }
  }
  const user = new YamlSource(opts.file, text);
  const js = (user.doc.toJS({ maxAliasCount: 100 }) ?? {}) as Record<string, unknown>;
  const refs = secretRefs(js);
  const names = [...new Set(refs.map((r) => r.name))];
  const found = resolveSecrets(names, env);
  const from = secretSources(names, env);
  const ignored: ConfigIssue[] = [];
  const userRaw = (substituteEnv(user, js, { ...env, ...found }, ignored) ?? {}) as Record<string, unknown>;
  const boardName = loaded.board.name;
  const board = loadBoard(boardName);
  const merged = mergeDefaults(board.defaults, { ...userRaw, board: boardName }) as Record<string, unknown>;
  if (opts.data !== undefined) merged.data = opts.data;
  const boardData = merged.data === undefined;
  // the gateway's data directory without `data:` is the board's
  if (boardData) merged.data = board.dataDir;
  const filled = new Set<string>();
  fillDefaults(merged, merged, [], filled);

  const values: ShownValue[] = [];
  const sourceOf = (path: Path): { source: string; masked: boolean; shown?: unknown } => {
    const p = fmtPath(path);
    const last = path[path.length - 1];
    const secretField = typeof last === "string" && (SECRET_FIELDS.has(last) || (last === "key" && path[path.length - 2] === "psk"));
    if (path.length === 1 && path[0] === "board") return { source: opts.board !== undefined ? "option --board" : typeof userRaw.board === "string" ? `file ${opts.file}:${user.locate(path).line}` : "default", masked: false };
    if (path.length === 1 && path[0] === "data" && opts.data !== undefined) return { source: "option --data", masked: false };
    if (path.length === 1 && path[0] === "data" && boardData) return { source: `board ${boardName} (its dataDir)`, masked: false };
    if ([...filled].some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`))) return { source: "default", masked: secretField };
    const written = valueAt(js, path);
    if (written !== undefined || valueAt(userRaw, path) !== undefined) {
      const line = `file ${opts.file}:${user.locate(path).line}`;
      if (typeof written === "string") {
        const used = [...written.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)];
        const secrets = used.filter((m) => m[2] === undefined).map((m) => m[1]!);
        const taken = used.filter((m) => from[m[1]!] !== undefined || (m[2] !== undefined && env[m[1]!] !== undefined)).map((m) => `${from[m[1]!] ?? "env"} ${m[1]}`);
        if (secrets.length) return { source: `${taken.join(", ") || "not provided here"} (secret; ${line})`, masked: true, shown: written };
        if (taken.length) return { source: `${taken.join(", ")} (${line})`, masked: secretField };
      }
      return { source: line, masked: secretField };
    }
    return { source: `board ${boardName}`, masked: secretField };
  };

  const lines: { text: string; comment?: string }[] = [];
  const scalar = (v: unknown): string => {
    if (Array.isArray(v)) return "[]";
    if (isPlainObject(v)) return "{}";
    if (typeof v === "string") return /^[A-Za-z0-9_./@-][A-Za-z0-9_./:@ -]*$/.test(v) && !/[: ]$/.test(v) && !/^(true|false|null|yes|no|on|off|~|[-+.\d].*)$/i.test(v) ? v : JSON.stringify(v);
    return v === undefined ? "null" : JSON.stringify(v);
  };
  const key = (k: string) => (/^[A-Za-z0-9_.-]+$/.test(k) && !/^[-\d]/.test(k) ? k : JSON.stringify(k));
  const isLeaf = (v: unknown) => (Array.isArray(v) ? v.length === 0 : isPlainObject(v) ? Object.keys(v).length === 0 : true);
  const leaf = (prefix: string, v: unknown, path: Path) => {
    const s = sourceOf(path);
    const shown = s.masked ? (s.shown ?? MASK) : v;
    values.push({ path: fmtPath(path), value: shown, source: s.source, masked: s.masked });
    lines.push({ text: `${prefix}${scalar(shown)}`, comment: s.source });
  };
  const emit = (v: unknown, indent: number, path: Path) => {
    const pad = " ".repeat(indent);
    if (Array.isArray(v))
      v.forEach((item, i) => {
        if (isLeaf(item)) return leaf(`${pad}- `, item, [...path, i]);
        const start = lines.length;
        emit(item, indent + 2, [...path, i]);
        lines[start]!.text = `${pad}- ${lines[start]!.text.slice(indent + 2)}`;
      });
    else if (isPlainObject(v))
      for (const [k, x] of Object.entries(v)) {
        if (isLeaf(x)) leaf(`${pad}${key(k)}: `, x, [...path, k]);
        else {
          lines.push({ text: `${pad}${key(k)}:` });
          emit(x, indent + 2, [...path, k]);
        }
      }
  };
  emit(merged, 0, []);
  const width = Math.min(64, Math.max(...lines.filter((l) => l.comment).map((l) => l.text.length)));
  const out = [`# ${opts.file} on board ${boardName}: every value with its source (file, env, board, default); secrets masked`];
  for (const l of lines) out.push(l.comment ? `${l.text.padEnd(width)}  # ${l.comment}` : l.text);
  return { values, text: out.join("\n") + "\n" };
}
