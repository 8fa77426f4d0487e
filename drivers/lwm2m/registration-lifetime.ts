/**
 * The registration lifetime of one LwM2M client as a pure state machine
 * (OMA-TS-LightweightM2M-Core §6.2: Register, Update, De-register; a client that lets its
 * lifetime pass without an Update is removed by the server), in core's FSM convention. The
 * requested lifetime is clamped to the configured bounds here. The owner (registrations.ts) feeds
 * inputs with the injected clock's time, persists the state and then performs the effects, in
 * the order given.
 *
 * Ordering (issue 18 item 10): an accepted Register or Update starts with `acknowledge` — the
 * owner sends the 2.01 / 2.04 — before anything that may lead to a request to the client
 * (`online`, and the `registered`/`updated` events its owner raises after the effects). Clients
 * such as Eclipse Wakaama ignore requests until their Register is acknowledged (§6.2.1: the
 * client is registered once it has the response), so a request sent earlier waits for a CoAP
 * retransmission 2-3 s later.
 */
import type { Transition } from "../../core/index.js";

export type LifetimeState =
  | { kind: "registered"; lifetimeS: number; expiresAt: number }
  | { kind: "expired"; at: number }
  | { kind: "deregistered"; at: number };

export type LifetimeInput =
  | { kind: "register"; now: number; lifetimeS: number }
  /** `lifetimeS` absent: the Update keeps the current lifetime. */
  | { kind: "update"; now: number; lifetimeS?: number }
  | { kind: "deregister"; now: number }
  | { kind: "tick"; now: number };

export type LifetimeEffect =
  /** answer the Register (2.01) or Update (2.04) now: always the first effect of an accepted one */
  | { kind: "acknowledge" }
  | { kind: "online" }
  | { kind: "offline"; reason: "lifetime" | "deregistered" }
  | { kind: "schedule"; at: number }
  | { kind: "reject"; reason: "not-registered" };

export interface LifetimeEnv {
  minLifetimeS: number;
  maxLifetimeS: number;
}

export function lifetimeStep(state: LifetimeState | undefined, input: LifetimeInput, env: LifetimeEnv): Transition<LifetimeState | undefined, LifetimeEffect> {
  const live = state?.kind === "registered" ? state : undefined;
  const registered = (now: number, lifetimeS: number): Extract<LifetimeState, { kind: "registered" }> => {
    const clamped = Math.min(env.maxLifetimeS, Math.max(env.minLifetimeS, lifetimeS));
    return { kind: "registered", lifetimeS: clamped, expiresAt: now + clamped * 1000 };
  };
  switch (input.kind) {
    case "register": {
      const next = registered(input.now, input.lifetimeS);
      // A re-registration of a live client is not a new "online" transition.
      return { state: next, effects: live ? [{ kind: "acknowledge" }, { kind: "schedule", at: next.expiresAt }] : [{ kind: "acknowledge" }, { kind: "online" }, { kind: "schedule", at: next.expiresAt }] };
    }
    case "update": {
      if (!live) return { state, effects: [{ kind: "reject", reason: "not-registered" }] };
      const next = input.lifetimeS === undefined ? { ...live, expiresAt: input.now + live.lifetimeS * 1000 } : registered(input.now, input.lifetimeS);
      return { state: next, effects: [{ kind: "acknowledge" }, { kind: "schedule", at: next.expiresAt }] };
    }
    case "deregister":
      if (!live) return { state, effects: [{ kind: "reject", reason: "not-registered" }] };
      return { state: { kind: "deregistered", at: input.now }, effects: [{ kind: "offline", reason: "deregistered" }] };
    case "tick":
      if (!live) return { state, effects: [] };
      if (input.now >= live.expiresAt) return { state: { kind: "expired", at: input.now }, effects: [{ kind: "offline", reason: "lifetime" }] };
      return { state, effects: [{ kind: "schedule", at: live.expiresAt }] };
  }
}
