/**
 * The device-side updater inside the running gateway: an UpdateAgent (ota/) wired to the
 * gateway's database, downlink, uplink queue and control API. It polls the repository (interval plus jitter), listens on the downlink (`ota/…`:
 * a notification starts a check now), runs the boot-time trial and health check, reports every
 * state to the cloud (events of kind `ota`, published on `ridge/<id>/up/ota`), and serves
 * `GET /ota/state` and `POST /ota/check` on the control API.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type Database from "better-sqlite3";
import { EXIT_RESTART, errorCode, errorMessage, type Clock, type Driver, type Logger, type Random, type Timer } from "../../core/index.js";
import type { Board } from "../../boards/index.js";
import type { Component, ComponentHealth } from "../component.js";
import type { GatewayConfig } from "../config/schema.js";
import type { Downlink, Measurements } from "../contracts.js";
import type { Routes } from "../control/routes.js";
import type { Metrics } from "../metrics.js";
import type { UplinkQueue } from "../store/queue.js";
import { VERSION } from "../version.js";
import { ProgressMeter, describe } from "../progress.js";
import { readLastExit } from "../cli/last-exit.js";
import { UpdateAgent, bootControlFor, bootedSlotFromEnv, fetcherFor, parseMetadata, retrievalLimits, slotDir, type HealthResult, type UpdateState } from "../../ota/index.js";

function runCommand(cmd: string, timeoutMs: number): Promise<HealthResult> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", cmd], { stdio: "ignore" });
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(t);
      resolve(code === 0 ? { ok: true } : { ok: false, reason: `health command ${signal ? `killed (${signal})` : `exited ${code}`}` });
    });
    child.on("error", (e) => {
      clearTimeout(t);
      resolve({ ok: false, reason: `health command: ${e.message}` });
    });
  });
}

/**
 * The slot on trial exited 2 and the launcher rolled back (ota/launcher.ts): its runtime left the
 * reason in last-exit.json (runtime/cli/last-exit.ts) before exiting; the old slot's agent records
 * it as E_OTA_CONFIG_REFUSED instead of "boot attempts exhausted".
 */
export function trialConfigRefusal(dataDir: string, slot: "a" | "b"): { code: string; reason: string } | undefined {
  const why = readLastExit(dataDir);
  if (!why || why.slot !== slot || why.exit !== 2) return undefined;
  return { code: "E_OTA_CONFIG_REFUSED", reason: `slot ${slot} refused the config during its trial: ${why.code}: ${why.message}` };
}

export interface UpdateComponentOptions {
  config: GatewayConfig;
  board: Board;
  dataDir: string;
  db: Database.Database;
  clock: Clock;
  random: Random;
  log: Logger;
  metrics: Metrics;
  routes: Routes;
  downlink: Downlink;
  /** Every state is reported through the durable uplink. */
  uplink: Pick<UplinkQueue, "append">;
  /** The health check's `drivers`. */
  drivers: ReadonlyMap<string, Driver>;
  /** The health check's `cloud`: the link is online (or draining its backlog). */
  cloudUp(): boolean;
  /** A commit is re-measured by attestation. */
  measurements: Measurements;
  /** How the runtime restarts into the chosen slot (default: SIGTERM to itself, exit code 75 for the launcher). */
  requestRestart?(reason: string): void;
}

function agentTarget(st: UpdateState): string | undefined {
  const t = "target" in st ? st.target : undefined;
  return t ? `${t.name}@${t.version}` : undefined;
}

function restartProcess(): void {
  process.once("exit", () => {
    process.exitCode = EXIT_RESTART;
  });
  process.kill(process.pid, "SIGTERM");
}

