import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Decoded, Response } from "../../drivers/modbus/pdu.js";
import { TX_START, step, type TxContext, type TxEffect, type TxInput, type TxState } from "../../drivers/modbus/transaction.js";

const regs: Decoded<Response> = { ok: true, value: { kind: "registers", fn: 3, registers: [1] } };
const exc: Decoded<Response> = { ok: true, value: { kind: "exception", fn: 3, exception: 2 } };
const mismatch: Decoded<Response> = { ok: false, code: "E_MODBUS_MISMATCH", reason: "other function" };
const short: Decoded<Response> = { ok: false, code: "E_MODBUS_BYTE_COUNT", reason: "lies" };

const send0: TxState = { kind: "sending", attempt: 0 };
const wait0: TxState = { kind: "waiting", attempt: 0 };
const wait2: TxState = { kind: "waiting", attempt: 2 };
const turn: TxState = { kind: "turnaround" };
const unicast: TxContext = { unit: 3, fn: 3, retries: 2 };
const broadcast: TxContext = { unit: 0, fn: 6, retries: 2 };

/** [state, input, context, next state kind (+attempt or result code), effect, counters] */
const table: [TxState, TxInput, TxContext, string, TxEffect, string][] = [
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

function describe(s: TxState): string {
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
    assert.is(r.effect, effect, label);
    assert.is(r.count.join(","), counts, label);
  }
});

test("the start sends; a finished transaction ignores everything", () => {
  assert.equal(TX_START.state, { kind: "sending", attempt: 0 });
  assert.is(TX_START.effect, "send");
  const done: TxState = { kind: "done", result: { ok: true, answer: undefined } };
  for (const input of [{ kind: "sent" }, { kind: "stop" }, { kind: "timeout", corrupted: true }, { kind: "frame", response: regs }] as TxInput[]) {
    const r = step(done, input, unicast);
    assert.is(r.state, done);
    assert.is(r.effect, "none");
  }
});

test("walk: two timeouts then an answer uses exactly the retries", () => {
  let s = TX_START.state;
  const inputs: TxInput[] = [
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
    counts.push(...r.count);
    s = r.state;
  }
  assert.is(describe(s), "done:ok");
  assert.equal(counts, ["timeouts", "retries", "crcErrors", "retries", "ok"]);
});

test.run();
