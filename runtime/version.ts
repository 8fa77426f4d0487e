// The version of the runtime that runs: the package.json beside the code (a slot's own
// package.json carries the slot's version, which `ridge ota bundle --version` and `ridge flash`
// write; in a source checkout it is the repository's), else the version esbuild's `define` baked in.
declare const __RIDGE_VERSION__: string | undefined;
import { createRequire } from "node:module";

function packageVersion(): string | undefined {
  try {
    const v = (createRequire(import.meta.url)("../package.json") as { version?: unknown }).version;
    return typeof v === "string" && v ? v : undefined;
  } catch {
    return undefined;
  }
}

export const VERSION: string = packageVersion() ?? (typeof __RIDGE_VERSION__ === "string" ? __RIDGE_VERSION__ : "0.0.0");
