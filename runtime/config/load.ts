/**
 * Load the gateway config: the board's defaults, overridden key by key by the gateway's YAML file,
 * `${VAR}` substituted, validated once with every issue located in the file it came from.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, YamlSource, substituteEnv, zodIssues, type ConfigIssue } from "../../core/config-errors.js";
import { RidgeError } from "../../core/errors.js";
import { boardsDir as boardsDirFor, loadBoard, type Board } from "../../boards/index.js";
import { gatewayConfig, type GatewayConfig } from "./schema.js";

export interface LoadedConfig {
  config: GatewayConfig;
  board: Board;
  dataDir: string;
  file: string | undefined;
}

export interface LoadOptions {
  file?: string | undefined;
  /** Raw YAML text instead of a file (tests, reload from the API). */
  text?: string | undefined;
  board?: string | undefined;
  data?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Top-level sections that a gateway config replaces whole instead of merging: a pipeline is one
 * topology, and merging the board's operators into the user's would wire in nodes nobody asked for.
 */
const REPLACED_WHOLE = new Set(["pipeline"]);

/** Objects merge key by key; lists and scalars from the override replace the default. */
export function mergeDefaults(base: unknown, over: unknown, depth = 0): unknown {
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base && !(depth === 0 && REPLACED_WHOLE.has(k)) ? mergeDefaults(base[k], v, depth + 1) : v;
    return out;
  }
  return over === undefined ? base : over;
}

function hasPath(src: YamlSource, path: readonly (string | number)[]): boolean {
  return src.doc.hasIn(path.slice(0, 1)) || path.length === 0;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  let user: YamlSource | undefined;
  const label = opts.file ?? "(config)";
  if (opts.file !== undefined || opts.text !== undefined) {
    let text = opts.text;
    if (text === undefined) {
      try {
        text = readFileSync(opts.file!, "utf8");
      } catch (e) {
        throw new RidgeError("E_CONFIG_READ", "config", `cannot read config ${opts.file}: ${(e as Error).message}`, { cause: e });
      }
    }
    user = new YamlSource(label, text);
    const syntax = user.syntaxIssues();
    if (syntax.length) throw new ConfigError(syntax, "E_CONFIG_SYNTAX");
  }
  const issues: ConfigIssue[] = [];
  let userRaw: Record<string, unknown> = {};
  if (user) {
    const js = user.doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (js !== null && js !== undefined && !isPlainObject(js)) throw new ConfigError([user.issue([], "expected a mapping at the top level", "E_CONFIG_TYPE")]);
    userRaw = (substituteEnv(user, js ?? {}, env, issues) as Record<string, unknown>) ?? {};
  }
  const boardName = opts.board ?? (typeof userRaw.board === "string" ? userRaw.board : "sim");
  const board = loadBoard(boardName);
  const merged = mergeDefaults(board.defaults, { ...userRaw, board: boardName }) as Record<string, unknown>;
  if (opts.data !== undefined) merged.data = opts.data;

  const r = gatewayConfig.safeParse(merged);
  if (!r.success) {
    // Locate each issue in the user's file where the key is there, else in the board's defaults.
    const boardSrc = new YamlSource(`boards/${boardName}.yaml`, readBoardText(boardName));
    for (const is of r.error.issues) {
      if (user && hasPath(user, is.path)) issues.push(...zodIssues(user, merged, [is]));
      else {
        const [bi] = zodIssues(boardSrc, { defaults: merged }, [{ ...is, path: ["defaults", ...is.path] }]);
        if (bi) issues.push({ ...bi, path: bi.path.replace(/^defaults\.?/, "") || "(root)", file: user ? label : bi.file });
      }
    }
  }
  if (issues.length) throw new ConfigError(issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col));
  const config = (r as { data: GatewayConfig }).data;
  const dataDir = resolve(config.data ?? board.dataDir);
  return { config, board, dataDir, file: opts.file };
}

function readBoardText(name: string): string {
  return readFileSync(resolve(boardsDirFor(), `${name}.yaml`), "utf8");
}
