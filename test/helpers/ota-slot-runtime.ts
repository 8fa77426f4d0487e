/**
 * The runtime inside test bundles (started by `ridge boot` from a slot): the real UpdateAgent
 * with the real FileBootControl and SQLite state, without the rest of the gateway. Its bundle's
 * entry sets OTA_TEST_VERSION and OTA_TEST_BEHAVIOUR (ok | crash | unhealthy | bad-config: refuses the
 * config as `ridge run` does, the reason in last-exit.json and exit 2).
 *
 *   argv: run --board sim --data DIR           (as the launcher passes them)
 *   OTA_TEST_REPO            repository URL or directory
 *   RIDGE_OTA_CRASH_AT       a crash point (`state:<name>`, `mid-download`, `mid-write`): at it,
 *                            kill -9 the launcher and this process (a power cut), once
 *                            (OTA_TEST_CRASH_ONCE names the file that records it happened)
 * It exits 0 once the update settles (committed, rolled-back, failed, idle) so the launcher stops.
 */
import { existsSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { systemClock, systemRandom } from "../../core/clock.js";
import { EXIT_RESTART, silentLogger } from "../../core/index.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { fetcherFor } from "../../ota/repo-fetchers.js";
import { UpdateAgent } from "../../ota/update-agent.js";
import { bootedSlotFromEnv } from "../../ota/boot-control-for-board.js";
import { hostArch } from "../../boards/index.js";
import { writeLastExit } from "../../runtime/cli/last-exit.js";
import { trialConfigRefusal } from "../../runtime/update/index.js";

const args = process.argv.slice(2);
const dataDir = args[args.indexOf("--data") + 1]!;
const version = process.env.OTA_TEST_VERSION ?? "0.0.0";
const behaviour = process.env.OTA_TEST_BEHAVIOUR ?? "ok";
const booted = bootedSlotFromEnv()!;
const journal = join(dataDir, "journal.log");
appendFileSync(journal, `start slot=${booted} version=${version} behaviour=${behaviour}\n`);

if (behaviour === "bad-config") {
  appendFileSync(journal, `bad-config slot=${booted}\n`);
  writeLastExit(dataDir, { exit: 2, code: "E_CONFIG_INVALID", message: "gateway.yaml:3:3 ota.health.bogus: unrecognized key (this runtime's schema)", slot: booted });
  process.exit(2);
}

if (behaviour === "crash") {
  appendFileSync(journal, `crash slot=${booted}\n`);
  process.exit(1);
}

const crashAt = process.env.RIDGE_OTA_CRASH_AT;
const once = process.env.OTA_TEST_CRASH_ONCE;
const crashPoint = (p: string) => {
  if (!crashAt || p !== crashAt || (once && existsSync(once))) return;
  if (once) writeFileSync(once, p);
  appendFileSync(journal, `power-cut at ${p}\n`);
  try {
    process.kill(process.ppid, "SIGKILL");
  } catch {
    /* launcher already gone */
  }
  process.kill(process.pid, "SIGKILL");
};

const db = new Database(join(dataDir, "ridgeline.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
let restart = false;
const agent = new UpdateAgent({
  db,
  clock: systemClock,
  random: systemRandom,
  log: { ...silentLogger, warn: (o, m) => appendFileSync(journal, `warn ${m} ${JSON.stringify(o)}\n`), error: (o, m) => appendFileSync(journal, `error ${m} ${JSON.stringify(o)}\n`) },
  bootControl: new FileBootControl({ file: join(dataDir, "boot", "bootctl.json"), attempts: 3, booted }),
  board: { name: "sim", arch: hostArch() },
  slotDir: (s) => join(dataDir, "slots", s),
  workDir: join(dataDir, "ota", "download"),
  mirrors: [fetcherFor(process.env.OTA_TEST_REPO!)],
  runningVersion: version,
  attempts: 3,
  healthUpForMs: 50,
  healthChecks: [() => (behaviour === "unhealthy" ? { ok: false, reason: "drivers down: test" } : { ok: true })],
  requestRestart: (r) => {
    appendFileSync(journal, `restart: ${r}\n`);
    restart = true;
  },
  publish: (st) => appendFileSync(join(dataDir, "published.log"), `${JSON.stringify(st)}\n`),
  crashPoint,
  downloadRetries: 20,
  bootFailure: (slot) => trialConfigRefusal(dataDir, slot),
});
if (!agent.store.get("root")) {
  const { readFileSync } = await import("node:fs");
  agent.store.put("root", new Uint8Array(readFileSync(join(dataDir, "root.json"))));
}

await agent.boot();
if (!restart && agent.state().s === "trial") {
  await new Promise((r) => setTimeout(r, 80));
  await agent.runHealth();
}
if (!restart && (agent.state().s === "idle" || agent.state().s === "committed" || agent.state().s === "rolled-back" || agent.state().s === "failed")) {
  // a settled runtime on this slot: look for an update once (the first boot of the old runtime finds it)
  // (and after a rollback, once the test removes the file: the next poll must not take the bad target again)
  if (!existsSync(join(dataDir, "checked"))) {
    writeFileSync(join(dataDir, "checked"), "1");
    await agent.check("poll");
  }
}
// up long enough for the confirm (healthUpForMs): a real runtime runs for hours, and a slot that
// stops before it is never confirmed and spends its attempts
if (!restart) await new Promise((r) => setTimeout(r, 80));
appendFileSync(journal, `stop slot=${booted} state=${agent.state().s}${restart ? " restart" : ""}\n`);
db.close();
process.exit(restart ? EXIT_RESTART : 0);
