import { RidgeError } from "../../../core/index.js";
import { loadConfig } from "../../config/load.js";
import { parseCommand } from "../args.js";

const spec = {
  usage: "ridge config check FILE [--board NAME] [--defer-secrets]",
  summary: "Validate a gateway config (with its board's defaults) and print every error with file:line:col and path. Exit 2 when invalid.",
  details: [
    "A `${NAME}` secret is resolved as on the device: $CREDENTIALS_DIRECTORY/NAME, $CREDENTIALS_DIRECTORY/ridgeline_NAME, else the",
    "environment variable NAME. One that is nowhere is one error in the list (the rest of the file is still checked).",
    "Error messages never show a secret's value, only ${NAME}.",
    "",
    "  --board NAME       the board whose defaults apply (default: the file's `board:`, else sim)",
    "  --defer-secrets    check without the secrets (on a laptop): accept a `${NAME}` not resolvable here and list",
    "                     it as not checked; exit 0 when nothing else is wrong. Alias: --no-secrets",
  ].join("\n"),
  options: { board: { type: "string" }, "defer-secrets": { type: "boolean" }, "no-secrets": { type: "boolean" } },
} as const;

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  const [sub, file] = a.positionals;
  if (sub !== "check" || !file) throw new RidgeError("E_USAGE", `usage: ${spec.usage}`);
  const deferSecrets = a.values["defer-secrets"] === true || a.values["no-secrets"] === true;
  const { config, board, dataDir, deferredSecrets } = loadConfig({ file, board: a.values.board, deferSecrets });
  console.log(`${file}: ok (gateway ${config.gateway.id}, board ${board.name}, ${config.drivers.length} driver(s), ${config.devices.length} device(s), data ${dataDir})`);
  if (deferredSecrets.length)
    console.log(`${file}: secrets not resolved here, so not checked: ${deferredSecrets.map((n) => `\${${n}}`).join(", ")} (the gateway needs them where it runs)`);
  return 0;
}
