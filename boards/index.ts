/**
 * Board definitions: one YAML per board beside this file, validated by the same schema machinery
 * as the gateway config. Found relative to this module, so it works from source and from the bundle.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RidgeError, parseYamlWith } from "../core/index.js";
import { boardSchema, type Board } from "./schema.js";

export { boardSchema, type Board } from "./schema.js";
export { CREDENTIAL_PREFIX, DEVICE_CREDENTIALS_DIR, LAST_EXIT_REL } from "./device-paths.js";

export function boardsDir(): string {
  const env = process.env.RIDGE_BOARDS_DIR;
  if (env) return env;
  for (const rel of ["./", "../boards/", "./boards/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, "sim.yaml"))) return dir;
  }
  throw new RidgeError("E_BOARD_DIR", "cannot find the boards/ folder beside the runtime; set RIDGE_BOARDS_DIR");
}

export function listBoards(): string[] {
  return readdirSync(boardsDir())
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function loadBoard(name: string): Board {
  if (!/^[a-z0-9-]+$/.test(name) || !listBoards().includes(name))
    throw new RidgeError("E_BOARD_UNKNOWN", `unknown board "${name}": known boards are ${listBoards().join(", ")}`);
  const file = join(boardsDir(), `${name}.yaml`);
  const { value } = parseYamlWith(`boards/${name}.yaml`, readFileSync(file, "utf8"), boardSchema);
  if (value.name !== name) throw new RidgeError("E_BOARD_INVALID", `boards/${name}.yaml declares name "${value.name}"`);
  if (value.hostArch) value.arch = hostArch();
  return value;
}

export function hostArch(): Board["arch"] {
  switch (process.arch) {
    case "arm64":
      return "arm64";
    case "riscv64":
      return "riscv64";
    default:
      return "x64";
  }
}
