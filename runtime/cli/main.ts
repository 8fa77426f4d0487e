/**
 * `ridge`: the one CLI. Subcommands load lazily so `ridge run` starts without loading the OTA
 * publisher or the attestation verifier.
 */
import { VERSION } from "../version.js";
import { EXIT, reportError } from "./args.js";

export interface Command {
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: "run the gateway", load: () => import("./commands/run.js") },
  config: { summary: "check a gateway config file (config check FILE)", load: () => import("./commands/config.js") },
  status: { summary: "show the running gateway's status", load: () => import("./commands/status.js") },
  pipeline: { summary: "pipeline operations (reload)", load: () => import("./commands/pipeline.js") },
  ota: { summary: "OTA: keys, repository, bundles, signing, install state", load: () => import("./commands/ota.js") },
  boot: { summary: "A/B launcher: start the runtime from the slot BootControl chooses", load: () => import("./commands/ota.js").then((m) => ({ run: m.boot })) },
  attest: { summary: "attestation: measurements, quotes, verification", load: () => import("./commands/attest.js") },
  flash: { summary: "lay the runtime onto a device root", load: () => import("./commands/flash.js") },
  bench: { summary: "run the benchmarks", load: () => import("./commands/bench.js") },
  mqtt: { summary: "MQTT helpers (hash-password for the embedded broker)", load: () => import("./commands/mqtt.js") },
};

function help(): string {
  const w = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    `ridge ${VERSION}: the Ridgeline gateway runtime`,
    "",
    "usage: ridge <command> [options]   (ridge <command> --help for each)",
    "",
    ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(w)}  ${c.summary}`),
    "",
    "  --version   print the version",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(help());
    return cmd === undefined ? EXIT.usage : EXIT.ok;
  }
  if (cmd === "--version" || cmd === "-v") {
    console.log(VERSION);
    return EXIT.ok;
  }
  const c = commands[cmd];
  if (!c) {
    console.error(`unknown command "${cmd}"\n\n${help()}`);
    return EXIT.usage;
  }
  try {
    return await (await c.load()).run(rest);
  } catch (e) {
    return reportError(e);
  }
}
