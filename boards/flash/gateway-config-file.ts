/**
 * /etc/ridgeline/gateway.yaml for a flashed device: the operator's config file (comments kept) or
 * an empty one, with what the flash options decide set on top (gateway id, board, data directory,
 * cloud URL with the identity files). Validation is the runtime's schema, injected by the caller:
 * boards/ does not import runtime/.
 */
import { Document, isMap, parseDocument } from "yaml";
import type { AttestConfig } from "../../attest/index.js";
import { RidgeError } from "../../core/errors.js";
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

export function composeConfigFile(input: ConfigFileInput, gatewayId: string): string {
  const doc = input.userText !== undefined ? parseDocument(input.userText) : new Document({});
  if (doc.errors.length) throw new RidgeError("E_FLASH_CONFIG", "config", `${input.userLabel ?? "config"}: ${doc.errors[0]!.message}`);
  if (doc.contents === null || doc.contents === undefined) doc.contents = doc.createNode({}) as never;
  if (!isMap(doc.contents)) throw new RidgeError("E_FLASH_CONFIG", "config", `${input.userLabel ?? "config"}: expected a mapping at the top level`);
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
