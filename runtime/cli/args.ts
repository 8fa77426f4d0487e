/** Small shared CLI plumbing: option parsing with --help on every command, and exit codes. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { RidgeError, errorMessage, ConfigError } from "../../core/index.js";

/** `restart` asks the launcher (`ridge boot`) to start the runtime again; it is ota's EXIT_RESTART (a test holds them equal). */
export const EXIT = { ok: 0, failure: 1, badConfig: 2, usage: 64, restart: 75 } as const;

export interface CommandSpec<O extends NonNullable<ParseArgsConfig["options"]>> {
  usage: string;
  summary: string;
  options: O;
  /** Extra help text: the options explained. */
  details?: string;
}

export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], spec: CommandSpec<O>) {
  const options = { ...spec.options, help: { type: "boolean", short: "h" } } as O & { help: { type: "boolean"; short: "h" } };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new RidgeError("E_USAGE", `${errorMessage(e)}\nusage: ${spec.usage}`);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    console.log(`usage: ${spec.usage}\n\n${spec.summary}${spec.details ? `\n\n${spec.details}` : ""}`);
    return undefined;
  }
  return parsed;
}

/** Print an error the way an operator can act on it and return the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof ConfigError) {
    console.error(e.message);
    console.error(`${e.issues.length} config error${e.issues.length === 1 ? "" : "s"} (${e.code})`);
    return EXIT.badConfig;
  }
  if (e instanceof RidgeError) {
    console.error(`error ${e.code}: ${e.message}`);
    return e.code === "E_USAGE" ? EXIT.usage : e.category === "config" ? EXIT.badConfig : EXIT.failure;
  }
  console.error(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT.failure;
}
