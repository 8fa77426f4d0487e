#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768 node --interrupt-budget=1000000 --bytecode-old-age=1 --v8-pool-size=1
// The `ridge` command: the esbuild bundle when built (`npm run bundle`), else the TypeScript source through tsx
// (a source checkout: tsx is a dev dependency). The `#!` line is core/launch-env.ts's (a test keeps them equal).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = fileURLToPath(new URL("../dist/ridge.mjs", import.meta.url));
// RIDGE_FROM_SOURCE=1 forces the source (tests: never a stale bundle).
if (existsSync(bundle) && !process.env.RIDGE_FROM_SOURCE) {
  await import(bundle);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../runtime/cli/entry.ts");
}
