import { test } from "uvu";
import * as assert from "uvu/assert";
import type { ErrorCode, Result, Transition } from "../../core/index.js";
import type { Response } from "../../drivers/modbus/pdu.js";
import { TRANSACTION_START, step, type TransactionEnv, type TransactionEffect, type TransactionInput, type TransactionState } from "../../drivers/modbus/transaction.js";

const regs: Result<Response, ErrorCode> = { ok: true, value: { kind: "registers", fn: 3, registers: [1] } };
const exc: Result<Response, ErrorCode> = { ok: true, value: { kind: "exception", fn: 3, exception: 2 } };
const mismatch: Result<Response, ErrorCode> = { ok: false, code: "E_MODBUS_MISMATCH", reason: "other function" };
const short: Result<Response, ErrorCode> = { ok: false, code: "E_MODBUS_BYTE_COUNT", reason: "lies" };

const send0: TransactionState = { kind: "sending", attempt: 0 };
const wait0: TransactionState = { kind: "waiting", attempt: 0 };
const wait2: TransactionState = { kind: "waiting", attempt: 2 };
const turn: TransactionState = { kind: "turnaround" };
const unicast: TransactionEnv = { unit: 3, fn: 3, retries: 2 };
const broadcast: TransactionEnv = { unit: 0, fn: 6, retries: 2 };

/** [state, input, env, next state kind (+attempt or result code), actions, counters] */
const table: [TransactionState, TransactionInput, TransactionEnv, string, string, string][] = [
  [send0, { kind: "sent" }, unicast, "waiting:0", "armTimeout", ""],
  [send0, { kind: "sent" }, broadcast, "turnaround", "armTurnaround", ""],
  [turn, { kind: "turnaroundElapsed" }, broadcast, "done:ok", "finish", "ok"],
  [wait0, { kind: "frame", response: regs }, unicast, "done:ok", "finish", "ok"],
  [send0, { kind: "frame", response: regs }, unicast, "done:ok", "finish", "ok"],
  [send0, { kind: "frame", response: short }, unicast, "sending:0", "none", ""],
  [wait0, { kind: "frame", response: exc }, unicast, "done:E_MODBUS_ILLEGAL_ADDRESS", "finish", "exceptions"],
  [wait0, { kind: "frame", response: mismatch }, unicast, "waiting:0", "none", "badResponses"],
  [wait0, { kind: "frame", response: short }, unicast, "sending:1", "resend", "badResponses,retries"],
  [wait2, { kind: "frame", response: short }, unicast, "done:E_MODBUS_BYTE_COUNT", "finish", "badResponses,failures"],
  [wait0, { kind: "timeout", corrupted: false }, unicast, "sending:1", "resend", "timeouts,retries"],
  [wait0, { kind: "timeout", corrupted: true }, unicast, "sending:1", "resend", "crcErrors,retries"],
  [wait2, { kind: "timeout", corrupted: false }, unicast, "done:E_MODBUS_TIMEOUT", "finish", "timeouts,failures"],
  [wait2, { kind: "timeout", corrupted: true }, unicast, "done:E_MODBUS_CRC", "finish", "crcErrors,failures"],
  [wait0, { kind: "timeout", corrupted: false }, { ...unicast, retries: 0 }, "done:E_MODBUS_TIMEOUT", "finish", "timeouts,failures"],
  [send0, { kind: "writeFailed", reason: "EIO" }, unicast, "done:E_MODBUS_PORT", "finish", "failures"],
  [wait0, { kind: "portLost" }, unicast, "done:E_MODBUS_PORT_DOWN", "finish", "failures"],
  [wait0, { kind: "stop" }, unicast, "done:E_MODBUS_STOPPED", "finish", ""],
  [send0, { kind: "timeout", corrupted: false }, unicast, "sending:0", "none", ""],
  [wait0, { kind: "sent" }, unicast, "waiting:0", "none", ""],
  [turn, { kind: "frame", response: regs }, broadcast, "turnaround", "none", ""],
];

type Step = Transition<TransactionState, TransactionEffect>;
/** The effects other than counting, in order ("none" when there are none). */
const actions = (r: Step) => r.effects.filter((e) => e.kind !== "count").map((e) => e.kind).join(",") || "none";
const counters = (r: Step) => r.effects.flatMap((e) => (e.kind === "count" ? [e.counter] : []));

function describe(s: TransactionState): string {
  switch (s.kind) {
    case "sending":
    case "waiting":
      return `${s.kind}:${s.attempt}`;
    case "turnaround":
      return "turnaround";
    case "done":
      return `done:${s.result.ok ? "ok" : s.result.code}`;
  }
}

test("transition table", () => {
  for (const [s, input, ctx, next, effect, counts] of table) {
    const r = step(s, input, ctx);
    const label = `${describe(s)} + ${input.kind}${input.kind === "frame" ? `(${input.response.ok ? input.response.value.kind : input.response.code})` : ""} (unit ${ctx.unit})`;
    assert.is(describe(r.state), next, label);
    assert.is(actions(r), effect, label);
    assert.is(counters(r).join(","), counts, label);
  }
});

test("the start sends; a finished transaction ignores everything", () => {
  assert.equal(TRANSACTION_START.state, { kind: "sending", attempt: 0 });
  assert.is(actions(TRANSACTION_START), "send");
  const done: TransactionState = { kind: "done", result: { ok: true, value: undefined } };
  for (const input of [{ kind: "sent" }, { kind: "stop" }, { kind: "timeout", corrupted: true }, { kind: "frame", response: regs }] as TransactionInput[]) {
    const r = step(done, input, unicast);
    assert.is(r.state, done);
    assert.equal(r.effects, []);
  }
});

test("walk: two timeouts then an answer uses exactly the retries", () => {
  let s = TRANSACTION_START.state;
  const inputs: TransactionInput[] = [
    { kind: "sent" },
    { kind: "timeout", corrupted: false },
    { kind: "sent" },
    { kind: "timeout", corrupted: true },
    { kind: "sent" },
    { kind: "frame", response: regs },
  ];
  const counts: string[] = [];
  for (const i of inputs) {
    const r = step(s, i, unicast);
    counts.push(...counters(r));
    s = r.state;
  }
  assert.is(describe(s), "done:ok");
  assert.equal(counts, ["timeouts", "retries", "crcErrors", "retries", "ok"]);
});

test.run();
