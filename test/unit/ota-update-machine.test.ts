// The update flow's transition table as a test (every state × every input), and properties:
// no input ever leads from a settled state to an in-flight one except `check`, a rollback
// always names the slot it gave up on, and `committed` is reachable only through `trial`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { transition, busy, onTrial, holdsBootOrder, type UpdateInput, type UpdateState, type PlannedTarget } from "../../ota/update-machine.js";

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
  "verify-failed": { i: "verify-failed", code: "E", reason: "r" },
  installed: { i: "installed" },
  "install-failed": { i: "install-failed", code: "E", reason: "r" },
  "booted-new": { i: "booted", slot: "b", at: 5 },
  "booted-old": { i: "booted", slot: "a", at: 5 },
  "health-passed": { i: "health-passed" },
  "health-failed": { i: "health-failed", code: "E_OTA_HEALTH", reason: "r" },
};

// expected next state name, "-" = refused (undefined), "=" = unchanged
const TABLE: Record<string, Record<string, string>> = {
  idle: { check: "checking", "booted-new": "=", "booted-old": "=" },
  checking: { "no-update": "idle", "update-found": "downloading", "check-failed": "failed", "booted-new": "=", "booted-old": "=" },
  downloading: { downloaded: "verifying", "download-failed": "failed", "booted-new": "=", "booted-old": "=" },
  verifying: { verified: "installing", "verify-failed": "failed", "booted-new": "=", "booted-old": "=" },
  installing: { installed: "pending", "install-failed": "failed", "booted-new": "=", "booted-old": "=" },
  pending: { "booted-new": "trial", "booted-old": "rolled-back" },
  trial: { "booted-new": "=", "booted-old": "rolled-back", "health-passed": "committed", "health-failed": "rolled-back" },
  committed: { check: "checking", "booted-new": "=", "booted-old": "=" },
  "rolled-back": { check: "checking", "booted-new": "=", "booted-old": "=" },
  failed: { check: "checking", "booted-new": "=", "booted-old": "=" },
};

test("transition table: every state × every input", () => {
  for (const [sn, st] of Object.entries(STATES)) {
    for (const [inName, inp] of Object.entries(INPUTS)) {
      const want = TABLE[sn]![inName] ?? "-";
      const got = transition(st, inp);
      const gotName = got === undefined ? "-" : got === st ? "=" : got.s;
      assert.is(gotName, want, `${sn} × ${inName}`);
    }
  }
});

test("a rollback names the slot given up on, the reason and a code; booted-old in pending = attempts exhausted", () => {
  const r = transition(STATES.pending!, INPUTS["booted-old"]!)!;
  assert.equal(r.s === "rolled-back" && [r.slot, r.from, r.code], ["b", "a", "E_OTA_BOOT_FAILED"]);
  const h = transition(STATES.trial!, INPUTS["health-failed"]!)!;
  assert.equal(h.s === "rolled-back" && [h.code, h.reason], ["E_OTA_HEALTH", "r"]);
});

test("a rollback with the reason the launcher left (the new slot refused the config) records that reason, not attempts exhausted", () => {
  const failure = { code: "E_OTA_CONFIG_REFUSED", reason: "slot b refused the config during its trial: E_CONFIG_INVALID: x" };
  for (const from of [STATES.pending!, STATES.trial!]) {
    const r = transition(from, { i: "booted", slot: "a", at: 5, failure })!;
    assert.equal(r.s === "rolled-back" && [r.slot, r.code, r.reason], ["b", failure.code, failure.reason]);
  }
  // booted on the slot on trial: the failure note means nothing there
  assert.is(transition(STATES.pending!, { i: "booted", slot: "b", at: 5, failure })!.s, "trial");
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
        const next = transition(st, INPUTS[n]!);
        if (!next) continue;
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
