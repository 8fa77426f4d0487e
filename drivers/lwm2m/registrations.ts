/**
 * The set of registered LwM2M clients: admission (cap on unknown endpoints and a token-bucket rate
 * limit, so a registration flood is bounded in memory and cannot lock out configured devices),
 * lifetime timers on the injected clock (driven through the pure machine in
 * registration-lifetime.ts) and persistence before every state change is acted on.
 */
import type { Clock, Timer } from "../../core/index.js";
import { stepLifetime, type LifetimeEffect, type LifetimeState } from "./registration-lifetime.js";
import type { Registration, RegistrationStore } from "./registration-store.js";
import type { Link } from "./link-format.js";

export interface RegistrationLimits {
  /** registrations from endpoints that are not in the device config */
  maxUnknown: number;
  /** new registrations per second from unknown endpoints (token bucket) */
  ratePerSecond: number;
  burst: number;
  minLifetimeS: number;
  maxLifetimeS: number;
}

export type Admission = "known" | "unknown" | "reject";

/** What a Register carries; the set adds the id and the times. */
export type RegisterRequest = Omit<Registration, "id" | "registeredAt" | "updatedAt" | "expiresAt">;

export interface UpdateRequest {
  address: string;
  port: number;
  lifetime?: number;
  binding?: string;
  links?: Link[];
  objects?: string[];
}

export type RegisterOutcome =
  | { ok: true; registration: Registration; isNew: boolean }
  | { ok: false; code: "E_LWM2M_RATE_LIMITED" | "E_LWM2M_REGISTRATION_CAP" | "E_LWM2M_ENDPOINT_REJECTED"; reason: string };

export interface RegistrationEvents {
  online(reg: Registration, how: "register" | "restore"): void;
  /** every accepted Register, new or replacing a live one (observations must be re-established) */
  registered(reg: Registration, isNew: boolean): void;
  updated(reg: Registration, addressChanged: boolean): void;
  offline(reg: Registration, reason: "lifetime" | "deregistered" | "replaced"): void;
}

interface Entry {
  reg: Registration;
  state: LifetimeState;
  timer?: Timer;
  known: boolean;
}

export class Registrations {
  private readonly byId = new Map<string, Entry>();
  private readonly byEp = new Map<string, Entry>();
  private unknownCount = 0;
  private tokens: number;
  private lastRefill: number;
  rejected = { rate: 0, cap: 0, endpoint: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly limits: RegistrationLimits,
    private readonly admit: (endpoint: string) => Admission,
    private readonly events: RegistrationEvents,
    private readonly newId: () => string,
    private readonly store?: RegistrationStore,
  ) {
    this.tokens = limits.burst;
    this.lastRefill = clock.monotonic();
  }

  get size(): number {
    return this.byId.size;
  }

  get unknownSize(): number {
    return this.unknownCount;
  }

  all(): Registration[] {
    return [...this.byId.values()].map((e) => e.reg);
  }

  get(id: string): Registration | undefined {
    return this.byId.get(id)?.reg;
  }

  byEndpoint(endpoint: string): Registration | undefined {
    return this.byEp.get(endpoint)?.reg;
  }

  /** Load persisted registrations: live ones come back online, lapsed ones are dropped. */
  restore(): Registration[] {
    if (!this.store) return [];
    const now = this.clock.now();
    const restored: Registration[] = [];
    for (const reg of this.store.load()) {
      const admission = this.admit(reg.endpoint);
      if (reg.expiresAt <= now || admission === "reject") {
        this.store.delete(reg.id);
        continue;
      }
      const e: Entry = { reg, state: { kind: "registered", expiresAt: reg.expiresAt }, known: admission === "known" };
      this.insert(e);
      this.schedule(e, reg.expiresAt);
      restored.push(reg);
      this.events.online(reg, "restore");
    }
    return restored;
  }

  private takeToken(): boolean {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.limits.ratePerSecond);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private clampLifetime(s: number): number {
    return Math.min(this.limits.maxLifetimeS, Math.max(this.limits.minLifetimeS, s));
  }

