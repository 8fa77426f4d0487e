import { RidgeError } from "../../../core/errors.js";
import { loadConfig } from "../../config/load.js";
import { parseCommand } from "../args.js";

const spec = {
  usage: "ridge config check FILE [--board NAME]",
  summary: "Validate a gateway config (with its board's defaults) and print every error with file:line:col and path. Exit 2 when invalid.",
  options: { board: { type: "string" } },
} as const;

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  const [sub, file] = a.positionals;
  if (sub !== "check" || !file) throw new RidgeError("E_USAGE", "config", `usage: ${spec.usage}`);
  const { config, board, dataDir } = loadConfig({ file, board: a.values.board });
  console.log(`${file}: ok (gateway ${config.gateway.id}, board ${board.name}, ${config.drivers.length} driver(s), ${config.devices.length} device(s), data ${dataDir})`);
  return 0;
}
