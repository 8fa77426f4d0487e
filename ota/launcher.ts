/**
 * `ridge boot`: the small launcher the systemd unit runs on boards with runtime-level A/B. It asks
 * BootControl for the slot to start (spending one attempt in the same write), refuses any slot
 * without its verified marker (read and checked again at every start: readSlotManifest, so an
 * entry edited to point outside the slot is never run), and runs `node <slot>/<entry> run …`
 * with RIDGE_SLOT set. A child that exits with 75 asked for a restart (an update is pending, or a trial failed); any other
 * non-zero exit or signal is a crash: both are a reboot as far as the slots are concerned, so the
 * loop simply chooses again. A slot out of attempts is skipped, which is the rollback.
 * When every slot is out of attempts the launcher still runs the first verified one (never
 * nothing), slowly, and says so.
 * Exit 2 is a config error (a missing secret, an invalid file): no slot fixes it, so the launcher
 * stops and returns 2 instead of spending the slots' attempts on it. Except from a slot on trial
 * (`slotOnTrial`: an update installed it and nothing committed it yet): there the new runtime
 * cannot read the config the old one runs with, which is the update's failure, so the slot is
 * given up (markBad) and the launcher restarts (75) into the old slot, whose update agent records
 * the rollback. Under systemd the launcher
 * runs one start (`maxStarts: 1`) and returns the runtime's exit status: systemd is then the one
 * restart loop and sees every status (RestartPreventExitStatus=2).
 * The choice can be made one step ahead (`pinLaunch`, the unit's ExecStartPre): it is recorded
 * in a file the next start takes (`pinnedFile`) and a `running` link beside the slots names the
 * slot, so the unit's ReadOnlyPaths= on that link (resolved when the runtime's namespace is set up)
 * makes exactly the running slot read-only while the standby stays writable for the update.
 * A slot that carries its own Node (`node/bin/node`) runs on it, so an update brings the runtime
 * and its Node together; RIDGE_EXEC_WRAPPER (an emulator command, e.g. qemu-aarch64-static -L
 * SYSROOT on a build host) runs that Node, as the flashed boot launcher does.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { EXIT_BAD_CONFIG, EXIT_RESTART, type Clock, type Logger } from "../core/index.js";
import type { BootControl } from "./boot-control.js";
import { MARKER, readSlotManifest } from "./slot-marker.js";
import type { Slot } from "./update-machine.js";


export interface LauncherOptions {
  bootControl: BootControl;
  slotDir(slot: Slot): string;
  /** The runtime installed with the launcher, used for slot a until a bundle is installed there. */
  factoryEntry?: string;
  /** Arguments after the entry file, e.g. ["run", "--board", "sim"]. */
  args: string[];
  node?: string;
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  clock: Clock;
  /** The journal: one line per decision, its message naming the slot (the operator reads these). */
  log: Logger;
  /** Delay before restarting a crashed runtime (a reboot takes time too). */
  crashDelayMs?: number;
  /** Stop after this many starts (tests). */
  maxStarts?: number;
  /** A choice `pinLaunch` made ahead (consumed by the first start; a stale or unverifiable one is ignored). */
  pinnedFile?: string;
  /** `slot` is on trial (the update store says pending/trial for it): its exit 2 is a failed trial, not a config to fix. */
  slotOnTrial?(slot: Slot): boolean;
}

function onTrial(o: LauncherOptions, slot: Slot): boolean {
  try {
    return o.slotOnTrial?.(slot) === true;
  } catch (e) {
    o.log.error({ slot }, `could not tell whether slot ${slot} is on trial (${e instanceof Error ? e.message : String(e)}): taking it as committed`);
    return false;
  }
}

export interface LaunchChoice {
  slot: Slot;
  entry: string;
  attemptsLeft: number;
  lastResort: boolean;
}

/**
 * The file to run from `slot`: the entry of its checked manifests (readSlotManifest: a regular
 * file inside the slot, whatever the marker on disk was edited to say), or the factory runtime
 * for an empty slot a. `why` receives the reason a slot that holds a marker is refused.
 */
function entryOf(o: LauncherOptions, slot: Slot, why?: (reason: string) => void): string | undefined {
  const dir = o.slotDir(slot);
  const m = readSlotManifest(dir);
  if (m.ok) return m.value.entryPath;
  if (existsSync(join(dir, MARKER))) why?.(`${m.code}: ${m.reason}`);
  if (slot === "a" && o.factoryEntry && existsSync(o.factoryEntry)) return o.factoryEntry;
  return undefined;
}

/** One boot decision: the slot and file to run. */
export function chooseLaunch(o: LauncherOptions): LaunchChoice | undefined {
  for (let i = 0; i < 4; i++) {
    const c = o.bootControl.chooseBoot();
    if (!c) break;
    let refused = "";
    const entry = entryOf(o, c.slot, (r) => (refused = r));
    if (entry) return { slot: c.slot, entry, attemptsLeft: c.attemptsLeft, lastResort: false };
    o.log.error({ slot: c.slot, ...(refused ? { reason: refused } : {}) }, `slot ${c.slot} holds no verified runtime${refused ? ` (${refused})` : ""}: skipping it`);
    o.bootControl.markBad(c.slot);
  }
  for (const slot of o.bootControl.state().order) {
    const entry = entryOf(o, slot);
    if (entry) return { slot, entry, attemptsLeft: 0, lastResort: true };
  }
  return undefined;
}

