/**
 * Load the gateway config: the board's defaults, overridden key by key by the gateway's YAML file,
 * `${VAR}` substituted, validated once with every issue located in the file it came from.
 *
 * `${NAME}` is a secret resolved where the gateway runs, the systemd way first: the credential
 * `$CREDENTIALS_DIRECTORY/NAME` (LoadCredential=NAME:… or LoadCredentialEncrypted=NAME:…), or
 * `$CREDENTIALS_DIRECTORY/ridgeline_NAME` (the flashed unit's LoadCredential= of the whole
 * /etc/ridgeline/credentials folder), else the environment variable NAME. A secret that is nowhere
 * is one error (exit 2) that names it and says how to provide it, in the same list as every other
 * error: the rest of the config is validated with a stand-in for it (the stand-in's own issues are
 * not reported). With only missing secrets the error is E_CONFIG_SECRET. `ridge flash` and
 * `ridge config check --defer-secrets` validate with `deferSecrets`: a secret the device will get
 * at run time is not needed on the machine that flashes or checks.
 *
 * No error message shows a value that came from a `${NAME}` substitution: it is replaced by
 * `${NAME}` (`got ${RIDGE_TOKEN} (15 characters)`), whatever the schema issue.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, YamlSource, formatPath, substituteEnv, zodIssues, RidgeError, type ConfigIssue } from "../../core/index.js";
import { CREDENTIAL_PREFIX, DEVICE_CREDENTIALS_DIR, boardsDir as boardsDirFor, loadBoard, type Board } from "../../boards/index.js";
import { gatewayConfig, gatewaySections, type GatewayConfig } from "./schema.js";
import { withSuggestions } from "./suggestions.js";
import { fileChecks } from "./file-checks.js";

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
  /**
   * Also check that the files the config names (TLS certificates and keys, model files) exist and
   * are readable here (`ridge config check` on the gateway). Off where the files are elsewhere
   * (flashing, a reload of the pipeline): the runtime reports them when it reads them.
   */
  checkFiles?: boolean;
}

export { DEVICE_CREDENTIALS_DIR };
const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g;
/** What a deferred (or missing) secret stands for while the rest of the config is validated. */
const DEFERRED = "ridge-deferred-secret-0123456789";
const standIn = (name: string) => `${DEFERRED}-${name}`;

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
  for (const f of [name, `${CREDENTIAL_PREFIX}${name}`]) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    try {
      return readFileSync(p, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new CredentialUnreadable(name, p, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
    }
  }
  return undefined;
}

/** A credential file that is there but cannot be read (its mode, a directory): reported at the secret's use. */
class CredentialUnreadable extends Error {
  constructor(
    readonly secret: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`credential ${file} cannot be read (${reason})`);
  }
}

/** The values of `names` from the credentials directory, then the environment. */
export function resolveSecrets(names: readonly string[], env: NodeJS.ProcessEnv, unreadable?: CredentialUnreadable[]): Record<string, string> {
  const out: Record<string, string> = {};
  const dir = env.CREDENTIALS_DIRECTORY;
  for (const n of names) {
    let c: string | undefined;
    try {
      c = dir ? readCredential(dir, n) : undefined;
    } catch (e) {
      if (!(e instanceof CredentialUnreadable) || !unreadable) throw e;
      unreadable.push(e);
      continue;
    }
    const v = c ?? env[n];
    if (v !== undefined) out[n] = v;
  }
  return out;
}

/** Where each secret's value comes from: a credential file or the environment. */
export function secretSources(names: readonly string[], env: NodeJS.ProcessEnv): Record<string, "credential" | "env"> {
  const out: Record<string, "credential" | "env"> = {};
  const dir = env.CREDENTIALS_DIRECTORY;
  for (const n of names) {
    if (dir && [n, `${CREDENTIAL_PREFIX}${n}`].some((f) => existsSync(join(dir, f)))) out[n] = "credential";
    else if (env[n] !== undefined) out[n] = "env";
  }
  return out;
}

/** One error per missing secret, at its first use (its other uses named), saying where it was looked for and how to provide it. */
function secretIssues(src: YamlSource, missing: SecretRef[], env: NodeJS.ProcessEnv): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const where = env.CREDENTIALS_DIRECTORY ? `not in $CREDENTIALS_DIRECTORY (${env.CREDENTIALS_DIRECTORY}) nor the environment` : "no credential ($CREDENTIALS_DIRECTORY is not set) and not in the environment";
  for (const n of [...new Set(missing.map((r) => r.name))]) {
    const uses = missing.filter((r) => r.name === n);
    const also = [...new Set(uses.slice(1).map((r) => formatPath(r.path)))].filter((p) => p !== formatPath(uses[0]!.path));
    const message =
      `secret \${${n}} is not provided (${where}). Provide it as a file ${DEVICE_CREDENTIALS_DIR}/${n} (mode 0600; on a flashed card \`ridge flash --board BOARD --root ROOT --force --secret ${n}=VALUE\` or \`--secret-file ${n}=FILE\` adds it and keeps the rest), ` +
      `or encrypted with systemd-creds (\`systemd-creds encrypt --name=${n} FILE /etc/ridgeline/credentials.encrypted/${n}\` and LoadCredentialEncrypted=${n}:/etc/ridgeline/credentials.encrypted/${n} in a ridgeline.service drop-in), ` +
      `or as the environment variable ${n}` +
      (also.length ? ` (also used at ${also.join(", ")})` : "");
    out.push(src.issue(uses[0]!.path, message, "E_CONFIG_ENV"));
  }
  return out;
}

