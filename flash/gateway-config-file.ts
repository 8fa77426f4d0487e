/**
 * /etc/ridgeline/gateway.yaml for a flashed device: the operator's config file (comments kept) or
 * an empty one, with what the flash options decide set on top (gateway id, board, data directory,
 * cloud URL with the identity files). Validation is the runtime's schema, injected by the caller:
 * boards/ does not import runtime/.
 */
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import type { AttestConfig } from "../attest/index.js";
import { ConfigError, formatPath, RidgeError, type ConfigIssue } from "../core/index.js";
import type { DeviceLayout } from "./device-layout.js";
import { posix } from "node:path";

export interface ValidatedConfig {
  gatewayId: string;
  /** Device nodes named by the config (serial ports of drivers): the unit allows them. */
  devicePaths: string[];
  /** The attest section as validated (defaults applied), when the config has one. */
  attest: AttestConfig | undefined;
  /** The configured drivers: the attestation component measures each one at start. */
  drivers: { name: string; kind: string }[];
  /** cloud.mqtt.cert (relative: in the data directory), when the config has a cloud link with a client certificate. */
  cloudCert?: string | undefined;
}

/**
 * Validates config text for a board exactly as `ridge run` will; throws ConfigError (exit 2) when
 * invalid, locating issues in `label`.
 */
export type ConfigValidator = (yamlText: string, boardName: string, label: string) => ValidatedConfig;

export interface ConfigFileInput {
  boardName: string;
  boardDataDir: string;
  layout: DeviceLayout;
  /** The operator's config YAML (--config), if any. */
  userText: string | undefined;
  userLabel: string | undefined;
  gatewayId: string | undefined;
  cloudUrl: string | undefined;
}

/** The gateway id the user text names, if any (before validation). */
export function gatewayIdIn(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const id = parseDocument(text).getIn(["gateway", "id"]);
  return typeof id === "string" ? id : undefined;
}

/** The two header lines composeConfigFile puts on top: dropped from a config that already has them. */
const HEADER_LINES = [/^# Ridgeline gateway config, laid down by `ridge flash` for board \S+\.$/, /^# The board file supplies defaults; keys here override them\. Check: ridge config check FILE$/];

/** `text` without the header an earlier flash put on it (and the blank line after it), so composing again adds it once. */
export function withoutFlashHeader(text: string): string {
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length && HEADER_LINES.some((re) => re.test(lines[i]!.replace(/\r$/, "")))) i++;
  if (i === 0) return text;
  if (i < lines.length && lines[i]!.trim() === "") i++;
  return lines.slice(i).join("\n");
}

export function composeConfigFile(input: ConfigFileInput, gatewayId: string): string {
  const doc = input.userText !== undefined ? parseDocument(withoutFlashHeader(input.userText)) : new Document({});
  if (doc.errors.length) throw new RidgeError("E_FLASH_CONFIG", `${input.userLabel ?? "config"}: ${doc.errors[0]!.message}`);
  if (doc.contents === null || doc.contents === undefined) doc.contents = doc.createNode({}) as never;
  if (!isMap(doc.contents)) throw new RidgeError("E_FLASH_CONFIG", `${input.userLabel ?? "config"}: expected a mapping at the top level`);
  doc.setIn(["gateway", "id"], gatewayId);
  doc.setIn(["board"], input.boardName);
  if (input.layout.dataDir !== input.boardDataDir) doc.setIn(["data"], input.layout.dataDir);
  if (input.cloudUrl !== undefined) {
    doc.setIn(["cloud", "mqtt", "url"], input.cloudUrl);
    // Mutual TLS with the identity made here; id.crt is what the cloud's CA returns for id.csr.
    if (/^(mqtts|wss):/.test(input.cloudUrl)) {
      doc.setIn(["cloud", "mqtt", "key"], posix.basename(input.layout.identityKey));
      doc.setIn(["cloud", "mqtt", "cert"], "id.crt");
    }
  }
  const header = [
    `# Ridgeline gateway config, laid down by \`ridge flash\` for board ${input.boardName}.`,
    "# The board file supplies defaults; keys here override them. Check: ridge config check FILE",
  ].join("\n");
  const body = doc.toString({ lineWidth: 0 });
  return `${header}\n${body.startsWith("#") ? "\n" : ""}${body}`;
}

