/**
 * `npm run soak`: the long versions of the fault tests, too slow for CI.
 *   RIDGE_SOAK_SECONDS (default 600): how long the broker keeps flapping under load
 *   RIDGE_SOAK_FUZZ_RUNS (default 20000): hostile inputs per fuzz property
 * Each runs through the normal test runner, so the last line is again `N passed, N failed`.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const seconds = Number(process.env.RIDGE_SOAK_SECONDS ?? 600);
const fuzzRuns = Number(process.env.RIDGE_SOAK_FUZZ_RUNS ?? 20_000);
const env = {
  ...process.env,
  RIDGE_FLAP_SECONDS: String(seconds),
  RIDGE_FUZZ_RUNS: String(fuzzRuns),
  RIDGE_TEST_FILE_TIMEOUT_MS: String((seconds + 600) * 1000),
  RIDGE_TEST_JOBS: "1",
};
console.log(`soak: broker flaps under load for ${seconds} s, ${fuzzRuns} hostile inputs per fuzz property`);
const r = spawnSync(process.execPath, ["--import", "tsx", "test/run.ts", "cloud-link-flap", "attest-hostile", "mqtt-hostile", "modbus-hostile", "lwm2m-flood"], { cwd: root, env, stdio: "inherit" });
process.exit(r.status ?? 1);
