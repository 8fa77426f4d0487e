/**
 * The gateway's secrets on a flashed device: `${NAME}` in the config is resolved on the device when
 * the gateway starts (runtime/config/load.ts), from the credential the unit loads from
 * /etc/ridgeline/credentials/NAME (one file per secret, root's, mode 0600: systemd copies it for
 * the service user). `ridge flash --secret NAME=VALUE` and `--secret-file NAME=PATH` place them;
 * the machine that flashes never needs the variables set.
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, parseDocument, type Node } from "yaml";
import { RidgeError } from "../core/index.js";

export interface DeviceSecret {
  name: string;
  value: Uint8Array;
  /** Where it came from, for the flash report (never the value). */
  from: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function split(spec: string, flag: string): [string, string] {
  const i = spec.indexOf("=");
  const name = i > 0 ? spec.slice(0, i) : "";
  if (!NAME.test(name)) throw new RidgeError("E_FLASH_SECRET", `${flag} ${i > 0 ? name : spec}: expected NAME=${flag === "--secret" ? "VALUE" : "PATH"} with NAME as in \${NAME} (letters, digits, _)`);
  return [name, spec.slice(i + 1)];
}

/** --secret NAME=VALUE and --secret-file NAME=PATH, in that order; a name given twice is refused. */
export function parseSecretOptions(values: readonly string[] = [], files: readonly string[] = []): DeviceSecret[] {
  const out: DeviceSecret[] = [];
  for (const v of values) {
    const [name, value] = split(v, "--secret");
    out.push({ name, value: new TextEncoder().encode(value), from: "--secret" });
  }
  for (const f of files) {
    const [name, path] = split(f, "--secret-file");
    let value: Uint8Array;
    try {
      value = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new RidgeError("E_FLASH_SECRET", `--secret-file ${name}=${path}: ${(e as Error).message}`);
    }
    out.push({ name, value, from: `--secret-file ${path}` });
  }
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.name)) throw new RidgeError("E_FLASH_SECRET", `secret ${s.name} is given twice`);
    seen.add(s.name);
  }
  return out;
}

/** The secrets as the environment the flash-time validator resolves `${NAME}` from. */
export function secretsEnv(secrets: readonly DeviceSecret[]): Record<string, string> {
  return Object.fromEntries(secrets.map((s) => [s.name, new TextDecoder().decode(s.value).replace(/\r?\n$/, "")]));
}

/** `${NAME}` (without a `:-default`) in the values of a config file, in order, once each. */
export function referencedSecrets(yamlText: string): string[] {
  const names = new Set<string>();
  const visit = (n: Node | null | undefined): void => {
    if (!n) return;
    if (isScalar(n)) {
      if (typeof n.value === "string") for (const m of n.value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) if (m[2] === undefined) names.add(m[1]!);
    } else if (isMap(n)) for (const p of n.items) visit(p.value as Node | null);
    else if (isSeq(n)) for (const i of n.items) visit(i as Node | null);
  };
  visit(parseDocument(yamlText).contents as Node | null);
  return [...names];
}