/** The command that runs `entry` from `slot`: the slot's own Node when it has one, through RIDGE_EXEC_WRAPPER when set. */
export function launchCommand(o: LauncherOptions, slot: Slot, entry: string): { file: string; args: string[] } {
  const own = join(o.slotDir(slot), "node", "bin", "node");
  const node = existsSync(own) ? own : (o.node ?? process.execPath);
  const wrapper = ((o.env ?? process.env).RIDGE_EXEC_WRAPPER ?? "").trim().split(/\s+/).filter(Boolean);
  const args = [...(o.nodeArgs ?? []), entry, ...o.args];
  return wrapper.length ? { file: wrapper[0]!, args: [...wrapper.slice(1), node, ...args] } : { file: node, args };
}

function exitStatus(r: { code: number | null; signal: NodeJS.Signals | null }): number {
  if (r.code !== null) return r.code;
  return 128 + (r.signal ? (constants.signals[r.signal] ?? 0) : 0);
}

/** Where `pinLaunch` names the running slot: `running`, beside slot a. */
export function runningLink(o: Pick<LauncherOptions, "slotDir">): string {
  return join(dirname(o.slotDir("a")), "running");
}

/**
 * Choose now (spending the attempt), for the next start to take: writes `file` and points the
 * `running` link at the chosen slot's directory.
 */
export function pinLaunch(o: LauncherOptions, file: string): LaunchChoice | undefined {
  const c = chooseLaunch(o);
  if (!c) return undefined;
  writeFileSync(`${file}.tmp`, JSON.stringify(c));
  renameSync(`${file}.tmp`, file);
  const link = runningLink(o);
  rmSync(`${link}.tmp`, { force: true });
  symlinkSync(o.slotDir(c.slot), `${link}.tmp`);
  renameSync(`${link}.tmp`, link);
  return c;
}

function takePinned(o: LauncherOptions): LaunchChoice | undefined {
  if (!o.pinnedFile || !existsSync(o.pinnedFile)) return undefined;
  try {
    const v = JSON.parse(readFileSync(o.pinnedFile, "utf8")) as Partial<LaunchChoice>;
    rmSync(o.pinnedFile, { force: true });
    if ((v.slot !== "a" && v.slot !== "b") || typeof v.entry !== "string" || entryOf(o, v.slot) !== v.entry) return undefined;
    return { slot: v.slot, entry: v.entry, attemptsLeft: Number(v.attemptsLeft ?? 0), lastResort: v.lastResort === true };
  } catch {
    return undefined;
  }
}

export async function runLauncher(o: LauncherOptions): Promise<number> {
  let last = 0;
  let stopping = false;
  let child: ReturnType<typeof spawn> | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    stopping = true;
    child?.kill(sig);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    for (let starts = 0; !stopping && (o.maxStarts === undefined || starts < o.maxStarts); starts++) {
      const c = (starts === 0 ? takePinned(o) : undefined) ?? chooseLaunch(o);
      if (!c) {
        o.log.error({}, "no slot holds a verified runtime: nothing to start (E_OTA_NO_BOOTABLE_SLOT)");
        return 1;
      }
      if (c.lastResort) o.log.error({ slot: c.slot }, `every slot is out of boot attempts: starting slot ${c.slot} anyway`);
      o.log.info({ slot: c.slot, attemptsLeft: c.attemptsLeft, entry: c.entry }, `starting slot ${c.slot} (${c.attemptsLeft} attempts left): ${c.entry}`);
      const cmd = launchCommand(o, c.slot, c.entry);
      const proc = spawn(cmd.file, cmd.args, {
        stdio: "inherit",
        env: { ...(o.env ?? process.env), RIDGE_SLOT: c.slot, RIDGE_BOOT_ATTEMPTS_LEFT: String(c.attemptsLeft) },
      });
      child = proc;
      const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        proc.on("exit", (code, signal) => resolve({ code, signal }));
        proc.on("error", () => resolve({ code: 127, signal: null }));
      });
      child = undefined;
      if (stopping) return 0;
      if (result.code === 0) return 0;
      last = exitStatus(result);
      if (result.code === EXIT_BAD_CONFIG && onTrial(o, c.slot)) {
        o.bootControl.markBad(c.slot);
        const back = o.bootControl.state().order[0]!;
        o.log.error({ slot: c.slot, back }, `slot ${c.slot} refused the config during its trial: rolling back to ${back}`);
        last = EXIT_RESTART;
        if (o.maxStarts !== undefined && starts + 1 >= o.maxStarts) break;
        continue;
      }
      if (result.code === EXIT_BAD_CONFIG) {
        o.log.error({ slot: c.slot, exit: EXIT_BAD_CONFIG }, `slot ${c.slot} refused its config (exit 2): not a slot failure; stopping (fix the config or its secrets, then start again)`);
        return EXIT_BAD_CONFIG;
      }
      if (result.code !== EXIT_RESTART && o.maxStarts !== undefined && starts + 1 >= o.maxStarts && onTrial(o, c.slot)) {
        // One start per unit start: a trial that crashes asks for a restart (75) like one that fails
        // its health check, so a board whose boot loader switches slots only at a machine boot
        // (nvbootctrl: the unit reboots on 75) spends the boot loader's retries and falls back.
        o.log.error({ slot: c.slot, exit: result.signal ?? result.code }, `slot ${c.slot} crashed during its trial (${result.signal ?? `exit ${result.code}`}): asking for a restart`);
        last = EXIT_RESTART;
        break;
      }
      if (o.maxStarts !== undefined && starts + 1 >= o.maxStarts) break;
      if (result.code === EXIT_RESTART) {
        o.log.info({ slot: c.slot }, `slot ${c.slot} asked for a restart`);
        continue;
      }
      o.log.error({ slot: c.slot, exit: result.signal ?? result.code }, `slot ${c.slot} stopped (${result.signal ?? `exit ${result.code}`}): restarting as after a reboot`);
      await o.clock.sleep(c.lastResort ? Math.max(10_000, o.crashDelayMs ?? 1000) : (o.crashDelayMs ?? 1000));
    }
    return last;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
