// The update flow's transition table as a test (every state × every input, with the effects each
// transition asks for), and properties: no input ever leads from a settled state to an in-flight
// one except `check`, a rollback always names the slot it gave up on, `committed` is reachable
// only through `trial`, and every state change is saved before the step it names runs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { errorCode } from "../../core/index.js";
import { step, busy, onTrial, holdsBootOrder, type UpdateEffect, type UpdateInput, type UpdateState, type PlannedTarget } from "../../ota/update-machine.js";

/** The machine's answer, or undefined where it refuses the input (E_OTA_TRANSITION). */
function transition(st: UpdateState, inp: UpdateInput): { state: UpdateState; effects: readonly UpdateEffect[] } | undefined {
  try {
    return step(st, inp);
  } catch (e) {
    if (errorCode(e) !== "E_OTA_TRANSITION") throw e;
    return undefined;
  }
}
const effectNames = (t: { effects: readonly UpdateEffect[] } | undefined) => t?.effects.map((e) => e.e).join(",") ?? "-";

const T: PlannedTarget = { name: "r.tar", version: "1.1.0", length: 10, hashes: { sha256: "00" }, path: "targets/00.r.tar" };
const base = { target: T, slot: "b" as const, from: "a" as const, fromVersion: "1.0.0" };
const STATES: Record<string, UpdateState> = {
  idle: { s: "idle" },
  checking: { s: "checking", trigger: "poll" },
  downloading: { s: "downloading", ...base },
  verifying: { s: "verifying", ...base },
  installing: { s: "installing", ...base },
  pending: { s: "pending", ...base },
  trial: { s: "trial", ...base, since: 1 },
  committed: { s: "committed", target: T, slot: "b", fromVersion: "1.0.0" },
  "rolled-back": { s: "rolled-back", ...base, code: "E_OTA_HEALTH", reason: "x" },
  failed: { s: "failed", code: "E_OTA_HASH", reason: "x" },
};
const INPUTS: Record<string, UpdateInput> = {
  check: { i: "check", trigger: "poll" },
  "no-update": { i: "no-update" },
  "update-found": { i: "update-found", ...base },
  "check-failed": { i: "check-failed", code: "E", reason: "r" },
  downloaded: { i: "downloaded" },
  "download-failed": { i: "download-failed", code: "E", reason: "r" },
  verified: { i: "verified" },
  "download-lost": { i: "download-lost" },
  "verify-failed": { i: "verify-failed", code: "E", reason: "r" },
  installed: { i: "installed" },
  "install-failed": { i: "install-failed", code: "E", reason: "r" },
  "download-incomplete": { i: "download-incomplete", maxStalls: 3 },
  "slot-busy": { i: "slot-busy" },
  "booted-new": { i: "booted", slot: "b", at: 5 },
  "booted-new-verified": { i: "booted", slot: "b", at: 5, verified: true },
  "booted-old": { i: "booted", slot: "a", at: 5 },
  "health-passed": { i: "health-passed" },
  "health-failed": { i: "health-failed", code: "E_OTA_HEALTH", reason: "r" },
};

// expected next state name and effects, "-" = refused (E_OTA_TRANSITION), "=" = unchanged
const TABLE: Record<string, Record<string, string>> = {
  idle: { check: "checking save,refresh", "booted-new": "= schedule-confirm", "booted-new-verified": "= schedule-confirm", "booted-old": "= schedule-confirm" },
  checking: {
    "no-update": "idle save",
    "update-found": "downloading save,download",
    "check-failed": "failed save",
    "booted-new": "= schedule-confirm,refresh",
    "booted-new-verified": "= schedule-confirm,refresh",
    "booted-old": "= schedule-confirm,refresh",
  },
  downloading: {
    downloaded: "verifying save,verify",
    "download-failed": "failed discard-download,save",
    "download-incomplete": "downloading save",
    "slot-busy": "failed save",
    "booted-new": "failed save,schedule-confirm",
    "booted-new-verified": "failed save,schedule-confirm",
    "booted-old": "= schedule-confirm,download",
  },
  verifying: {
    verified: "installing save,install",
    "download-lost": "downloading save,download",
    "verify-failed": "failed discard-download,save",
    "slot-busy": "failed save",
    "booted-new": "failed save,schedule-confirm",
    "booted-new-verified": "failed save,schedule-confirm",
    "booted-old": "= schedule-confirm,verify",
  },
  installing: {
    "download-lost": "downloading save,download",
    installed: "pending save,restart",
    "install-failed": "failed discard-download,save",
    "slot-busy": "failed save",
    "booted-new": "failed save,schedule-confirm",
    "booted-new-verified": "trial save,schedule-health",
    "booted-old": "= schedule-confirm,install",
  },
  pending: { "booted-new": "trial save,schedule-health", "booted-new-verified": "trial save,schedule-health", "booted-old": "rolled-back save,log,mark-bad,schedule-confirm" },
  trial: {
    "booted-new": "= schedule-health",
    "booted-new-verified": "= schedule-health",
    "booted-old": "rolled-back save,log,mark-bad,schedule-confirm",
    "health-passed": "committed mark-good,save",
    "health-failed": "rolled-back mark-bad,save,restart",
  },
  committed: { check: "checking save,refresh", "booted-new": "= schedule-confirm", "booted-new-verified": "= schedule-confirm", "booted-old": "= log,schedule-confirm" },
  "rolled-back": { check: "checking save,refresh", "booted-new": "=", "booted-new-verified": "=", "booted-old": "= schedule-confirm" },
  failed: { check: "checking save,refresh", "booted-new": "= schedule-confirm", "booted-new-verified": "= schedule-confirm", "booted-old": "= schedule-confirm" },
};

