/**
 * The poll scheduler of one bus. Every poll group has a fixed grid of due times
 * (start + k × every), so cadence does not drift with the time a poll takes; a poll that overruns
 * its slot skips the missed slots (counted) instead of bursting to catch up. Since a serial bus
 * carries one request at a time, groups run one after another, earliest due first; a Modbus TCP
 * connection that takes several requests in flight runs up to `concurrency` groups at once
 * (never the same group twice), earliest due first.
 *
 * Backpressure stretches the poll: before each poll the `gate` is awaited (the pipeline's
 * drained()), so a congested pipeline slows the bus instead of piling up events.
 * A group may be held back further (`holdMs`): a slave that keeps failing is polled with backoff.
 */
import type { Clock, Timer } from "../../core/index.js";

export interface PollGroup {
  /** Unique key, e.g. `pump-3/fast`. */
  key: string;
  device: string;
  everyMs: number;
}

export interface GroupStatus {
  key: string;
  device: string;
  configuredMs: number;
  /** Mean start-to-start interval over recent polls (EWMA), or null before the second poll. */
  achievedMs: number | null;
  polls: number;
  /** Due slots skipped because the bus was busy past them. */
  skipped: number;
  /** Polls that waited for the pipeline to drain. */
  stretched: number;
  /** Polls delayed by slave backoff. */
  heldBack: number;
}

export interface SchedulerHooks {
  run(group: PollGroup): Promise<void>;
  /** Resolves when a poll may start; `true` if it had to wait (backpressure). */
  gate?(): Promise<boolean>;
  /** Extra delay before this group's next poll (slave backoff), 0 for none. */
  holdMs?(group: PollGroup): number;
}

export interface SchedulerOptions {
  /** Groups polled at once (default 1: one after another). */
  concurrency?: number;
}

interface Slot {
  group: PollGroup;
  nextAt: number;
  lastStart: number | undefined;
  status: GroupStatus;
}

const EWMA = 0.2;

export class PollScheduler {
  private readonly slots: Slot[];
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: Timer | undefined;
  private wake: (() => void) | undefined;
  /** Resolves on stop(), so a poll waiting for the pipeline to drain does not hold stop up. */
  private stopping: Promise<false> = new Promise(() => undefined);
  private signalStop: (() => void) | undefined;

  constructor(
    private readonly clock: Clock,
    groups: readonly PollGroup[],
    private readonly hooks: SchedulerHooks,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.slots = groups.map((group) => ({
      group,
      nextAt: 0,
      lastStart: undefined,
      status: { key: group.key, device: group.device, configuredMs: group.everyMs, achievedMs: null, polls: 0, skipped: 0, stretched: 0, heldBack: 0 },
    }));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = new Promise<false>((resolve) => (this.signalStop = () => resolve(false)));
    const t0 = this.clock.monotonic();
    for (const s of this.slots) s.nextAt = t0;
    this.loop = (this.opts.concurrency ?? 1) > 1 ? this.runConcurrent(this.opts.concurrency!) : this.runLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.wake?.();
    this.signalStop?.();
    await this.loop;
  }

  status(): GroupStatus[] {
    return this.slots.map((s) => ({ ...s.status, achievedMs: s.status.achievedMs === null ? null : Math.round(s.status.achievedMs * 10) / 10 }));
  }

  private sleepUntil(at: number): Promise<void> {
    const ms = at - this.clock.monotonic();
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = this.clock.setTimeout(resolve, ms);
    });
  }

  private async runLoop(): Promise<void> {
    while (this.running && this.slots.length) {
      let next = this.slots[0]!;
      for (const s of this.slots) if (s.nextAt < next.nextAt) next = s;
      await this.sleepUntil(next.nextAt);
      if (!this.running) return;
      if (this.hooks.gate && (await Promise.race([this.hooks.gate(), this.stopping]))) next.status.stretched++;
      if (!this.running) return;
      await this.runSlot(next);
    }
  }

  /** Up to `n` groups at once: the earliest due group not already running starts when a place is free. */
  private async runConcurrent(n: number): Promise<void> {
    const active = new Map<Slot, Promise<void>>();
    while (this.running && this.slots.length) {
      let next: Slot | undefined;
      for (const s of this.slots) if (!active.has(s) && (!next || s.nextAt < next.nextAt)) next = s;
      if (!next || active.size >= n) {
        await Promise.race([...active.values(), this.stopping]);
        continue;
      }
      // A poll that ends may make its own group the earliest due: wake for that too.
      await Promise.race([this.sleepUntil(next.nextAt), ...active.values()]);
      this.timer?.cancel();
      if (!this.running) break;
      if (next.nextAt > this.clock.monotonic()) continue;
      if (this.hooks.gate && (await Promise.race([this.hooks.gate(), this.stopping]))) next.status.stretched++;
      if (!this.running) break;
      const slot = next;
      active.set(
        slot,
        this.runSlot(slot).finally(() => active.delete(slot)),
      );
    }
    await Promise.all(active.values());
  }

  /** One poll of a group and its next due time. */
  private async runSlot(next: Slot): Promise<void> {
    const start = this.clock.monotonic();
    if (next.lastStart !== undefined) {
      const dt = start - next.lastStart;
      next.status.achievedMs = next.status.achievedMs === null ? dt : next.status.achievedMs + EWMA * (dt - next.status.achievedMs);
    }
    next.lastStart = start;
    next.status.polls++;
    try {
      await this.hooks.run(next.group);
    } catch {
      /* the runner counts its own failures; the schedule goes on */
    }
    const every = next.group.everyMs;
    next.nextAt += every;
    const now = this.clock.monotonic();
    if (next.nextAt < now) {
      const missed = Math.ceil((now - next.nextAt) / every);
      next.status.skipped += missed;
      next.nextAt += missed * every;
    }
    const hold = this.hooks.holdMs?.(next.group) ?? 0;
    if (hold > 0 && now + hold > next.nextAt) {
      next.status.heldBack++;
      next.nextAt = now + hold;
    }
  }
}
