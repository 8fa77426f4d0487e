/**
 * Runs `ridge boot` (the real launcher, from source) as a child process against a test device,
 * the way systemd would after a (re)boot, bounded in time and stopped by PID.
 */
import { readFileSync, existsSync } from "node:fs";
import Database from "better-sqlite3";
import { readMarker } from "../../ota/slot-marker.js";
import { makeDevice } from "./ota-device.js";
import { serveRepo } from "./ota-http.js";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startPeer } from "../../peers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface BootRun {
  code: number | null;
  signal: string | null;
  output: string;
}

export async function bootOnce(dataDir: string, env: Record<string, string>, maxSeconds = 60): Promise<BootRun> {
  const p = startPeer(process.execPath, ["--import", "tsx", join(ROOT, "runtime/cli/entry.ts"), "boot", "--board", "sim", "--data", dataDir], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    maxSeconds,
  });
  const code = await p.exited;
  return { code, signal: p.child.signalCode, output: p.output() };
}

export function journal(dataDir: string): string[] {
  const f = join(dataDir, "journal.log");
  return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
}

export function published(dataDir: string): { s: string; code?: string }[] {
  const f = join(dataDir, "published.log");
  return existsSync(f)
    ? readFileSync(f, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { s: string; code?: string })
    : [];
}

export interface CutOutcome {
  point: string;
  cutHappened: boolean;
  state: string;
  slot: "a" | "b" | undefined;
  bricked: boolean;
  /** States the cloud heard, in order. */
  published: string[];
}

/**
 * One power-cut case: boot, let the update run until `point`, kill -9 launcher and runtime there,
 * then boot again (up to 3 times) until the launcher stops cleanly. Bricked: the last boot did not
 * end cleanly, or the slot it ran holds no verified runtime, or the update neither committed nor
 * rolled back.
 */
export async function powerCutCase(point: string, opts: { chunks?: boolean } = {}): Promise<CutOutcome> {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", "ok", 3_000_000, opts);
    await bootOnce(d.dataDir, { OTA_TEST_REPO: srv.url, RIDGE_OTA_CRASH_AT: point, OTA_TEST_CRASH_ONCE: join(d.dataDir, "crashed") });
    const cutHappened = journal(d.dataDir).includes(`power-cut at ${point}`);
    let last: BootRun | undefined;
    for (let boots = 0; boots < 3; boots++) {
      last = await bootOnce(d.dataDir, { OTA_TEST_REPO: srv.url });
      if (last.code === 0) break;
    }
    const db = new Database(join(d.dataDir, "ridgeline.db"), { readonly: true });
    const row = db.prepare("SELECT state FROM ota_state WHERE id = 1").get() as { state: string } | undefined;
    db.close();
    const state = row ? (JSON.parse(row.state) as { s: string }).s : "none";
    const starts = journal(d.dataDir).filter((l) => l.startsWith("start "));
    const slot = /slot=(\w)/.exec(starts[starts.length - 1] ?? "")?.[1] as "a" | "b" | undefined;
    const okSlot = slot !== undefined && readMarker(d.slot(slot)) !== undefined;
    const bricked = last?.code !== 0 || !okSlot || !(state === "committed" || state === "rolled-back");
    return { point, cutHappened, state, slot, bricked, published: published(d.dataDir).map((p) => p.s) };
  } finally {
    await srv.close();
    d.cleanup();
  }
}

/** Run `powerCutCase` at each point and assert: the cut happened, 0 bricked, committed on b, success reported only after a trial. */
export async function assertNoBrick(points: string[], check: { ok(v: unknown, msg?: string): void; is(a: unknown, b: unknown, msg?: string): void }, opts: { chunks?: boolean } = {}): Promise<void> {
  let bricked = 0;
  for (const point of points) {
    const o = await powerCutCase(point, opts);
    check.ok(o.cutHappened, `${point}: the power cut happened`);
    if (o.bricked) bricked++;
    check.ok(o.state === "committed" && o.slot === "b", `${point}: ${o.state} on slot ${o.slot}`);
    const ci = o.published.indexOf("committed");
    check.ok(ci > 0 && o.published.slice(0, ci).includes("trial"), `${point}: ${o.published.join(" → ")}`);
  }
  check.is(bricked, 0, "bricked outcomes");
}

export interface OtaHistoryRow {
  state: string;
  version: string | null;
  code: string | null;
}

/** The update agent's history in a data directory, read-only (empty until the agent has run). */
export function otaHistory(dataDir: string): OtaHistoryRow[] {
  if (!existsSync(join(dataDir, "ridgeline.db"))) return [];
  const db = new Database(join(dataDir, "ridgeline.db"), { readonly: true, fileMustExist: true });
  try {
    if (!db.prepare("SELECT name FROM sqlite_master WHERE name = 'ota_history'").get()) return [];
    return db.prepare("SELECT state, version, code FROM ota_history ORDER BY seq").all() as OtaHistoryRow[];
  } finally {
    db.close();
  }
}
