/**
 * The update flow as a pure state machine, in core's FSM convention (core/fsm.ts):
 * `step(state, input) → { state, effects }`, tagged unions, no I/O. Its owner (UpdateAgent)
 * performs the effects in order; `save` persists the new state, and every step the machine
 * asks for comes after it, so a power cut at any point restarts that step, and every step is
 * idempotent. What must hold on disk before the state says so (the boot order marked bad before
 * `rolled-back`, good before `committed`) comes before `save`.
 *
 *   idle → checking → downloading → verifying → installing → pending → trial → committed
 *                 ↘ failed        ↘ failed      ↘ failed      ↘ rolled-back ↘ rolled-back
 *
 * `booted` is what the runtime tells the machine when it starts: on the slot that was pending it
 * becomes a trial; back on the old slot while pending or in trial means the new slot never came
 * up (the launcher or boot loader spent its attempts) and the update is rolled back; a download,
 * verification or installation aimed at the slot that now runs is stale (never write into a
 * running slot) unless the installation had finished (the slot's verified marker is there).
 */
import { RidgeError, type Transition } from "../core/index.js";

export type Slot = "a" | "b";
export type Trigger = "poll" | "notify" | "local" | "api";

export interface PlannedTarget {
  name: string;
  version: string;
  length: number;
  hashes: Record<string, string>;
  /** Repository path of the file (consistent-snapshot name). */
  path: string;
  /** The target's signed chunk index, when the repository published one (delta download). */
  chunks?: unknown;
}

export type UpdateState =
  | { s: "idle" }
  | { s: "checking"; trigger: Trigger }
  | { s: "downloading"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string; stalls?: number }
  | { s: "verifying"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string }
  | { s: "installing"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string }
  | { s: "pending"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string }
  | { s: "trial"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string; since: number }
  | { s: "committed"; target: PlannedTarget; slot: Slot; fromVersion: string }
  | { s: "rolled-back"; target: PlannedTarget; slot: Slot; from: Slot; code: string; reason: string }
  | { s: "failed"; code: string; reason: string; target?: PlannedTarget };

export type StateName = UpdateState["s"];

export type UpdateInput =
  /** `target`: install this target name (`ridge ota install --target`) instead of the newest that fits. */
  | { i: "check"; trigger: Trigger; target?: string }
  | { i: "no-update" }
  | { i: "update-found"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string }
  | { i: "check-failed"; code: string; reason: string }
  | { i: "downloaded" }
  | { i: "download-failed"; code: string; reason: string }
  /** The cycle's download attempts ended with the file incomplete: parked, or failed after `maxStalls` such cycles. */
  | { i: "download-incomplete"; maxStalls: number }
  /**
   * Verifying or installing after a restart, and the downloaded bytes are not on disk (a streamed
   * install went straight into the slot and the process ended before the slot was finished):
   * download again (the slot's partial files seed it).
   */
  | { i: "download-lost" }
  | { i: "verified" }
  | { i: "verify-failed"; code: string; reason: string }
  | { i: "installed" }
  | { i: "install-failed"; code: string; reason: string }
  /** The slot being written turned out to be the running one. */
  | { i: "slot-busy" }
  /**
   * `failure`: why the slot on trial did not come up, when the launcher or the runtime left the
   * reason (else "boot attempts exhausted"); `verified`: the booted slot carries its verified marker.
   */
  | { i: "booted"; slot: Slot; at: number; failure?: { code: string; reason: string }; verified?: boolean }
  | { i: "health-passed" }
  | { i: "health-failed"; code: string; reason: string };

export type InputName = UpdateInput["i"];

export type UpdateEffect =
  /** Persist the new state (with the rollback floor raised in the same transaction, when given). */
  | { e: "save"; raiseFloor?: { kind: "runtime"; version: string } }
  /** Refresh the signed metadata and choose a target; the outcome is a check input. */
  | { e: "refresh"; target?: string }
  /** Download the target (resuming); the outcome is a download input or slot-busy. */
  | { e: "download" }
  /** Hash the downloaded file unless it was hashed while streaming; verified or verify-failed. */
  | { e: "verify" }
  /** Extract into the slot, write its marker, mark it pending; installed, install-failed or slot-busy. */
  | { e: "install" }
  | { e: "discard-download"; target: PlannedTarget }
  | { e: "mark-good" }
  | { e: "mark-bad"; slot: Slot }
  /** Ask for a restart: the launcher then starts the slot BootControl chooses. */
  | { e: "restart"; reason: string }
  /** Run the health checks once the runtime has been up for `health.upFor`. */
  | { e: "schedule-health" }
  /** Confirm the running slot once it has been up for `health.upFor`. */
  | { e: "schedule-confirm" }
  | { e: "log"; level: "warn" | "error"; msg: string; fields: Record<string, unknown> };

