/**
 * One request's life on the line, as a pure state machine (Modbus over serial line V1.02 §2.4.1,
 * the master state diagram): send → wait for the reply (or, for a broadcast, the turnaround
 * delay) → done; a timeout or a corrupted/ill-formed reply goes back to send until the retries are
 * spent. An exception reply is an answer: done, not retried. A well-formed reply to some other
 * request (a late answer) is ignored and the wait goes on.
 *
 * `step` only decides; the session (master-session.ts) performs the effects it names and feeds
 * back what happened. The transition table is tested as a table.
 */
import type { ErrorCode } from "../../core/index.js";
import { exceptionCode, type Decoded, type Response } from "./pdu.js";

export type Answer = Exclude<Response, { kind: "exception" }>;

export type TxState =
  | { kind: "sending"; attempt: number }
  | { kind: "waiting"; attempt: number }
  | { kind: "turnaround" }
  | { kind: "done"; result: TxResult };

export type TxInput =
  | { kind: "sent" }
  | { kind: "frame"; response: Decoded<Response> }
  /** The response timer fired; `corrupted`: only noise or CRC failures arrived meanwhile. */
  | { kind: "timeout"; corrupted: boolean }
  | { kind: "turnaroundElapsed" }
  | { kind: "writeFailed"; reason: string }
  | { kind: "portLost" }
  | { kind: "stop" };

export type TxResult = { ok: true; answer: Answer | undefined } | { ok: false; code: ErrorCode; reason: string };

/** What the owner does next. */
export type TxEffect =
  | "send" // hand the frame to the port
  | "resend" // wait the inter-frame silence, then send again
  | "armTimeout"
  | "armTurnaround"
  | "finish" // settle the caller's promise with `state.result`
  | "none";

export type TxCounter = "ok" | "timeouts" | "crcErrors" | "badResponses" | "exceptions" | "retries" | "failures";

export interface TxStep {
  state: TxState;
  effect: TxEffect;
  count: TxCounter[];
}

export interface TxContext {
  unit: number;
  fn: number;
  retries: number;
}

export const TX_START: TxStep = { state: { kind: "sending", attempt: 0 }, effect: "send", count: [] };

const stay = (state: TxState): TxStep => ({ state, effect: "none", count: [] });
const finish = (result: TxResult, count: TxCounter[]): TxStep => ({ state: { kind: "done", result }, effect: "finish", count });

function retryOrFail(attempt: number, c: TxContext, code: ErrorCode, reason: string, counter: TxCounter): TxStep {
  if (attempt < c.retries) return { state: { kind: "sending", attempt: attempt + 1 }, effect: "resend", count: [counter, "retries"] };
  return finish({ ok: false, code, reason }, [counter, "failures"]);
}

export function step(s: TxState, input: TxInput, c: TxContext): TxStep {
  if (s.kind === "done") return stay(s);
  switch (input.kind) {
    case "stop":
      return finish({ ok: false, code: "E_MODBUS_STOPPED", reason: "the Modbus session stopped" }, []);
    case "portLost":
      return finish({ ok: false, code: "E_MODBUS_PORT_DOWN", reason: "the serial port went away during the request" }, ["failures"]);
    case "writeFailed":
      return s.kind === "sending" ? finish({ ok: false, code: "E_MODBUS_PORT", reason: `serial write failed: ${input.reason}` }, ["failures"]) : stay(s);
    case "sent":
      if (s.kind !== "sending") return stay(s);
      // §2.4.1: a broadcast gets no reply; the turnaround delay lets slaves act on it.
      if (c.unit === 0) return { state: { kind: "turnaround" }, effect: "armTurnaround", count: [] };
      return { state: { kind: "waiting", attempt: s.attempt }, effect: "armTimeout", count: [] };
    case "turnaroundElapsed":
      return s.kind === "turnaround" ? finish({ ok: true, answer: undefined }, ["ok"]) : stay(s);
    case "timeout":
      if (s.kind !== "waiting") return stay(s);
      return input.corrupted
        ? retryOrFail(s.attempt, c, "E_MODBUS_CRC", `unit ${c.unit}: only corrupted frames (CRC mismatch or noise) before the timeout`, "crcErrors")
        : retryOrFail(s.attempt, c, "E_MODBUS_TIMEOUT", `unit ${c.unit} did not answer function ${c.fn} before the timeout`, "timeouts");
    case "frame": {
      const r = input.response;
      // A reply can overtake the port's "written" confirmation; a good one is taken then too.
      if (s.kind === "turnaround") return stay(s);
      if (!r.ok) {
        if (s.kind === "sending") return stay(s);
        // Well-formed, but the answer to another request: not ours, keep waiting.
        if (r.code === "E_MODBUS_MISMATCH") return { state: s, effect: "none", count: ["badResponses"] };
        return retryOrFail(s.attempt, c, r.code, `unit ${c.unit}: ${r.reason}`, "badResponses");
      }
      if (r.value.kind === "exception") {
        return finish({ ok: false, code: exceptionCode(r.value.exception), reason: `unit ${c.unit} answered function ${c.fn} with exception ${r.value.exception}` }, ["exceptions"]);
      }
      return finish({ ok: true, answer: r.value }, ["ok"]);
    }
  }
}