test("transition table: every state × every input, with its effects", () => {
  for (const [sn, st] of Object.entries(STATES)) {
    for (const [inName, inp] of Object.entries(INPUTS)) {
      const want = TABLE[sn]![inName] ?? "-";
      const got = transition(st, inp);
      const gotName = got === undefined ? "-" : `${got.state === st ? "=" : got.state.s}${got.effects.length ? ` ${effectNames(got)}` : ""}`;
      assert.is(gotName, want, `${sn} × ${inName}`);
    }
  }
});

test("a download that stalls maxStalls cycles fails and discards the partial file; a commit raises the floor with its save", () => {
  let st: UpdateState = STATES.downloading!;
  for (let n = 1; n < 3; n++) st = transition(st, INPUTS["download-incomplete"]!)!.state;
  assert.equal(st.s === "downloading" && st.stalls, 2);
  const f = transition(st, INPUTS["download-incomplete"]!)!;
  assert.equal([f.state.s, f.state.s === "failed" && f.state.code, effectNames(f)], ["failed", "E_OTA_DOWNLOAD_STALLED", "discard-download,save"]);
  const c = transition(STATES.trial!, INPUTS["health-passed"]!)!;
  assert.equal(c.effects[1], { e: "save", raiseFloor: { kind: "runtime", version: "1.1.0" } });
});

test("a rollback names the slot given up on, the reason and a code; booted-old in pending = attempts exhausted", () => {
  const r = transition(STATES.pending!, INPUTS["booted-old"]!)!.state;
  assert.equal(r.s === "rolled-back" && [r.slot, r.from, r.code], ["b", "a", "E_OTA_BOOT_FAILED"]);
  const h = transition(STATES.trial!, INPUTS["health-failed"]!)!.state;
  assert.equal(h.s === "rolled-back" && [h.code, h.reason], ["E_OTA_HEALTH", "r"]);
});

test("a rollback with the reason the launcher left (the new slot refused the config) records that reason, not attempts exhausted", () => {
  const failure = { code: "E_OTA_CONFIG_REFUSED", reason: "slot b refused the config during its trial: E_CONFIG_INVALID: x" };
  for (const from of [STATES.pending!, STATES.trial!]) {
    const r = transition(from, { i: "booted", slot: "a", at: 5, failure })!.state;
    assert.equal(r.s === "rolled-back" && [r.slot, r.code, r.reason], ["b", failure.code, failure.reason]);
  }
  // booted on the slot on trial: the failure note means nothing there
  assert.is(transition(STATES.pending!, { i: "booted", slot: "b", at: 5, failure })!.state.s, "trial");
});

test("onTrial / holdsBootOrder: the slot an update installed and nothing committed yet", () => {
  assert.ok(onTrial(STATES.pending!, "b"));
  assert.ok(onTrial(STATES.trial!, "b"));
  assert.not.ok(onTrial(STATES.trial!, "a"));
  for (const s of ["idle", "committed", "rolled-back", "failed", "downloading"]) {
    assert.not.ok(onTrial(STATES[s]!, "b"), s);
    assert.not.ok(holdsBootOrder(STATES[s]!), s);
  }
  assert.ok(holdsBootOrder(STATES.pending!) && holdsBootOrder(STATES.trial!) && holdsBootOrder(STATES.installing!));
});

test("property: from idle, committed is only ever reached through trial; settled states leave only by check", () => {
  const names = Object.keys(INPUTS);
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...names), { maxLength: 40 }), (seq) => {
      let st: UpdateState = { s: "idle" };
      let sawTrial = false;
      for (const n of seq) {
        const t = transition(st, INPUTS[n]!);
        if (!t) continue;
        const next: UpdateState = t.state;
        // a state change is saved before any step runs
        if (next !== st && !t.effects.some((e) => e.e === "save")) return false;
        const saveAt = t.effects.findIndex((e) => e.e === "save");
        if (t.effects.some((e, k) => ["refresh", "download", "verify", "install", "restart"].includes(e.e) && k < saveAt)) return false;
        if (!busy(st) && busy(next) && n !== "check") return false;
        if (next.s === "trial") sawTrial = true;
        if (next.s === "committed" && st.s !== "committed" && !sawTrial) return false;
        if (next.s === "checking") sawTrial = false;
        st = next;
      }
      return true;
    }),
    { numRuns: 500 },
  );
});

test.run();
