/**
 * The cloud link as a pure state machine: states and inputs are tagged unions, `step` returns the
 * next state and the effects its owner (CloudLink) performs. No timers, sockets or clocks here.
 *
 *   stopped ──start──► connecting ──connected──► online ⇄ draining (backlog / caught up)
 *                        ▲    │ failed                │ lost
 *                        │    ▼                       ▼
 *                        └─ offline (retry after full-jitter backoff) ◄┘
 */
import type { Random } from "../../core/clock.js";
import { fullJitterDelay, type BackoffPolicy } from "../../core/backoff.js";

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

export function step(s: LinkState, i: LinkInput, env: LinkEnv): { state: LinkState; effects: LinkEffect[] } {
  const stay = { state: s, effects: [] as LinkEffect[] };
  const fail = (attempt: number, reason: string) => {
    const delayMs = fullJitterDelay(env.backoff, attempt, env.random);
    return { state: { tag: "offline", attempt: attempt + 1, retryInMs: delayMs, reason } as LinkState, effects: [{ type: "rewind" }, { type: "schedule_retry", delayMs }] as LinkEffect[] };
  };
  switch (i.type) {
    case "stop":
      return s.tag === "stopped" ? stay : { state: { tag: "stopped" }, effects: [{ type: "cancel_retry" }, { type: "disconnect" }, { type: "rewind" }] };
    case "start":
      return s.tag === "stopped" ? { state: { tag: "connecting", attempt: 0 }, effects: [{ type: "connect" }] } : stay;
    case "connected":
      return s.tag === "connecting" ? { state: { tag: i.backlog ? "draining" : "online", attempt: s.attempt }, effects: [{ type: "on_connected" }] } : stay;
    case "connect_failed":
      return s.tag === "connecting" ? fail(s.attempt, i.reason) : stay;
    case "lost":
      // A connection that stayed up starts the backoff afresh; one that dropped at once (a broker
      // that accepts and then kicks us) keeps growing it, so a fleet never reconnects in a tight loop.
      if (s.tag === "online" || s.tag === "draining") return fail(i.upForMs >= (env.stableAfterMs ?? 30_000) ? 0 : s.attempt, i.reason);
      return s.tag === "connecting" ? fail(s.attempt, i.reason) : stay;
    case "retry_due":
      return s.tag === "offline" ? { state: { tag: "connecting", attempt: s.attempt }, effects: [{ type: "connect" }] } : stay;
    case "backlog":
      if (s.tag === "online" && i.pending) return { state: { tag: "draining", attempt: s.attempt }, effects: [] };
      if (s.tag === "draining" && !i.pending) return { state: { tag: "online", attempt: s.attempt }, effects: [] };
      return stay;
  }
}

/** The state as a small number for the `ridge_uplink_link_state` gauge. */
export const LINK_STATE_CODE: Record<LinkTag, number> = { stopped: 0, offline: 1, connecting: 2, draining: 3, online: 4 };