type Effect = UpdateEffect;
const SAVE: Effect = { e: "save" };

/** A new state, saved, then the given effects. */
function to(state: UpdateState, ...effects: Effect[]): Transition<UpdateState, Effect> {
  return { state, effects: [SAVE, ...effects] };
}

function refused(st: UpdateState, inp: UpdateInput): never {
  throw new RidgeError("E_OTA_TRANSITION", `input ${inp.i} in state ${st.s}`);
}

const SLOT_BUSY = (slot: Slot) => ({ s: "failed" as const, code: "E_OTA_SLOT_BUSY", reason: `slot ${slot} runs: refusing to write into it` });

/** The step an in-flight state names (what a restart or a new poll resumes). */
export function resume(st: UpdateState, target?: string): Effect[] {
  switch (st.s) {
    case "checking":
      return [target ? { e: "refresh", target } : { e: "refresh" }];
    case "downloading":
      return [{ e: "download" }];
    case "verifying":
      return [{ e: "verify" }];
    case "installing":
      return [{ e: "install" }];
    default:
      return [];
  }
}

/** The next state and what to do; an input the state does not take is a programming error (E_OTA_TRANSITION). */
export function step(st: UpdateState, inp: UpdateInput): Transition<UpdateState, Effect> {
  switch (inp.i) {
    case "check":
      if (busy(st)) return refused(st, inp);
      return to({ s: "checking", trigger: inp.trigger }, inp.target ? { e: "refresh", target: inp.target } : { e: "refresh" });
    case "no-update":
      return st.s === "checking" ? to({ s: "idle" }) : refused(st, inp);
    case "update-found":
      return st.s === "checking" ? to({ s: "downloading", target: inp.target, slot: inp.slot, from: inp.from, fromVersion: inp.fromVersion }, { e: "download" }) : refused(st, inp);
    case "check-failed":
      return st.s === "checking" ? to({ s: "failed", code: inp.code, reason: inp.reason }) : refused(st, inp);
    case "downloaded":
      return st.s === "downloading" ? to({ s: "verifying", target: st.target, slot: st.slot, from: st.from, fromVersion: st.fromVersion }, { e: "verify" }) : refused(st, inp);
    case "download-failed":
      if (st.s !== "downloading") return refused(st, inp);
      return { state: { s: "failed", code: inp.code, reason: inp.reason, target: st.target }, effects: [{ e: "discard-download", target: st.target }, SAVE] };
    case "download-incomplete": {
      if (st.s !== "downloading") return refused(st, inp);
      // Parked in `downloading`: the next poll or start resumes from the bytes on disk. A mirror
      // that never completes the file must not keep the device "updating" forever.
      const stalls = (st.stalls ?? 0) + 1;
      if (stalls < inp.maxStalls) return to({ ...st, stalls });
      const failed: UpdateState = { s: "failed", code: "E_OTA_DOWNLOAD_STALLED", reason: `${st.target.name}: no complete download after ${stalls} cycles`, target: st.target };
      return { state: failed, effects: [{ e: "discard-download", target: st.target }, SAVE] };
    }
    case "download-lost":
      return st.s === "verifying" || st.s === "installing" ? to({ s: "downloading", target: st.target, slot: st.slot, from: st.from, fromVersion: st.fromVersion }, { e: "download" }) : refused(st, inp);
    case "verified":
      return st.s === "verifying" ? to({ ...st, s: "installing" }, { e: "install" }) : refused(st, inp);
    case "verify-failed":
      if (st.s !== "verifying") return refused(st, inp);
      return { state: { s: "failed", code: inp.code, reason: inp.reason, target: st.target }, effects: [{ e: "discard-download", target: st.target }, SAVE] };
    case "installed":
      return st.s === "installing" ? to({ ...st, s: "pending" }, { e: "restart", reason: `slot ${st.slot} installed (${st.target.version})` }) : refused(st, inp);
    case "install-failed":
      // a refused bundle leaves nothing behind: no half-extracted slot (the agent wipes it), no verified .part
      return st.s === "installing" ? { state: { s: "failed", code: inp.code, reason: inp.reason, target: st.target }, effects: [{ e: "discard-download", target: st.target }, SAVE] } : refused(st, inp);
    case "slot-busy":
      return st.s === "downloading" || st.s === "verifying" || st.s === "installing" ? to({ ...SLOT_BUSY(st.slot), target: st.target }) : refused(st, inp);
    case "booted":
      return booted(st, inp);
    case "health-passed":
      if (st.s !== "trial") return refused(st, inp);
      return { state: { s: "committed", target: st.target, slot: st.slot, fromVersion: st.fromVersion }, effects: [{ e: "mark-good" }, { e: "save", raiseFloor: { kind: "runtime", version: st.target.version } }] };
    case "health-failed":
      if (st.s !== "trial") return refused(st, inp);
      return {
        state: { s: "rolled-back", target: st.target, slot: st.slot, from: st.from, code: inp.code, reason: inp.reason },
        effects: [{ e: "mark-bad", slot: st.slot }, SAVE, { e: "restart", reason: `health check failed: ${inp.reason}` }],
      };
  }
}

