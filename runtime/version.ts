// Replaced at bundle time by esbuild's `define`; from source it reads package.json.
declare const __RIDGE_VERSION__: string | undefined;
import { createRequire } from "node:module";

export const VERSION: string =
  typeof __RIDGE_VERSION__ === "string" ? __RIDGE_VERSION__ : (createRequire(import.meta.url)("../package.json") as { version: string }).version;
