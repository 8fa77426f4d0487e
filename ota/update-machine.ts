/**
 * The update flow as a pure state machine (tagged unions, no I/O). Its owner (UpdateAgent)
 * persists each new state *before* running the step the state names, so a power cut at any point
 * restarts that step, and every step is idempotent:
 *
 *   idle → checking → downloading → verifying → installing → pending → trial → committed
 *                 ↘ failed        ↘ failed      ↘ failed      ↘ rolled-back ↘ rolled-back
 *
 * `booted` is what the runtime tells the machine when it starts: on the slot that was pending it
 * becomes a trial; back on the old slot while pending or in trial means the new slot never came
 * up (the launcher or boot loader spent its attempts) and the update is rolled back.
 */
export type Slot = "a" | "b";
export type Trigger = "poll" | "notify" | "local" | "api";

export interface PlannedTarget {
  name: string;
  version: string;
  length: number;
  hashes: Record<string, string>;
  /** Repository path of the file (consistent-snapshot name). */
  path: string;
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
  | { i: "check"; trigger: Trigger }
  | { i: "no-update" }
  | { i: "update-found"; target: PlannedTarget; slot: Slot; from: Slot; fromVersion: string }
  | { i: "check-failed"; code: string; reason: string }
  | { i: "downloaded" }
  | { i: "download-failed"; code: string; reason: string }
  | { i: "verified" }
  | { i: "verify-failed"; code: string; reason: string }
  | { i: "installed" }
  | { i: "install-failed"; code: string; reason: string }
  /** `failure`: why the slot on trial did not come up, when the launcher or the runtime left the reason (else "boot attempts exhausted"). */
  | { i: "booted"; slot: Slot; at: number; failure?: { code: string; reason: string } }
  | { i: "health-passed" }
  | { i: "health-failed"; code: string; reason: string };

export type InputName = UpdateInput["i"];

/** The next state, or undefined when the input means nothing in this state. */
export function transition(st: UpdateState, inp: UpdateInput): UpdateState | undefined {
  switch (inp.i) {
    case "check":
      return st.s === "idle" || st.s === "committed" || st.s === "rolled-back" || st.s === "failed" ? { s: "checking", trigger: inp.trigger } : undefined;
    case "no-update":
      return st.s === "checking" ? { s: "idle" } : undefined;
    case "update-found":
      return st.s === "checking" ? { s: "downloading", target: inp.target, slot: inp.slot, from: inp.from, fromVersion: inp.fromVersion } : undefined;
    case "check-failed":
      return st.s === "checking" ? { s: "failed", code: inp.code, reason: inp.reason } : undefined;
    case "downloaded":
      return st.s === "downloading" ? { s: "verifying", target: st.target, slot: st.slot, from: st.from, fromVersion: st.fromVersion } : undefined;
    case "download-failed":
      return st.s === "downloading" ? { s: "failed", code: inp.code, reason: inp.reason, target: st.target } : undefined;
    case "verified":
      return st.s === "verifying" ? { ...st, s: "installing" } : undefined;
    case "verify-failed":
      return st.s === "verifying" ? { s: "failed", code: inp.code, reason: inp.reason, target: st.target } : undefined;
    case "installed":
      return st.s === "installing" ? { ...st, s: "pending" } : undefined;
    case "install-failed":
      return st.s === "installing" ? { s: "failed", code: inp.code, reason: inp.reason, target: st.target } : undefined;
    case "booted":
      if (st.s === "pending" || st.s === "trial") {
        if (inp.slot === st.slot) return st.s === "trial" ? st : { s: "trial", target: st.target, slot: st.slot, from: st.from, fromVersion: st.fromVersion, since: inp.at };
        return {
          s: "rolled-back",
          target: st.target,
          slot: st.slot,
          from: st.from,
          code: inp.failure?.code ?? "E_OTA_BOOT_FAILED",
          reason: inp.failure?.reason ?? (st.s === "pending" ? `slot ${st.slot} did not start: boot attempts exhausted` : `slot ${st.slot} stopped during its trial and ran out of boot attempts`),
        };
      }
      return st;
    case "health-passed":
      return st.s === "trial" ? { s: "committed", target: st.target, slot: st.slot, fromVersion: st.fromVersion } : undefined;
    case "health-failed":
      return st.s === "trial" ? { s: "rolled-back", target: st.target, slot: st.slot, from: st.from, code: inp.code, reason: inp.reason } : undefined;
  }
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
