/**
 * The registration lifetime of one LwM2M client as a pure state machine
 * (OMA-TS-LightweightM2M-Core §6.2: Register, Update, De-register; a client that lets its
 * lifetime pass without an Update is removed by the server). The owner (registrations.ts) feeds
 * inputs with the injected clock's time, performs the effects and persists the state first.
 */
export type LifetimeState =
  | { kind: "registered"; expiresAt: number }
  | { kind: "expired"; at: number }
  | { kind: "deregistered"; at: number };

export type LifetimeInput =
  | { kind: "register"; now: number; lifetimeS: number }
  | { kind: "update"; now: number; lifetimeS?: number; currentLifetimeS: number }
  | { kind: "deregister"; now: number }
  | { kind: "tick"; now: number };

export type LifetimeEffect =
  | { kind: "online" }
  | { kind: "offline"; reason: "lifetime" | "deregistered" }
  | { kind: "schedule"; at: number }
  | { kind: "reject"; reason: "not-registered" };

export interface LifetimeStep {
  state: LifetimeState | undefined;
  effects: LifetimeEffect[];
}

export function stepLifetime(state: LifetimeState | undefined, input: LifetimeInput): LifetimeStep {
  const live = state?.kind === "registered" ? state : undefined;
  switch (input.kind) {
    case "register": {
      const expiresAt = input.now + input.lifetimeS * 1000;
      // A re-registration of a live client is not a new "online" transition.
      return { state: { kind: "registered", expiresAt }, effects: live ? [{ kind: "schedule", at: expiresAt }] : [{ kind: "online" }, { kind: "schedule", at: expiresAt }] };
    }
    case "update": {
      if (!live) return { state, effects: [{ kind: "reject", reason: "not-registered" }] };
      const expiresAt = input.now + (input.lifetimeS ?? input.currentLifetimeS) * 1000;
      return { state: { kind: "registered", expiresAt }, effects: [{ kind: "schedule", at: expiresAt }] };
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
