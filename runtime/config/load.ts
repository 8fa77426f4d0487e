/**
 * Load the gateway config: the board's defaults, overridden key by key by the gateway's YAML file,
 * `${VAR}` substituted, validated once with every issue located in the file it came from.
 *
 * `${NAME}` is a secret resolved where the gateway runs, the systemd way first: the credential
 * `$CREDENTIALS_DIRECTORY/NAME` (LoadCredential=NAME:… or LoadCredentialEncrypted=NAME:…), or
 * `$CREDENTIALS_DIRECTORY/ridgeline_NAME` (the flashed unit's LoadCredential= of the whole
 * /etc/ridgeline/credentials folder), else the environment variable NAME. A secret that is nowhere
 * is one error (E_CONFIG_SECRET, exit 2) that names it and says how to provide it. `ridge flash`
 * validates with `deferSecrets`: a secret the device will get at run time is not needed on the
 * machine that flashes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, YamlSource, substituteEnv, zodIssues, type ConfigIssue } from "../../core/config-errors.js";
import { RidgeError } from "../../core/errors.js";
import { boardsDir as boardsDirFor, loadBoard, type Board } from "../../boards/index.js";
import { gatewayConfig, type GatewayConfig } from "./schema.js";

export interface LoadedConfig {
  config: GatewayConfig;
  board: Board;
  dataDir: string;
  file: string | undefined;
  /** With deferSecrets: the secrets not resolvable here, for the device to provide. */
  deferredSecrets: string[];
}

export interface LoadOptions {
  file?: string | undefined;
  /** Raw YAML text instead of a file (tests, reload from the API). */
  text?: string | undefined;
  board?: string | undefined;
  data?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Accept `${NAME}` that is not resolvable here (flash time): checked on the device when it starts. */
  deferSecrets?: boolean;
}

/** The flashed device's credentials folder (boards/flash/device-layout.ts `credentialsDir`; a test holds them equal). */
export const DEVICE_CREDENTIALS_DIR = "/etc/ridgeline/credentials";
/** The ID prefix of the flashed unit's folder-wide LoadCredential= (boards/flash/device-layout.ts CREDENTIAL_PREFIX). */
const FOLDER_CREDENTIAL_PREFIX = "ridgeline_";
const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g;
/** What a deferred secret stands for while the config is validated at flash time. */
const DEFERRED = "ridge-deferred-secret-0123456789";

export interface SecretRef {
  name: string;
  path: (string | number)[];
}

/** Every `${NAME}` without a default in a parsed config, with where it is. */
export function secretRefs(data: unknown, path: (string | number)[] = [], out: SecretRef[] = []): SecretRef[] {
  if (typeof data === "string") {
    for (const m of data.matchAll(REF)) if (m[2] === undefined) out.push({ name: m[1]!, path });
  } else if (Array.isArray(data)) data.forEach((v, i) => secretRefs(v, [...path, i], out));
  else if (isPlainObject(data)) for (const [k, v] of Object.entries(data)) secretRefs(v, [...path, k], out);
  return out;
}

/** A credential's value: the file's bytes as text, one trailing newline dropped (files made with echo). */
function readCredential(dir: string, name: string): string | undefined {
  for (const f of [name, `${FOLDER_CREDENTIAL_PREFIX}${name}`]) {
    const p = join(dir, f);
    if (existsSync(p)) return readFileSync(p, "utf8").replace(/\r?\n$/, "");
  }
  return undefined;
}

/** The values of `names` from the credentials directory, then the environment. */
export function resolveSecrets(names: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const dir = env.CREDENTIALS_DIRECTORY;
  for (const n of names) {
    const v = (dir ? readCredential(dir, n) : undefined) ?? env[n];
    if (v !== undefined) out[n] = v;
  }
  return out;
}

function secretError(issues: ConfigIssue[], missing: string[], env: NodeJS.ProcessEnv): ConfigError {
  const first = issues[0]!;
  const names = missing.map((n) => `\${${n}}`).join(", ");
  const n = missing[0]!;
  const where = env.CREDENTIALS_DIRECTORY ? `not in $CREDENTIALS_DIRECTORY (${env.CREDENTIALS_DIRECTORY}) nor the environment` : "no credential ($CREDENTIALS_DIRECTORY is not set) and not in the environment";
  const message =
    `secret ${names} is not provided (${where}). Provide it as a file ${DEVICE_CREDENTIALS_DIR}/${n} (mode 0600; \`ridge flash --secret ${n}=VALUE\` or \`--secret-file ${n}=FILE\` puts it there), ` +
    `or encrypted with systemd-creds (\`systemd-creds encrypt --name=${n} FILE /etc/ridgeline/credentials.encrypted/${n}\` and LoadCredentialEncrypted=${n}:/etc/ridgeline/credentials.encrypted/${n} in a ridgeline.service drop-in), ` +
    `or as the environment variable ${n}`;
  return new ConfigError([{ ...first, message, code: "E_CONFIG_ENV" }], "E_CONFIG_SECRET");
}

