/**
 * Emission under backpressure for drivers whose peers cannot simply be stopped (CoAP observe
 * notifications, LwM2M devices pushing over UDP): once ctx.emit() refuses an event, the driver
 * emits nothing more; later events wait in a small bounded queue (overflow drops the oldest,
 * counted) and are flushed in order once ctx.drained() resolves. Pollers stretch their cadence
 * with `whenAccepting()`. close() (the driver's stop) forgets the queue and the pending drained():
 * its resolving later does not bring anything back.
 */
import type { DriverContext } from "./driver.js";
import type { Event } from "./event.js";

export interface EmitQueueOptions {
  /** Events held while pushed back (default 1000). */
  capacity?: number;
  /** emit() answered false: the pipeline pushes back (once per episode). */
  onRefused(): void;
  /** `n` events were dropped: queue overflow while pushed back, or left queued at close(). */
  onDropped(n: number): void;
}

export class EmitQueue {
  private ctx: DriverContext | undefined;
  private queue: Event[] = [];
  private head = 0;
  private waiting: Promise<void> | undefined;
  private epoch = 0;
  readonly capacity: number;

  constructor(private readonly opts: EmitQueueOptions) {
    this.capacity = Math.max(1, opts.capacity ?? 1000);
  }

  /** Start emitting to `ctx` (a fresh start after stop: nothing from before is kept). */
  open(ctx: DriverContext): void {
    this.close();
    this.ctx = ctx;
  }

  /** Stop: nothing is emitted after this; queued events are dropped (and counted). */
  close(): void {
    this.epoch++;
    const left = this.size;
    this.queue = [];
    this.head = 0;
    this.waiting = undefined;
    this.ctx = undefined;
    if (left > 0) this.opts.onDropped(left);
  }

  /** True while the pipeline pushes back (events are being held). */
  get pushedBack(): boolean {
    return this.waiting !== undefined;
  }

  /** Events held right now. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** Hand an event on, or hold it while pushed back. */
  emit(e: Event): void {
    const ctx = this.ctx;
    if (!ctx) return;
    if (this.waiting) {
      this.queue.push(e);
      if (this.size > this.capacity) {
        this.head++;
        this.opts.onDropped(1);
        this.compact();
      }
      return;
    }
    if (!ctx.emit(e)) this.pushBack(ctx);
  }

  /**
   * Resolves true once events are accepted again (at once when not pushed back), after the held
   * events were flushed; false when the queue was closed meanwhile (the caller should stop).
   */
  async whenAccepting(): Promise<boolean> {
    const epoch = this.epoch;
    while (this.waiting) {
      await this.waiting;
      if (epoch !== this.epoch) return false;
    }
    return epoch === this.epoch && this.ctx !== undefined;
  }

  private pushBack(ctx: DriverContext): void {
    this.opts.onRefused();
    const epoch = this.epoch;
    let drained: Promise<void>;
    try {
      drained = Promise.resolve(ctx.drained());
    } catch {
      drained = Promise.resolve();
    }
    this.waiting = drained
      .catch(() => undefined)
      .then(() => {
        if (epoch === this.epoch) this.flush(ctx);
      });
  }

  private flush(ctx: DriverContext): void {
    this.waiting = undefined;
    while (this.head < this.queue.length) {
      const e = this.queue[this.head++]!;
      if (!ctx.emit(e)) {
        this.compact();
        this.pushBack(ctx);
        return;
      }
    }
    this.queue = [];
    this.head = 0;
  }

  private compact(): void {
    if (this.head > 256 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