/** Every string of the parsed file that `${…}` substitution changed: its path, the text as written and the value it became. */
interface Substituted {
  path: (string | number)[];
  template: string;
  value: string;
}

function substitutedStrings(raw: unknown, done: unknown, path: (string | number)[] = [], out: Substituted[] = []): Substituted[] {
  if (typeof raw === "string") {
    if (typeof done === "string" && done !== raw) out.push({ path, template: raw, value: done });
  } else if (Array.isArray(raw) && Array.isArray(done)) raw.forEach((v, i) => substitutedStrings(v, done[i], [...path, i], out));
  else if (isPlainObject(raw) && isPlainObject(done)) for (const [k, v] of Object.entries(raw)) substitutedStrings(v, done[k], [...path, k], out);
  return out;
}

/** Shorter values than this are only hidden where quoted as a value: replacing them everywhere would garble the messages. */
const MIN_BARE_SECRET = 4;

/**
 * A function that hides in a message every value substitution produced: a whole substituted string
 * shown as a value (`"…"`) becomes `${NAME} (N characters)` (or the text as written, `"user-${NAME}"`),
 * and any secret's own value, quoted or bare, becomes `${NAME}`.
 */
function redactor(subs: readonly Substituted[], values: Record<string, string>): (message: string) => string {
  const rules: [string, string][] = [];
  for (const s of subs) {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}$/.exec(s.template);
    rules.push([JSON.stringify(s.value), whole ? `\${${whole[1]}} (${[...s.value].length} characters)` : JSON.stringify(s.template)]);
  }
  const names = Object.entries(values).filter(([, v]) => v.length > 0);
  for (const [n, v] of names) rules.push([JSON.stringify(v), `\${${n}}`]);
  for (const [n, v] of names) {
    const inner = JSON.stringify(v).slice(1, -1);
    if (inner.length >= MIN_BARE_SECRET) rules.push([inner, `\${${n}}`]);
    if (v.length >= MIN_BARE_SECRET && v !== inner) rules.push([v, `\${${n}}`]);
  }
  // Longest first: a value that holds another is replaced whole.
  rules.sort((a, b) => b[0].length - a[0].length);
  if (!rules.length) return (m) => m;
  return (message) => {
    // One pass over the message so that a replacement is never searched again.
    let out = "";
    let i = 0;
    outer: while (i < message.length) {
      for (const [from, to] of rules)
        if (message.startsWith(from, i)) {
          out += to;
          i += from.length;
          continue outer;
        }
      out += message[i];
      i++;
    }
    return out;
  };
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

