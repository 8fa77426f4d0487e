import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseCommand } from "../args.js";

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, { usage: "ridge bench [NAME…]", summary: "Run the benchmarks (from a source checkout): each prints a table beside its baseline.", options: {} });
  if (!a) return 0;
  const runner = ["../../../bench/run.ts", "../bench/run.ts"].map((p) => fileURLToPath(new URL(p, import.meta.url))).find(existsSync);
  if (!runner) {
    console.error("ridge bench needs a source checkout (bench/ is not shipped in a slot)");
    return 1;
  }
  return spawnSync(process.execPath, ["--import", "tsx", runner, ...a.positionals], { stdio: "inherit" }).status ?? 1;
}
