import { RidgeError } from "../../../core/index.js";
import { loadConfig } from "../../config/load.js";
import { showConfig } from "../../config/show.js";
import { parseCommand } from "../args.js";

const spec = {
  usage: "ridge config check FILE [--board NAME] [--defer-secrets] [--skip-files] | ridge config show [--board NAME] [--defer-secrets] FILE",
  summary:
    "check: validate a gateway config (with its board's defaults) and print every error at once, sorted by position, with file:line:col and path. Exit 2 when invalid.\n" +
    "show: print the config the gateway would run with (board defaults + file + environment + the schema's defaults), each value with where it came from; secrets masked.",
  details: [
    "A `${NAME}` secret is resolved as on the device: $CREDENTIALS_DIRECTORY/NAME, $CREDENTIALS_DIRECTORY/ridgeline_NAME, else the",
    "environment variable NAME. One that is nowhere is one error in the list (the rest of the file is still checked).",
    "Error messages never show a secret's value, only ${NAME}; `show` prints a secret as it is written (${NAME}) and",
    "password, token and PSK key fields as ***.",
    "",
    "check also reads the files the config names (TLS certificates, keys and CAs, model files), resolved as the gateway",
    "resolves them (cloud.mqtt files and model files against the data directory, an MQTT driver's against the working",
    "directory): each one missing or unreadable is an error with its field.",
    "",
    "  --board NAME       the board whose defaults apply (default: the file's `board:`, else sim)",
    "  --defer-secrets    check without the secrets (on a laptop): accept a `${NAME}` not resolvable here and list",
    "                     it as not checked; exit 0 when nothing else is wrong. Alias: --no-secrets",
    "  --skip-files       check: do not read the files the config names (checking on another machine than the gateway)",
  ].join("\n"),
  options: { board: { type: "string" }, "defer-secrets": { type: "boolean" }, "no-secrets": { type: "boolean" }, "skip-files": { type: "boolean" } },
} as const;

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  const [sub, file] = a.positionals;
  if ((sub !== "check" && sub !== "show") || !file || a.positionals.length > 2) throw new RidgeError("E_USAGE", `usage: ${spec.usage}`);
  const deferSecrets = a.values["defer-secrets"] === true || a.values["no-secrets"] === true;
  if (sub === "show") {
    process.stdout.write(showConfig({ file, board: a.values.board, deferSecrets }).text);
    return 0;
  }
  const { config, board, dataDir, deferredSecrets } = loadConfig({ file, board: a.values.board, deferSecrets, checkFiles: a.values["skip-files"] !== true });
  console.log(`${file}: ok (gateway ${config.gateway.id}, board ${board.name}, ${config.drivers.length} driver(s), ${config.devices.length} device(s), data ${dataDir})`);
  if (deferredSecrets.length)
    console.log(`${file}: secrets not resolved here, so not checked: ${deferredSecrets.map((n) => `\${${n}}`).join(", ")} (the gateway needs them where it runs)`);
  return 0;
}
