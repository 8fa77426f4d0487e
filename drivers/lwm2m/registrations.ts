/**
 * The set of registered LwM2M clients, owner of two pure machines: admission
 * (registration-admission.ts: cap on unknown endpoints and a token-bucket rate limit) and each
 * client's lifetime (registration-lifetime.ts). The machines decide; this class performs their
 * effects in the order the machine gives them — the answer to the client, lifetime timers on the
 * injected clock, the events — and persists every state change before acting on it. The answer
 * to a Register or Update (`acknowledge`) is sent before the `registered`/`updated` events, so
 * nothing the owner sends on those events can reach the client ahead of its 2.01 / 2.04.
 */
import { RidgeError, fail, ok, type Clock, type Result, type Timer } from "../../core/index.js";
import { admissionStart, admissionStep, type Admission, type AdmissionEnv, type AdmissionRefusal, type AdmissionState } from "./registration-admission.js";
import { lifetimeStep, type LifetimeEffect, type LifetimeEnv, type LifetimeInput, type LifetimeState } from "./registration-lifetime.js";
import type { Registration, RegistrationStore } from "./registration-store.js";
import type { Link } from "./link-format.js";

export type RegistrationLimits = AdmissionEnv & LifetimeEnv;

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

export type RegisterOutcome = Result<{ registration: Registration; isNew: boolean }, AdmissionRefusal>;

export interface RegistrationEvents {
  online(reg: Registration, how: "register" | "restore"): void;
  /** every accepted Register, new or replacing a live one (observations must be re-established) */
  registered(reg: Registration, isNew: boolean): void;
  updated(reg: Registration, addressChanged: boolean): void;
  offline(reg: Registration, reason: "lifetime" | "deregistered" | "replaced"): void;
}

/** Sends the 2.01 (Register, with the registration's location) or 2.04 (Update) to the client. */
export type Acknowledge = (reg: Registration) => void;

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
  private admission: AdmissionState;
  rejected = { rate: 0, cap: 0, endpoint: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly limits: RegistrationLimits,
    private readonly admit: (endpoint: string) => Admission,
    private readonly events: RegistrationEvents,
    private readonly newId: () => string,
    private readonly store?: RegistrationStore,
  ) {
    this.admission = admissionStart(limits, clock.monotonic());
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
      const e: Entry = { reg, state: { kind: "registered", lifetimeS: reg.lifetime, expiresAt: reg.expiresAt }, known: admission === "known" };
      this.insert(e);
      this.schedule(e, reg.expiresAt);
      restored.push(reg);
      this.events.online(reg, "restore");
    }
    return restored;
  }

  register(req: RegisterRequest, acknowledge: Acknowledge = () => undefined): RegisterOutcome {
    const existing = this.byEp.get(req.endpoint);
    const admitted = admissionStep(this.admission, { kind: "register", admission: this.admit(req.endpoint), endpoint: req.endpoint, replacing: existing !== undefined, unknownRegistered: this.unknownCount, now: this.clock.monotonic() }, this.limits);
    this.admission = admitted.state;
    const verdict = admitted.effects[0]!;
    if (verdict.kind === "refuse") {
      this.rejected[verdict.code === "E_LWM2M_RATE_LIMITED" ? "rate" : verdict.code === "E_LWM2M_REGISTRATION_CAP" ? "cap" : "endpoint"]++;
      return fail(verdict.code, verdict.reason);
    }
    const now = this.clock.now();
    // §6.2.1: a Register from an already registered endpoint replaces the old registration.
    if (existing) this.remove(existing, undefined);
    const step = this.lifetime(existing?.state, { kind: "register", now, lifetimeS: req.lifetime });
    const reg: Registration = { id: this.newId(), ...req, lifetime: step.state.lifetimeS, registeredAt: now, updatedAt: now, expiresAt: step.state.expiresAt };
    const e: Entry = { reg, state: step.state, known: verdict.known };
    this.store?.put(reg);
    this.insert(e);
    this.apply(e, step.effects, acknowledge);
    this.events.registered(reg, !existing);
    return ok({ registration: reg, isNew: !existing });
  }

  update(id: string, req: UpdateRequest, acknowledge: Acknowledge = () => undefined): Registration | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    const now = this.clock.now();
    const step = lifetimeStep(e.state, req.lifetime === undefined ? { kind: "update", now } : { kind: "update", now, lifetimeS: req.lifetime }, this.limits);
    if (step.state?.kind !== "registered") return undefined;
    const addressChanged = req.address !== e.reg.address || req.port !== e.reg.port;
    e.reg = {
      ...e.reg,
      address: req.address,
      port: req.port,
      lifetime: step.state.lifetimeS,
      binding: req.binding ?? e.reg.binding,
      links: req.links ?? e.reg.links,
      objects: req.objects ?? e.reg.objects,
      updatedAt: now,
      expiresAt: step.state.expiresAt,
    };
    e.state = step.state;
    this.store?.put(e.reg);
    this.apply(e, step.effects, acknowledge);
    this.events.updated(e.reg, addressChanged);
    return e.reg;
  }

  deregister(id: string): boolean {
    const e = this.byId.get(id);
    if (!e) return false;
    const step = lifetimeStep(e.state, { kind: "deregister", now: this.clock.now() }, this.limits);
    if (step.state) e.state = step.state;
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
    const step = lifetimeStep(e.state, { kind: "tick", now: this.clock.now() }, this.limits);
    if (step.state) e.state = step.state;
    this.apply(e, step.effects);
  }

  /** A Register always ends registered. */
  private lifetime(state: LifetimeState | undefined, input: Extract<LifetimeInput, { kind: "register" }>): { state: Extract<LifetimeState, { kind: "registered" }>; effects: readonly LifetimeEffect[] } {
    const step = lifetimeStep(state, input, this.limits);
    if (step.state?.kind !== "registered") throw new RidgeError("E_INTERNAL", "the lifetime machine left a Register unregistered");
    return { state: step.state, effects: step.effects };
  }

  private apply(e: Entry, effects: readonly LifetimeEffect[], acknowledge?: Acknowledge): void {
    for (const fx of effects) {
      if (fx.kind === "acknowledge") acknowledge?.(e.reg);
      else if (fx.kind === "schedule") this.schedule(e, fx.at);
      else if (fx.kind === "online") this.events.online(e.reg, "register");
      else if (fx.kind === "offline") {
        if (fx.reason === "lifetime") this.remove(e, "lifetime");
      }
    }
  }
}