  register(req: RegisterRequest): RegisterOutcome {
    const admission = this.admit(req.endpoint);
    if (admission === "reject") {
      this.rejected.endpoint++;
      return { ok: false, code: "E_LWM2M_ENDPOINT_REJECTED", reason: `endpoint ${req.endpoint} is not configured and unknown endpoints are not accepted` };
    }
    const existing = this.byEp.get(req.endpoint);
    if (admission === "unknown" && !existing) {
      if (this.unknownCount >= this.limits.maxUnknown) {
        this.rejected.cap++;
        return { ok: false, code: "E_LWM2M_REGISTRATION_CAP", reason: `${this.unknownCount} unknown endpoints registered (cap ${this.limits.maxUnknown})` };
      }
      if (!this.takeToken()) {
        this.rejected.rate++;
        return { ok: false, code: "E_LWM2M_RATE_LIMITED", reason: "registration rate limit" };
      }
    }
    const now = this.clock.now();
    const lifetime = this.clampLifetime(req.lifetime);
    // §6.2.1: a Register from an already registered endpoint replaces the old registration.
    if (existing) this.remove(existing, undefined);
    const step = stepLifetime(existing ? existing.state : undefined, { kind: "register", now, lifetimeS: lifetime });
    const reg: Registration = { id: this.newId(), ...req, lifetime, registeredAt: now, updatedAt: now, expiresAt: step.state?.kind === "registered" ? step.state.expiresAt : now };
    const e: Entry = { reg, state: step.state!, known: admission === "known" };
    this.store?.put(reg);
    this.insert(e);
    this.apply(e, step.effects);
    this.events.registered(reg, !existing);
    return { ok: true, registration: reg, isNew: !existing };
  }

  update(id: string, req: UpdateRequest): Registration | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    const now = this.clock.now();
    const lifetime = req.lifetime === undefined ? undefined : this.clampLifetime(req.lifetime);
    const step = stepLifetime(e.state, lifetime === undefined ? { kind: "update", now, currentLifetimeS: e.reg.lifetime } : { kind: "update", now, lifetimeS: lifetime, currentLifetimeS: e.reg.lifetime });
    if (step.effects.some((x) => x.kind === "reject")) return undefined;
    const addressChanged = req.address !== e.reg.address || req.port !== e.reg.port;
    e.reg = {
      ...e.reg,
      address: req.address,
      port: req.port,
      lifetime: lifetime ?? e.reg.lifetime,
      binding: req.binding ?? e.reg.binding,
      links: req.links ?? e.reg.links,
      objects: req.objects ?? e.reg.objects,
      updatedAt: now,
      expiresAt: step.state?.kind === "registered" ? step.state.expiresAt : e.reg.expiresAt,
    };
    e.state = step.state!;
    this.store?.put(e.reg);
    this.apply(e, step.effects);
    this.events.updated(e.reg, addressChanged);
    return e.reg;
  }

  deregister(id: string): boolean {
    const e = this.byId.get(id);
    if (!e) return false;
    const step = stepLifetime(e.state, { kind: "deregister", now: this.clock.now() });
    e.state = step.state!;
    this.remove(e, "deregistered");
    return true;
  }

  /** Stop timers (gateway stop); registrations stay persisted for the next start. */
  close(): void {
    for (const e of this.byId.values()) e.timer?.cancel();
    this.byId.clear();
    this.byEp.clear();
    this.unknownCount = 0;
  }

  private insert(e: Entry): void {
    this.byId.set(e.reg.id, e);
    this.byEp.set(e.reg.endpoint, e);
    if (!e.known) this.unknownCount++;
  }

  private remove(e: Entry, reason: "lifetime" | "deregistered" | undefined): void {
    e.timer?.cancel();
    this.store?.delete(e.reg.id);
    this.byId.delete(e.reg.id);
    if (this.byEp.get(e.reg.endpoint) === e) this.byEp.delete(e.reg.endpoint);
    if (!e.known) this.unknownCount--;
    if (reason) this.events.offline(e.reg, reason);
  }

  private schedule(e: Entry, at: number): void {
    e.timer?.cancel();
    e.timer = this.clock.setTimeout(() => this.tick(e), Math.max(0, at - this.clock.now()));
  }

  private tick(e: Entry): void {
    if (this.byId.get(e.reg.id) !== e) return;
    const step = stepLifetime(e.state, { kind: "tick", now: this.clock.now() });
    e.state = step.state!;
    this.apply(e, step.effects);
  }

  private apply(e: Entry, effects: LifetimeEffect[]): void {
    for (const fx of effects) {
      if (fx.kind === "schedule") this.schedule(e, fx.at);
      else if (fx.kind === "online") this.events.online(e.reg, "register");
      else if (fx.kind === "offline") {
        if (fx.reason === "lifetime") this.remove(e, "lifetime");
      }
    }
  }
}
