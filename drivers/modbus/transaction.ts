/**
 * One request's life on the line, as a pure state machine (Modbus over serial line V1.02 §2.4.1,
 * the master state diagram): send → wait for the reply (or, for a broadcast, the turnaround
 * delay) → done; a timeout or a corrupted/ill-formed reply goes back to send until the retries are
 * spent. An exception reply is an answer: done, not retried. A well-formed reply to some other
 * request (a late answer) is ignored and the wait goes on.
 *
 * `step` only decides (core's FSM convention: `step(state, input, env) → { state, effects }`); the
 * session (master-session.ts) performs the effects it names, in order, and feeds back what
 * happened. The transition table is tested as a table.
 */
import { fail, ok, type ErrorCode, type Result, type Transition } from "../../core/index.js";
import { exceptionCode, type Response } from "./pdu.js";

export type Answer = Exclude<Response, { kind: "exception" }>;

export type TransactionState =
  | { kind: "sending"; attempt: number }
  | { kind: "waiting"; attempt: number }
  | { kind: "turnaround" }
  | { kind: "done"; result: TransactionResult };

export type TransactionInput =
  | { kind: "sent" }
  | { kind: "frame"; response: Result<Response, ErrorCode> }
  /** The response timer fired; `corrupted`: only noise or CRC failures arrived meanwhile. */
  | { kind: "timeout"; corrupted: boolean }
  | { kind: "turnaroundElapsed" }
  | { kind: "writeFailed"; reason: string }
  | { kind: "portLost" }
  | { kind: "stop" };

/** The answer (undefined for a broadcast), or why there is none. */
export type TransactionResult = Result<Answer | undefined, ErrorCode>;

export type TransactionCounter = "ok" | "timeouts" | "crcErrors" | "badResponses" | "exceptions" | "retries" | "failures";

/** What the owner does, in order. */
export type TransactionEffect =
  | { kind: "send" } // hand the frame to the port
  | { kind: "resend" } // wait the inter-frame silence, then send again
  | { kind: "armTimeout" }
  | { kind: "armTurnaround" }
  | { kind: "finish" } // settle the caller's promise with `state.result`
  | { kind: "count"; counter: TransactionCounter };

export interface TransactionEnv {
  unit: number;
  fn: number;
  retries: number;
}

type Step = Transition<TransactionState, TransactionEffect>;

export const TRANSACTION_START: Step = { state: { kind: "sending", attempt: 0 }, effects: [{ kind: "send" }] };

const count = (counters: TransactionCounter[]): TransactionEffect[] => counters.map((counter) => ({ kind: "count", counter }));
const stay = (state: TransactionState, counters: TransactionCounter[] = []): Step => ({ state, effects: count(counters) });
const finish = (result: TransactionResult, counters: TransactionCounter[]): Step => ({ state: { kind: "done", result }, effects: [...count(counters), { kind: "finish" }] });

function retryOrFail(attempt: number, c: TransactionEnv, code: ErrorCode, reason: string, counter: TransactionCounter): Step {
  if (attempt < c.retries) return { state: { kind: "sending", attempt: attempt + 1 }, effects: [...count([counter, "retries"]), { kind: "resend" }] };
  return finish(fail(code, reason), [counter, "failures"]);
}

export function step(s: TransactionState, input: TransactionInput, c: TransactionEnv): Step {
  if (s.kind === "done") return stay(s);
  switch (input.kind) {
    case "stop":
      return finish(fail("E_MODBUS_STOPPED", "the Modbus session stopped"), []);
    case "portLost":
      return finish(fail("E_MODBUS_PORT_DOWN", "the serial port went away during the request"), ["failures"]);
    case "writeFailed":
      return s.kind === "sending" ? finish(fail("E_MODBUS_PORT", `serial write failed: ${input.reason}`), ["failures"]) : stay(s);
    case "sent":
      if (s.kind !== "sending") return stay(s);
      // §2.4.1: a broadcast gets no reply; the turnaround delay lets slaves act on it.
      if (c.unit === 0) return { state: { kind: "turnaround" }, effects: [{ kind: "armTurnaround" }] };
      return { state: { kind: "waiting", attempt: s.attempt }, effects: [{ kind: "armTimeout" }] };
    case "turnaroundElapsed":
      return s.kind === "turnaround" ? finish(ok(undefined), ["ok"]) : stay(s);
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
        if (r.code === "E_MODBUS_MISMATCH") return stay(s, ["badResponses"]);
        return retryOrFail(s.attempt, c, r.code, `unit ${c.unit}: ${r.reason}`, "badResponses");
      }
      if (r.value.kind === "exception") {
        return finish(fail(exceptionCode(r.value.exception), `unit ${c.unit} answered function ${c.fn} with exception ${r.value.exception}`), ["exceptions"]);
      }
      return finish(ok(r.value), ["ok"]);
    }
  }
}
