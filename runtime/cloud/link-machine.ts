/**
 * The cloud link as a pure state machine (core/fsm.ts convention): states and inputs are tagged
 * unions, `linkStep` returns the next state and the effects its owner (CloudLink) performs. No
 * timers, sockets or clocks here. `gateStep` is the second machine of the module, one per priority class.
 *
 *   stopped ──start──► connecting ──connected──► online ⇄ draining (backlog / caught up)
 *                        ▲    │ failed                │ lost
 *                        │    ▼                       ▼
 *                        └─ offline (retry after full-jitter backoff) ◄┘
 */
import { fullJitterDelay, stay, type Random, type BackoffPolicy, type Transition } from "../../core/index.js";

export type LinkState =
  | { tag: "stopped" }
  | { tag: "connecting"; attempt: number }
  | { tag: "offline"; attempt: number; retryInMs: number; reason: string }
  /** `attempt`: failed attempts before this connection; kept until the link proved stable. */
  | { tag: "online"; attempt: number }
  | { tag: "draining"; attempt: number };

export type LinkInput =
  | { type: "start" }
  | { type: "connected"; backlog: boolean }
  | { type: "connect_failed"; reason: string }
  /** `upForMs`: how long the connection lasted (a link that drops at once keeps backing off). */
  | { type: "lost"; reason: string; upForMs: number }
  | { type: "retry_due" }
  | { type: "backlog"; pending: boolean }
  | { type: "stop" };

export type LinkEffect =
  | { type: "connect" }
  | { type: "disconnect" }
  | { type: "schedule_retry"; delayMs: number }
  | { type: "cancel_retry" }
  /** Forget what was in flight: unacknowledged rows are sent again (same ids) on the next connection. */
  | { type: "rewind" }
  /** Connected: subscribe to the downlink, publish what waited (twin), start draining. */
  | { type: "on_connected" };

export interface LinkEnv {
  backoff: BackoffPolicy;
  random: Random;
  /** A connection up at least this long resets the backoff (default 30 s). */
  stableAfterMs?: number;
}

export type LinkTag = LinkState["tag"];

export function linkStep(s: LinkState, i: LinkInput, env: LinkEnv): Transition<LinkState, LinkEffect> {
  const same = stay<LinkState, LinkEffect>(s);
  const fail = (attempt: number, reason: string): Transition<LinkState, LinkEffect> => {
    const delayMs = fullJitterDelay(env.backoff, attempt, env.random);
    return { state: { tag: "offline", attempt: attempt + 1, retryInMs: delayMs, reason }, effects: [{ type: "rewind" }, { type: "schedule_retry", delayMs }] };
  };
  switch (i.type) {
    case "stop":
      return s.tag === "stopped" ? same : { state: { tag: "stopped" }, effects: [{ type: "cancel_retry" }, { type: "disconnect" }, { type: "rewind" }] };
    case "start":
      return s.tag === "stopped" ? { state: { tag: "connecting", attempt: 0 }, effects: [{ type: "connect" }] } : same;
    case "connected":
      return s.tag === "connecting" ? { state: { tag: i.backlog ? "draining" : "online", attempt: s.attempt }, effects: [{ type: "on_connected" }] } : same;
    case "connect_failed":
      return s.tag === "connecting" ? fail(s.attempt, i.reason) : same;
    case "lost":
      // A connection that stayed up starts the backoff afresh; one that dropped at once (a broker
      // that accepts and then kicks us) keeps growing it, so a fleet never reconnects in a tight loop.
      if (s.tag === "online" || s.tag === "draining") return fail(i.upForMs >= (env.stableAfterMs ?? 30_000) ? 0 : s.attempt, i.reason);
      return s.tag === "connecting" ? fail(s.attempt, i.reason) : same;
    case "retry_due":
      return s.tag === "offline" ? { state: { tag: "connecting", attempt: s.attempt }, effects: [{ type: "connect" }] } : same;
    case "backlog":
      if (s.tag === "online" && i.pending) return { state: { tag: "draining", attempt: s.attempt }, effects: [] };
      if (s.tag === "draining" && !i.pending) return { state: { tag: "online", attempt: s.attempt }, effects: [] };
      return same;
  }
}

/** The state as a small number for the `ridge_uplink_link_state` gauge. */
export const LINK_STATE_CODE: Record<LinkTag, number> = { stopped: 0, offline: 1, connecting: 2, draining: 3, online: 4 };

/**
 * One priority class's publish gate, a second small machine beside the link's: a publish the
 * broker refuses (MQTT 5 PUBACK reason code ≥ 0x80, §3.4.2.1) holds that class for a full-jitter
 * backoff, then the class is sent again from the refused batch. The connection stays up (other
 * classes, the downlink and the twin keep working), so a standing denial (an ACL, a quota) costs
 * one publish per backoff step instead of a reconnect loop.
 *
 *   open ──refused──► held (retry after full-jitter backoff, growing per refusal) ──retry_due──► open
 *   open ──acked──► open (refusals forgotten)
 */
export type GateState =
  | { tag: "open"; refusals: number }
  | { tag: "held"; refusals: number; retryInMs: number; reason: string };

export type GateInput =
  | { type: "refused"; reason: string }
  | { type: "acked" }
  | { type: "retry_due" }
  /** The connection went away: whatever was held is rewound with everything else. */
  | { type: "reset" };

export type GateEffect =
  /** Forget this class's batches in flight: they are sent again (same ids) from the oldest unacknowledged. */
  | { type: "rewind_class" }
  | { type: "schedule_class_retry"; delayMs: number }
  | { type: "cancel_class_retry" };

export const OPEN_GATE: GateState = { tag: "open", refusals: 0 };

export function gateStep(g: GateState, i: GateInput, env: LinkEnv): Transition<GateState, GateEffect> {
  switch (i.type) {
    case "refused": {
      // Refusals of batches published before the hold began arrive late: the class was already rewound.
      if (g.tag === "held") return stay(g);
      const delayMs = fullJitterDelay(env.backoff, g.refusals, env.random);
      return { state: { tag: "held", refusals: g.refusals + 1, retryInMs: delayMs, reason: i.reason }, effects: [{ type: "rewind_class" }, { type: "schedule_class_retry", delayMs }] };
    }
    case "acked":
      return g.tag === "open" && g.refusals > 0 ? stay(OPEN_GATE) : stay(g);
    case "retry_due":
      return g.tag === "held" ? stay<GateState, GateEffect>({ tag: "open", refusals: g.refusals }) : stay(g);
    case "reset":
      return g.tag === "held" ? { state: { tag: "open", refusals: g.refusals }, effects: [{ type: "cancel_class_retry" }] } : stay(g);
  }
}
