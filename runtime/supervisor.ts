/**
 * The supervisor: starts components in dependency order, stops them in reverse within a deadline,
 * and restarts a failed restartable component (a driver) with exponential backoff and full jitter,
 * so one broken bus or vanished peer never takes the gateway down.
 */
import { asErrorCode, fullJitterDelay, RidgeError, errorCode, errorMessage, type Clock, type Logger, type Random, type Timer } from "../core/index.js";
import type { Component, ComponentHealth } from "./component.js";

export type ComponentState = "idle" | "starting" | "up" | "failed" | "backoff" | "stopping" | "stopped";

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  /** A component that stays up this long has its attempt counter reset. */
  resetAfterMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 500, capMs: 60_000, resetAfterMs: 60_000 };


interface Entry {
  component: Component;
  restartable: boolean;
  state: ComponentState;
  restarts: number;
  attempt: number;
  upSince: number | undefined;
  lastError: { code: string; message: string; at: number } | undefined;
  nextStartAt: number | undefined;
  timer: Timer | undefined;
}

export interface ComponentStatus {
  state: ComponentState;
  health: ComponentHealth;
  restarts: number;
  lastError?: { code: string; message: string; at: number };
  nextStartAt?: number;
  [k: string]: unknown;
}

export class Supervisor {
  private readonly entries = new Map<string, Entry>();
  private order: string[] = [];
  private stopping = false;
  onRestart: ((name: string) => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly log: Logger,
    private readonly backoff: BackoffPolicy = defaultBackoff,
  ) {}

  /** `restartable` components are restarted on failure; others are fatal if they fail to start. */
  add(component: Component, opts: { restartable?: boolean } = {}): void {
    if (this.entries.has(component.name)) throw new RidgeError("E_SUPERVISOR_DUPLICATE", `component ${component.name} added twice`);
    this.entries.set(component.name, {
      component,
      restartable: opts.restartable ?? false,
      state: "idle",
      restarts: 0,
      attempt: 0,
      upSince: undefined,
      lastError: undefined,
      nextStartAt: undefined,
      timer: undefined,
    });
  }

  get(name: string): Component | undefined {
    return this.entries.get(name)?.component;
  }

  /** Topological order by dependsOn; a cycle or a missing dependency is a bug in the wiring. */
  private sort(): string[] {
    const out: string[] = [];
    const mark = new Map<string, "visiting" | "done">();
    const visit = (name: string, from: string | undefined) => {
      const e = this.entries.get(name);
      if (!e) throw new RidgeError("E_SUPERVISOR_DEPENDENCY", `component ${from} depends on unknown component ${name}`);
      const m = mark.get(name);
      if (m === "done") return;
      if (m === "visiting") throw new RidgeError("E_SUPERVISOR_CYCLE", `components depend on each other in a cycle through ${name}`);
      mark.set(name, "visiting");
      for (const d of e.component.dependsOn ?? []) visit(d, name);
      mark.set(name, "done");
      out.push(name);
    };
    for (const name of this.entries.keys()) visit(name, undefined);
    return out;
  }

  async startAll(): Promise<void> {
    this.order = this.sort();
    for (const name of this.order) {
      const e = this.entries.get(name)!;
      const ok = await this.startOne(e);
      if (!ok && !e.restartable) {
        const err = e.lastError;
        throw new RidgeError(asErrorCode(err?.code, "E_COMPONENT_START"), `component ${name} failed to start: ${err?.message ?? "unknown"}`);
      }
    }
  }

  private async startOne(e: Entry): Promise<boolean> {
    e.state = "starting";
    e.nextStartAt = undefined;
    try {
      await e.component.start();
      if (this.stopping) return true;
      e.state = "up";
      e.upSince = this.clock.monotonic();
      return true;
    } catch (err) {
      this.failed(e, err);
      return false;
    }
  }

  /** A component reports a failure it cannot recover from (or its start threw). */
  fail(name: string, err: unknown): void {
    const e = this.entries.get(name);
    if (!e || this.stopping || e.state === "backoff" || e.state === "stopping") return;
    void (async () => {
      try {
        await e.component.stop();
      } catch {
        /* already broken; restart anyway */
      }
      this.failed(e, err);
    })();
  }

  private failed(e: Entry, err: unknown): void {
    const now = this.clock.monotonic();
    e.lastError = { code: errorCode(err), message: errorMessage(err), at: this.clock.now() };
    if (e.upSince !== undefined && now - e.upSince >= this.backoff.resetAfterMs) e.attempt = 0;
    e.upSince = undefined;
    if (!e.restartable || this.stopping) {
      e.state = "failed";
      this.log.error({ component: e.component.name, code: e.lastError.code, err: e.lastError.message }, "component failed");
      return;
    }
    const delay = fullJitterDelay({ base: this.backoff.baseMs, cap: this.backoff.capMs }, e.attempt, this.random);
    e.attempt++;
    e.state = "backoff";
    e.nextStartAt = this.clock.now() + delay;
    this.log.warn({ component: e.component.name, code: e.lastError.code, err: e.lastError.message, retryInMs: delay, attempt: e.attempt }, "component failed; restarting with backoff");
    e.timer = this.clock.setTimeout(() => {
      e.timer = undefined;
      if (this.stopping) return;
      e.restarts++;
      this.onRestart?.(e.component.name);
      void this.startOne(e);
    }, delay);
  }

  /** Stop everything in reverse start order, each bounded by what is left of the deadline. */
  async stopAll(deadlineMs: number): Promise<{ timedOut: string[] }> {
    this.stopping = true;
    const end = this.clock.monotonic() + deadlineMs;
    const timedOut: string[] = [];
    const order = this.order.length ? this.order : [...this.entries.keys()];
    for (const name of [...order].reverse()) {
      const e = this.entries.get(name)!;
      e.timer?.cancel();
      if (e.state === "stopped" || e.state === "idle") continue;
      const left = Math.max(0, end - this.clock.monotonic());
      e.state = "stopping";
      let t: Timer | undefined;
      const timeout = new Promise<"timeout">((resolve) => (t = this.clock.setTimeout(() => resolve("timeout"), left)));
      const r = await Promise.race([e.component.stop().then(() => "ok" as const, (err: unknown) => err), timeout]);
      t?.cancel();
      if (r === "timeout") {
        timedOut.push(name);
        this.log.error({ component: name }, "component did not stop before the shutdown deadline");
      } else if (r !== "ok") this.log.warn({ component: name, code: errorCode(r), err: errorMessage(r) }, "component failed while stopping");
      e.state = "stopped";
    }
    return { timedOut };
  }

  status(): Record<string, ComponentStatus> {
    const out: Record<string, ComponentStatus> = {};
    for (const [name, e] of this.entries) {
      let health: ComponentHealth;
      try {
        health = e.state === "up" ? e.component.health() : { up: false, detail: e.state };
      } catch (err) {
        health = { up: false, detail: errorMessage(err) };
      }
      let extra: Record<string, unknown> = {};
      try {
        extra = e.component.status?.() ?? {};
      } catch {
        /* status is best effort */
      }
      out[name] = {
        ...extra,
        state: e.state,
        health,
        restarts: e.restarts,
        ...(e.lastError ? { lastError: e.lastError } : {}),
        ...(e.nextStartAt !== undefined ? { nextStartAt: e.nextStartAt } : {}),
      };
    }
    return out;
  }

  /** Every component up and healthy. */
  healthy(): boolean {
    return Object.values(this.status()).every((s) => s.state === "up" && s.health.up);
  }
}