/** At start: where the update stands given the slot that booted, then the timers and the step to resume. */
function booted(st: UpdateState, inp: Extract<UpdateInput, { i: "booted" }>): Transition<UpdateState, Effect> {
  let next: UpdateState = st;
  const notes: Effect[] = [];
  if (st.s === "pending" || st.s === "trial") {
    if (inp.slot === st.slot) next = st.s === "trial" ? st : { s: "trial", target: st.target, slot: st.slot, from: st.from, fromVersion: st.fromVersion, since: inp.at };
    else {
      next = {
        s: "rolled-back",
        target: st.target,
        slot: st.slot,
        from: st.from,
        code: inp.failure?.code ?? "E_OTA_BOOT_FAILED",
        reason: inp.failure?.reason ?? (st.s === "pending" ? `slot ${st.slot} did not start: boot attempts exhausted` : `slot ${st.slot} stopped during its trial and ran out of boot attempts`),
      };
      notes.push({ e: "log", level: "warn", msg: "ota: rolled back", fields: { reason: next.reason, code: next.code } });
      // the failed slot goes last with no attempts now, not at the confirm: a running slot that
      // stops before its confirm must not leave the failed one first for the launcher's last resort
      notes.push({ e: "mark-bad", slot: st.slot });
    }
  } else if ((st.s === "downloading" || st.s === "verifying" || st.s === "installing") && inp.slot === st.slot) {
    // Installed and already started (the state write after markPending was lost): the slot is
    // verified. Anything else aimed at the running slot is stale.
    next = st.s === "installing" && inp.verified ? { s: "trial", target: st.target, slot: st.slot, from: st.from, fromVersion: st.fromVersion, since: inp.at } : { ...SLOT_BUSY(st.slot), target: st.target };
  }
  if (next.s === "committed" && inp.slot !== next.slot) notes.push({ e: "log", level: "error", msg: "ota: the committed slot stopped starting; running the other slot", fields: { committed: next.slot, booted: inp.slot } });
  // Not a trial: confirm the running slot once it has been up for `upFor` (not at start, or a
  // slot that crashes after starting would reset its own attempts and never hand over).
  if (next.s === "trial") notes.push({ e: "schedule-health" });
  else if (!(next.s === "rolled-back" && next.slot === inp.slot)) notes.push({ e: "schedule-confirm" });
  const effects = [...notes, ...resume(next)];
  return next === st ? { state: st, effects } : to(next, ...effects);
}

/** States in which an update is in flight (a new check is refused). */
export function busy(st: UpdateState): boolean {
  return st.s !== "idle" && st.s !== "committed" && st.s !== "rolled-back" && st.s !== "failed";
}

/**
 * `slot` is on trial: an update installed it and no health check has committed it yet (pending,
 * or trial; installing once its marker is written and it was marked pending). Only the update
 * agent's health check may confirm such a slot.
 */
export function onTrial(st: UpdateState, slot: Slot): boolean {
  return holdsBootOrder(st) && st.slot === slot;
}

/** States in which the boot order must stay as the update left it (no slot is confirmed). */
export function holdsBootOrder(st: UpdateState): st is Extract<UpdateState, { s: "installing" | "pending" | "trial" }> {
  return st.s === "installing" || st.s === "pending" || st.s === "trial";
}

export function otherSlot(s: Slot): Slot {
  return s === "a" ? "b" : "a";
}