export async function createUpdateComponent(s: UpdateComponentOptions): Promise<Component | undefined> {
  const cfg = s.config.ota;
  if (!cfg) return undefined;
  const log = s.log;
  const booted = bootedSlotFromEnv();
  const bootControl = bootControlFor(s.board, { dataDir: s.dataDir, ...(booted ? { booted } : {}) });
  const launcherRuns = booted !== undefined || s.board.bootControl.adapter !== "file";
  // ota.download: every mirror's per-file deadline (slow retrieval) and idle timeout.
  const limits = retrievalLimits(cfg);
  const mirrors = [cfg.repo, ...cfg.mirrors].map((m) => fetcherFor(/^[a-z]+:/.test(m) || isAbsolute(m) ? m : join(s.dataDir, m), { limits }));
  const gatewayId = s.config.gateway.id;
  const stateGauge = s.metrics.gauge("ridge_ota_state", "OTA state: 1 for the current state", ["state"]);
  const stateNames = ["idle", "checking", "downloading", "verifying", "installing", "pending", "trial", "committed", "rolled-back", "failed"];
  const progressGauge = s.metrics.gauge("ridge_ota_download_bytes", "Bytes of the OTA download in flight", []);

  const checks: (() => Promise<HealthResult> | HealthResult)[] = [];
  if (cfg.health.drivers)
    checks.push(() => {
      const down = [...s.drivers.entries()].filter(([, d]) => !d.health().up).map(([n]) => n);
      return down.length ? { ok: false, reason: `drivers down: ${down.join(", ")}` } : { ok: true };
    });
  if (cfg.health.cloud === true || (cfg.health.cloud === "auto" && s.config.cloud?.mqtt))
    checks.push(() => (s.cloudUp() ? { ok: true } : { ok: false, reason: "the cloud link is not up" }));
  if (cfg.health.command) {
    const cmd = cfg.health.command;
    checks.push(() => runCommand(cmd, cfg.health.timeout));
  }

  const publish = (st: UpdateState) => {
    for (const n of stateNames) stateGauge.set({ state: n }, n === st.s ? 1 : 0);
    // What the gateway runs changed: the attestation log re-measures it.
    if (st.s === "committed") s.measurements.changed({ kind: "runtime", name: `${st.target.name}@${st.target.version}`, data: new Uint8Array(Buffer.from(st.target.hashes.sha256 ?? "", "hex")) });
    const at = s.clock.now();
    void s.uplink
      .append([{ id: `${gatewayId}/ota/${at}/${st.s}`, ts: at, device: gatewayId, kind: "ota", payload: { ...st } as Record<string, unknown> }])
      .catch((e: unknown) => log.warn({ err: errorMessage(e) }, "ota: could not queue the state report"));
  };

  const meter = new ProgressMeter(10_000);
  const agent = new UpdateAgent({
    db: s.db,
    clock: s.clock,
    random: s.random,
    log,
    bootControl,
    board: { name: s.board.name, arch: s.board.arch },
    slotDir: (slot) => slotDir(s.board, s.dataDir, slot),
    workDir: join(s.dataDir, "ota", "download"),
    mirrors,
    runningVersion: VERSION,
    attempts: cfg.attempts ?? s.board.bootControl.attempts,
    healthUpForMs: cfg.health.upFor,
    healthChecks: checks,
    verifyHashes: cfg.verifyHashes,
    publish,
    onProgress: (p) => {
      if (p.phase === "download") progressGauge.set(p.received);
      // the journal gets a line every 10 s (and at each phase's start and end); so does the cloud
      const l = meter.sample({ phase: p.phase, done: p.received, total: p.total }, s.clock.monotonic());
      if (!l) return;
      log.info({ phase: l.phase, done: l.done, total: l.total, rate: Math.round(l.rate), ...(l.etaS !== undefined ? { etaS: Math.round(l.etaS) } : {}) }, `ota: ${l.text}`);
      const at = s.clock.now();
      void s.uplink
        .append([{ id: `${gatewayId}/ota/${at}/progress/${l.phase}`, ts: at, device: gatewayId, kind: "ota", payload: { s: "progress", phase: l.phase, done: l.done, total: l.total, rate: Math.round(l.rate) } }])
        .catch(() => undefined);
    },
    bootFailure: (slot) => trialConfigRefusal(s.dataDir, slot),
    requestRestart: (reason) => {
      log.warn({ reason }, "ota: restarting into the chosen slot");
      (s.requestRestart ?? restartProcess)(reason);
    },
  });

  // Provision the trusted root once, from the configured file (shipped out of band).
  const rootFile = cfg.root ?? join(s.dataDir, "ota", "root.json");
  if (!agent.store.get("root") && existsSync(rootFile)) {
    const bytes = new Uint8Array(readFileSync(rootFile));
    const p = parseMetadata("root", bytes);
    if (p.ok) agent.store.put("root", bytes);
    else log.error({ file: rootFile, reason: p.reason }, "ota: the trusted root file is not root metadata");
  }

  let timer: Timer | undefined;
  let lastError: string | undefined;
  const check = async (trigger: "poll" | "notify" | "api", target?: string, allowDowngrade = false) => {
    if (!launcherRuns) {
      lastError = "E_OTA_NO_LAUNCHER: this gateway was not started by `ridge boot`; runtime-level A/B updates need the launcher";
      log.warn({}, lastError);
      return;
    }
    try {
      await agent.check(trigger, target ? { target, ...(allowDowngrade ? { allowDowngrade } : {}) } : {});
      lastError = undefined;
    } catch (e) {
      lastError = `${errorCode(e)}: ${errorMessage(e)}`;
      log.error({ code: errorCode(e), err: errorMessage(e) }, "ota: update cycle failed");
    }
  };
  const schedule = () => {
    if (cfg.poll <= 0) return;
    timer = s.clock.setTimeout(
      () => {
        void check("poll").finally(schedule);
      },
      cfg.poll + Math.floor(s.random.next() * cfg.jitter),
    );
  };

  // `ridge/<id>/down/ota[/…]`: a notification that something was published; the payload is not
  // trusted for anything (it may name a target: the signed metadata still decides what installs;
  // `"allowDowngrade": true` is the local half of a downgrade, the signed allowDowngradeFrom the other).
  s.downlink.on("ota", (_suffix, payload) => {
    let target: string | undefined;
    let allowDowngrade = false;
    try {
      const v = JSON.parse(payload.toString("utf8")) as { target?: unknown; allowDowngrade?: unknown };
      if (typeof v.target === "string" && v.target.length < 256) target = v.target;
      allowDowngrade = v.allowDowngrade === true;
    } catch {
      /* an empty or non-JSON notification means "check now" */
    }
    log.info({ target, ...(allowDowngrade ? { allowDowngrade } : {}) }, "ota: notified by the cloud; checking now");
    void check("notify", target, allowDowngrade);
  });
  s.routes.add("GET", "/ota/state", () => ({ body: { ...agent.status(), lastError } }));
  s.routes.add("POST", "/ota/check", () => {
    void check("api");
    return { status: 202, body: { accepted: true } };
  });

  let started = false;
  return {
    name: "ota",
    dependsOn: [],
    async start() {
      // A download cut by a power loss resumes in the background: drivers and the queue come up
      // first, progress shows in /status. Every other resumed step (rollback, trial, pending)
      // settles before start-up ends.
      const resuming = agent.state().s === "downloading";
      const booted = agent.boot().catch((e: unknown) => {
        lastError = `${errorCode(e)}: ${errorMessage(e)}`;
        log.error({ code: errorCode(e), err: errorMessage(e) }, "ota: resuming the update failed");
      });
      if (resuming) log.info({ target: agentTarget(agent.state()) }, "ota: resuming the download in the background");
      else await booted;
      started = true;
      schedule();
    },
    async stop() {
      timer?.cancel();
      agent.stop();
    },
    health(): ComponentHealth {
      const st = agent.state();
      return st.s === "failed" ? { up: started, detail: `last update failed: ${st.code}` } : { up: started };
    },
    status() {
      const st = agent.status();
      const inFlight = st.progress && ["downloading", "verifying", "installing"].includes(st.state.s) ? st.progress : undefined;
      const p = inFlight ? describe({ phase: inFlight.phase, done: inFlight.received, total: inFlight.total }, 0).text.replace(/ at .*$/, "") : undefined;
      return { state: st.state.s, active: st.active, version: st.runningVersion, floor: st.floor ?? "none", attemptsLeft: st.attemptsLeft, ...(p ? { progress: p } : {}), ...(lastError ? { lastError } : {}) };
    },
  };
}