type Seg = { key: string | number; isKey: boolean };

const inRange = (n: Node | null | undefined, offset: number): boolean => !!n?.range && offset >= n.range[0] && offset < Math.max(n.range[2], n.range[0] + 1);

/** The path to the deepest key or value at `offset` in a parsed document. */
function pathAt(node: unknown, offset: number, out: Seg[] = []): Seg[] {
  if (isMap(node))
    for (const p of node.items) {
      const k = p.key as Node | null;
      if (!isScalar(k)) continue;
      if (inRange(k, offset)) return [...out, { key: String(k.value), isKey: true }];
      if (inRange(p.value as Node | null, offset)) return pathAt(p.value, offset, [...out, { key: String(k.value), isKey: false }]);
    }
  else if (isSeq(node))
    for (let i = 0; i < node.items.length; i++) if (inRange(node.items[i] as Node | null, offset)) return pathAt(node.items[i], offset, [...out, { key: i, isKey: false }]);
  return out;
}

/** `drivers[0].modbus.port` as segments (an issue's formatted path). */
function parseIssuePath(path: string): Seg[] {
  if (path === "(root)" || path === "(syntax)") return [];
  return [...path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)].map((m) => ({ key: m[1] !== undefined ? Number(m[1]) : m[2]!, isKey: false }));
}

/** Where `segs` is in the document (the key itself when the last one is a key), else its nearest ancestor. */
function locateIn(doc: Document, lines: LineCounter, segs: readonly Seg[]): { line: number; col: number } {
  let node: unknown = doc.contents;
  let best = { line: 1, col: 1 };
  const at = (n: unknown) => {
    const r = (n as Node | null | undefined)?.range;
    if (r) best = lines.linePos(r[0]);
  };
  at(node);
  for (const s of segs) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(s.key));
      if (!pair) break;
      if (s.isKey) {
        at(pair.key);
        break;
      }
      node = pair.value;
      at(pair.value ?? pair.key);
    } else if (isSeq(node) && typeof s.key === "number" && node.items[s.key]) {
      node = node.items[s.key];
      at(node);
    } else break;
  }
  return best;
}

/**
 * Issues the validator found in the composed file, moved to where the same key or value is in the
 * operator's own file (the composed one has the header on top and is laid out again by the YAML
 * printer): `site.yaml:3:1`, the line `ridge config check site.yaml` names.
 */
export function relocateIssues(err: ConfigError, composedText: string, userText: string, label: string): ConfigError {
  const cLines = new LineCounter();
  const composed = parseDocument(composedText, { lineCounter: cLines });
  const uLines = new LineCounter();
  const user = parseDocument(userText, { lineCounter: uLines });
  const issues: ConfigIssue[] = err.issues.map((is) => {
    if (is.file !== label || is.path === "(syntax)") return is;
    const start = cLines.lineStarts[is.line - 1];
    const found = start === undefined ? [] : pathAt(composed.contents, start + is.col - 1);
    const f = formatPath(found.map((s) => s.key));
    // An issue placed in the board's defaults carries its position in the board file: go by its path.
    const genuine = found.length === 0 ? is.path === "(root)" : is.path === f || is.path.startsWith(`${f}.`) || is.path.startsWith(`${f}[`);
    return { ...is, file: label, ...locateIn(user, uLines, genuine ? found : parseIssuePath(is.path)) };
  });
  issues.sort((a, b) => a.line - b.line || a.col - b.col);
  return new ConfigError(issues, err.code);
}

/**
 * The config file for the device, validated as `ridge run` will read it. Every issue is reported in
 * the operator's file under one label (`label`): a syntax error as the validator finds it in that
 * file, a schema issue at the key's line there rather than in the composed file.
 */
export function composeValidatedConfig(input: ConfigFileInput, gatewayId: string, validate: ConfigValidator, label: string): { text: string; validated: ValidatedConfig } {
  if (input.userText !== undefined && parseDocument(input.userText).errors.length) validate(input.userText, input.boardName, label);
  const text = composeConfigFile(input, gatewayId);
  try {
    return { text, validated: validate(text, input.boardName, label) };
  } catch (e) {
    if (e instanceof ConfigError && input.userText !== undefined) throw relocateIssues(e, text, input.userText, label);
    throw e;
  }
}
