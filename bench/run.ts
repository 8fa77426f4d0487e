/**
 * `npm run bench [-- NAME…]`: run every bench/*.ts (or the named ones), each in its own process,
 * started with the gateway's launch environment and V8 options (core/launch-env.ts) so what is
 * measured runs as the product does.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LAUNCH_ENV, LAUNCH_NODE_FLAGS } from "../core/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here).filter((f) => f.endsWith(".ts") && !f.startsWith(".") && !["run.ts", "harness.ts"].includes(f)).map((f) => f.slice(0, -3)).sort();
const want = process.argv.slice(2);
const unknown = want.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(", ")}; available: ${all.join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const name of want.length ? want : all) {
  console.log(`\n== bench ${name}`);
  const r = spawnSync(process.execPath, [...LAUNCH_NODE_FLAGS, "--import", "tsx", join(here, `${name}.ts`)], { stdio: "inherit", env: { ...process.env, ...LAUNCH_ENV } });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
