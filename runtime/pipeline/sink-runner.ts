/**
 * Feeds one sink from its inbox: one batch in flight at a time (backpressure by promise), the batch
 * kept until `accept` resolves and retried with capped backoff when it rejects, so a failing sink
 * loses nothing (at-least-once; ids are stable). Outlives a topology swap when its definition is unchanged.
 */
import { errorMessage, type Clock, type Timer, type Event, type Logger } from "../../core/index.js";
import type { Sink } from "../contracts.js";
import type { Inbox } from "./inbox.js";
import type { Envelope } from "./operator.js";
import type { PipelineStats } from "./stats.js";

export interface ClosableSink extends Sink {
  close?(): Promise<void>;
}

export interface SinkRunnerDeps {
  clock: Clock;
  stats: PipelineStats;
  log: Logger;
  /** Called when the inbox has room again or a batch completed (the engine pumps). */
  wake(): void;
}

export class SinkRunner {
  inflight: Envelope[] | undefined;
  private failures = 0;
  private retry: Timer | undefined;
  private idleWaiters: (() => void)[] = [];
  stopped = false;
  constructor(
    readonly name: string,
    readonly hash: string,
    readonly inbox: Inbox,
    readonly sink: ClosableSink,
    readonly batch: number,
    private readonly deps: SinkRunnerDeps,
  ) {}

  /** The last delivery attempt failed (the batch is kept and retried). */
  failing(): boolean {
    return this.failures > 0;
  }

  get busy(): boolean {
    return this.inflight !== undefined;
  }

  /** Start delivering if idle and there is something to deliver. */
  kick(): void {
    if (this.inflight || this.retry || this.stopped) return;
    if (this.inbox.length === 0) {
      this.resolveIdle();
      return;
    }
    const batch = this.inbox.take(this.batch);
    this.deliver(batch);
  }

  private deliver(batch: Envelope[]): void {
    this.inflight = batch;
    const now = this.deps.clock.monotonic();
    const stats = this.deps.stats;
    for (let i = 0; i < batch.length; i++) stats.e2e.recordValue(Math.max(1, Math.round((now - batch[i]!.t) * 1000)));
    const events: Event[] = batch.map((b) => b.e);
    const node = stats.node(this.name);
    node.in += batch.length;
    let p: Promise<void>;
    try {
      p = this.sink.accept(events);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => {
        this.inflight = undefined;
        this.failures = 0;
        node.out += batch.length;
        stats.delivered += batch.length;
        this.deps.wake();
        this.kick();
      },
      (err: unknown) => {
        stats.sinkErrors++;
        node.in -= batch.length;
        this.failures++;
        const delay = Math.min(30_000, 100 * 2 ** Math.min(this.failures, 9));
        this.deps.log.warn({ sink: this.name, err: errorMessage(err), retryMs: delay, events: batch.length }, "pipeline sink failed; retrying the batch");
        this.retry = this.deps.clock.setTimeout(() => {
          this.retry = undefined;
          if (this.stopped) return;
          this.deliver(batch);
        }, delay);
      },
    );
  }

  /** Resolves once the inbox is empty and nothing is in flight. */
  idle(): Promise<void> {
    if (!this.inflight && !this.retry && this.inbox.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private resolveIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  /** Events not yet acknowledged by the sink (in flight first), for checkpoints. */
  pending(): Envelope[] {
    return [...(this.inflight ?? []), ...this.inbox.peekAll()];
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    this.retry = undefined;
    this.resolveIdle();
    await this.sink.close?.();
  }
}