function startsWith(a: readonly (string | number)[], prefix: readonly (string | number)[]): boolean {
  return prefix.length <= a.length && prefix.every((p, i) => String(p) === String(a[i]));
}

/** A schema issue caused by a deferred secret's stand-in: at or below its key, or a check of an object that holds it. */
function fromDeferred(d: SecretRef, is: { path: (string | number)[]; code: string }): boolean {
  if (startsWith(is.path, d.path)) return true;
  return is.path.length > 0 && is.code !== "unrecognized_keys" && startsWith(d.path, is.path);
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
  let deferred: SecretRef[] = [];
  if (user) {
    const js = user.doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (js !== null && js !== undefined && !isPlainObject(js)) throw new ConfigError([user.issue([], "expected a mapping at the top level", "E_CONFIG_TYPE")]);
    const refs = secretRefs(js ?? {});
    const found = resolveSecrets([...new Set(refs.map((r) => r.name))], env);
    deferred = opts.deferSecrets ? refs.filter((r) => found[r.name] === undefined) : [];
    const vars: NodeJS.ProcessEnv = { ...env, ...found, ...Object.fromEntries(deferred.map((r) => [r.name, DEFERRED])) };
    userRaw = (substituteEnv(user, js ?? {}, vars, issues) as Record<string, unknown>) ?? {};
    const unset = issues.filter((i) => i.code === "E_CONFIG_ENV");
    if (unset.length) throw secretError(unset, [...new Set(refs.filter((r) => vars[r.name] === undefined).map((r) => r.name))], env);
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
      // A deferred secret stands in for a value only the device has: its own checks run there.
      if (deferred.some((d) => fromDeferred(d, is))) continue;
      if (user && hasPath(user, is.path)) issues.push(...zodIssues(user, merged, [is]));
      else {
        const [bi] = zodIssues(boardSrc, { defaults: merged }, [{ ...is, path: ["defaults", ...is.path] }]);
        if (bi) issues.push({ ...bi, path: bi.path.replace(/^defaults\.?/, "") || "(root)", file: user ? label : bi.file });
      }
    }
  }
  if (issues.length) throw new ConfigError(issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col));
  if (!r.success) {
    // Only deferred secrets were wrong: validate again with the defaults their keys would have.
    return { ...loadWithout(merged, deferred, board, opts), deferredSecrets: [...new Set(deferred.map((d) => d.name))] };
  }
  const config = r.data;
  const dataDir = resolve(config.data ?? board.dataDir);
  return { config, board, dataDir, file: opts.file, deferredSecrets: [...new Set(deferred.map((d) => d.name))] };
}

/** The config with the deferred secrets' keys removed (their values exist only on the device), validated. */
function loadWithout(merged: Record<string, unknown>, deferred: SecretRef[], board: Board, opts: LoadOptions): Omit<LoadedConfig, "deferredSecrets"> {
  const copy = structuredClone(merged);
  for (const d of deferred) {
    let o: unknown = copy;
    for (const k of d.path.slice(0, -1)) o = o && typeof o === "object" ? (o as Record<string | number, unknown>)[k] : undefined;
    const last = d.path[d.path.length - 1];
    if (o && typeof o === "object" && last !== undefined) delete (o as Record<string | number, unknown>)[last];
  }
  const r = gatewayConfig.safeParse(copy);
  if (!r.success)
    throw new RidgeError(
      "E_CONFIG_SECRET_DEFERRED",
      "config",
      `${opts.file ?? "(config)"}: the config can only be checked with its secrets (${[...new Set(deferred.map((d) => d.name))].join(", ")}): pass them with --secret NAME=VALUE or --secret-file NAME=FILE`,
    );
  return { config: r.data, board, dataDir: resolve(r.data.data ?? board.dataDir), file: opts.file };
}

function readBoardText(name: string): string {
  return readFileSync(resolve(boardsDirFor(), `${name}.yaml`), "utf8");
}