/** The codes both the cross-section checks and the pipeline's topology check report (their messages differ). */
const TOPOLOGY_CODES = new Set(["E_PIPELINE_NAME", "E_PIPELINE_DUPLICATE_NAME", "E_PIPELINE_INPUT", "E_PIPELINE_UNCONNECTED", "E_PIPELINE_REFERENCE", "E_PIPELINE_CYCLE"]);

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
        throw new RidgeError("E_CONFIG_READ", `cannot read config ${opts.file}: ${(e as Error).message}`, { cause: e });
      }
    }
    user = new YamlSource(label, text);
    const syntax = user.syntaxIssues();
    if (syntax.length) throw new ConfigError(syntax, "E_CONFIG_SYNTAX");
  }
  const issues: ConfigIssue[] = [];
  let userRaw: Record<string, unknown> = {};
  // Secrets not resolvable here: accepted (deferSecrets) or reported (missing); both validated with a stand-in.
  let deferred: SecretRef[] = [];
  let standIns: SecretRef[] = [];
  let redact = (m: string) => m;
  if (user) {
    const js = user.doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (js !== null && js !== undefined && !isPlainObject(js)) throw new ConfigError([user.issue([], "expected a mapping at the top level", "E_CONFIG_TYPE")]);
    const refs = secretRefs(js ?? {});
    const unreadable: CredentialUnreadable[] = [];
    const found = resolveSecrets([...new Set(refs.map((r) => r.name))], env, unreadable);
    standIns = refs.filter((r) => found[r.name] === undefined);
    const bad = new Set(unreadable.map((u) => u.secret));
    for (const u of unreadable) {
      const at = refs.find((r) => r.name === u.secret)!;
      issues.push(user.issue(at.path, `secret \${${u.secret}}: ${u.message}; make it readable by the gateway's user (mode 0600, owned by it)`, "E_CONFIG_FILE"));
    }
    if (opts.deferSecrets) deferred = standIns.filter((r) => !bad.has(r.name));
    else issues.push(...secretIssues(user, standIns.filter((r) => !bad.has(r.name)), env));
    const vars: NodeJS.ProcessEnv = { ...env, ...found, ...Object.fromEntries(standIns.map((r) => [r.name, standIn(r.name)])) };
    userRaw = (substituteEnv(user, js ?? {}, vars, issues) as Record<string, unknown>) ?? {};
    // The values substitution put in (secrets, stand-ins, variables with a default that are set) are never shown.
    const used = new Set([...(JSON.stringify(js ?? {}).match(/\$\{[A-Za-z_][A-Za-z0-9_]*/g) ?? [])].map((m) => m.slice(2)));
    const values = Object.fromEntries([...used].flatMap((n) => (vars[n] === undefined ? [] : [[n, vars[n]!] as const])));
    redact = redactor(substitutedStrings(js ?? {}, userRaw), values);
  }
  const boardName = opts.board ?? (typeof userRaw.board === "string" ? userRaw.board : "sim");
  const board = loadBoard(boardName);
  const merged = mergeDefaults(board.defaults, { ...userRaw, board: boardName }) as Record<string, unknown>;
  if (opts.data !== undefined) merged.data = opts.data;

  const r = gatewayConfig.safeParse(merged);
  // The files the config names, checked whatever else is wrong (each check skips a value it cannot read).
  const files = opts.checkFiles
    ? fileChecks(merged, { dataDir: resolve(typeof merged.data === "string" ? merged.data : board.dataDir), skip: (p) => standIns.some((d) => startsWith(p, d.path)) })
    : [];
  const schemaIssues = [...(r.success ? [] : withSuggestions(gatewaySections, merged, r.error.issues)), ...files];
  if (schemaIssues.length) {
    // Locate each issue in the user's file where the key is there, else in the board's defaults.
    const boardSrc = new YamlSource(`boards/${boardName}.yaml`, readBoardText(boardName));
    // The checks across sections run before the sections (schema.ts), and the pipeline's own
    // topology check repeats some when the pipeline parses: one issue per place and code.
    const seen = new Set<string>();
    for (const is of schemaIssues) {
      // A deferred secret stands in for a value only the device has: its own checks run there.
      // A missing secret's stand-in likewise: the missing secret is the error, not what its stand-in fails.
      if (standIns.some((d) => fromDeferred(d, is))) continue;
      const located: ConfigIssue[] = [];
      if (user && hasPath(user, is.path)) located.push(...zodIssues(user, merged, [is]));
      else {
        const [bi] = zodIssues(boardSrc, { defaults: merged }, [{ ...is, path: ["defaults", ...is.path] }]);
        // the board's default pipeline reading from a driver the user's `drivers:` replaced
        const hint = is.path[0] === "pipeline" && user ? " (this is the board's default pipeline: give the config its own `pipeline:` section, or keep that driver name)" : "";
        // the line and column are the board file's: so is the file named
        if (bi) located.push({ ...bi, message: bi.message + hint, path: bi.path.replace(/^defaults\.?/, "") || "(root)" });
      }
      for (const i of located) {
        const key = `${i.file}\0${i.path}\0${i.code}${TOPOLOGY_CODES.has(i.code) ? "" : `\0${i.message}`}`;
        if (seen.has(key)) continue;
        seen.add(key);
        issues.push({ ...i, message: redact(i.message) });
      }
    }
  }
  if (issues.length) {
    const onlySecrets = issues.every((i) => i.code === "E_CONFIG_ENV");
    throw new ConfigError(
      // by position: the config file's first, then the board's defaults
      issues.sort((a, b) => Number(a.file !== label) - Number(b.file !== label) || a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col),
      onlySecrets ? "E_CONFIG_SECRET" : "E_CONFIG_INVALID",
    );
  }
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
      `${opts.file ?? "(config)"}: the config can only be checked with its secrets (${[...new Set(deferred.map((d) => d.name))].join(", ")}): give them (\`ridge flash --secret NAME=VALUE\` or \`--secret-file NAME=FILE\`; \`ridge config check\`: in the environment or $CREDENTIALS_DIRECTORY)`,
    );
  return { config: r.data, board, dataDir: resolve(r.data.data ?? board.dataDir), file: opts.file };
}

function readBoardText(name: string): string {
  return readFileSync(resolve(boardsDirFor(), `${name}.yaml`), "utf8");
}
