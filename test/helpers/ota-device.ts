/**
 * A device for OTA tests: a data directory with slot a holding a verified runtime 1.0.0, a
 * repository (made with Ridgeline's publisher) offering runtime bundles, and a way to build an
 * UpdateAgent the way the runtime does. Bundles are tiny: `dist/ridge.mjs` starts
 * test/helpers/ota-slot-runtime.ts with the bundle's version and behaviour.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { systemClock, SeededRandom, type Clock } from "../../core/clock.js";
import { silentLogger } from "../../core/log.js";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { writeBundle } from "../../ota/bundle-writer.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { writeMarker } from "../../ota/slot-marker.js";
import { UpdateAgent, type HealthResult, type UpdateAgentOptions } from "../../ota/update-agent.js";
import type { RepoFetcher } from "../../ota/tuf-client.js";
import type { Slot, UpdateState } from "../../ota/update-machine.js";
import { hostArch } from "../../boards/index.js";
import { makeRepo, type TestRepo } from "./ota-repo.js";

export const SLOT_RUNTIME = fileURLToPath(new URL("./ota-slot-runtime.ts", import.meta.url));
export const ARCH = hostArch();

export type Behaviour = "ok" | "crash" | "unhealthy" | "bad-config";

/** The bytes of a runtime bundle whose entry runs the slot test runtime with this version/behaviour. */
export async function runtimeBundle(dir: string, version: string, behaviour: Behaviour, padBytes = 0): Promise<string> {
  const src = join(dir, `src-${version}-${behaviour}`);
  mkdirSync(join(src, "dist"), { recursive: true });
  writeFileSync(
    join(src, "dist", "ridge.mjs"),
    `process.env.OTA_TEST_VERSION = ${JSON.stringify(version)};\nprocess.env.OTA_TEST_BEHAVIOUR = ${JSON.stringify(behaviour)};\nawait import(${JSON.stringify(SLOT_RUNTIME)});\n`,
  );
  const files = new Map([["dist/ridge.mjs", join(src, "dist", "ridge.mjs")]]);
  if (padBytes) {
    writeFileSync(join(src, "payload.bin"), Buffer.alloc(padBytes, 0x5a));
    files.set("data/payload.bin", join(src, "payload.bin"));
  }
  const out = join(dir, `runtime-${version}-${behaviour}.tar`);
  await writeBundle(out, { kind: "runtime", version, board: "sim", arch: ARCH, entry: "dist/ridge.mjs", files });
  return out;
}

export interface TestDevice {
  repo: TestRepo;
  dataDir: string;
  slot(s: Slot): string;
  bootFile: string;
  /** Publish a runtime bundle in the repository. */
  publish(version: string, behaviour: Behaviour, padBytes?: number, opts?: { chunks?: boolean }): Promise<string>;
  agent(o: Partial<UpdateAgentOptions> & { booted: Slot; mirrors?: RepoFetcher[]; states?: UpdateState[]; health?: HealthResult }): UpdateAgent;
  cleanup(): void;
}

export async function makeDevice(): Promise<TestDevice> {
  const repo = await makeRepo({ now: Date.now() });
  const base = join(repo.dir, "..");
  const dataDir = join(base, "data");
  const slot = (s: Slot) => join(dataDir, "slots", s);
  mkdirSync(dataDir, { recursive: true });
  // slot a: a verified runtime 1.0.0, as `ridge flash` leaves it
  const first = await runtimeBundle(base, "1.0.0", "ok");
  const x = new BundleExtractor(slot("a"));
  const { readFileSync } = await import("node:fs");
  x.push(readFileSync(first));
  const m = x.finish();
  writeMarker(slot("a"), { version: "1.0.0", target: "factory", sha256: "0".repeat(64), board: "sim", arch: ARCH, entry: m.entry!, installedAt: new Date(0).toISOString() });
  writeFileSync(join(dataDir, "root.json"), repo.rootV1);
  const bootFile = join(dataDir, "boot", "bootctl.json");
  const dbs: Database.Database[] = [];
  return {
    repo,
    dataDir,
    slot,
    bootFile,
    async publish(version, behaviour, padBytes = 0, opts = {}) {
      const f = await runtimeBundle(base, version, behaviour, padBytes);
      const name = `runtime-sim-${version}.tar`;
      await repo.repo.addTarget(f, name, { kind: "runtime", version, boards: ["sim"], arch: [ARCH] }, opts);
      repo.repo.sign(repo.all());
      return name;
    },
    agent(o) {
      const db = new Database(join(dataDir, "ridgeline.db"));
      db.pragma("journal_mode = WAL");
      dbs.push(db);
      const clock: Clock = o.clock ?? { ...systemClock, sleep: () => Promise.resolve() };
      const a = new UpdateAgent({
        db,
        clock,
        random: new SeededRandom(7),
        log: silentLogger,
        bootControl: new FileBootControl({ file: bootFile, attempts: 3, booted: o.booted }),
        board: { name: "sim", arch: ARCH },
        slotDir: slot,
        workDir: join(dataDir, "ota", "download"),
        mirrors: o.mirrors ?? [],
        runningVersion: "1.0.0",
        attempts: 3,
        healthUpForMs: 0,
        healthChecks: [() => o.health ?? { ok: true }],
        requestRestart: () => {},
        publish: (st) => o.states?.push(st),
        ...o,
      });
      if (!a.store.get("root")) a.store.put("root", repo.rootV1);
      return a;
    },
    cleanup() {
      for (const d of dbs) if (d.open) d.close();
      repo.cleanup();
    },
  };
}
