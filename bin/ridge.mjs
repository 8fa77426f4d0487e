#!/usr/bin/env node
// The `ridge` command: the esbuild bundle when built (`npm run bundle`), else the TypeScript source through tsx.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = fileURLToPath(new URL("../dist/ridge.mjs", import.meta.url));
if (existsSync(bundle)) {
  await import(bundle);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../runtime/cli/entry.ts");
}
