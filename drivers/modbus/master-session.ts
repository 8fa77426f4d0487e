/**
 * The Modbus RTU master: one request in flight per bus (Modbus over serial line V1.02 §2.4.1,
 * the master/slave state diagrams), a response timeout, retries after a timeout or a corrupted
 * response, a turnaround delay after broadcasts, the inter-frame silence between requests, and
 * per-slave counters. An exception response is an answer, not a failure of the line: it is not retried.
 *
 * The session owns no port: its owner attaches a `ByteLink` (or none while the port is down) and
 * feeds received chunks to `receive()`. Time comes from the injected Clock.
 */
import type { Clock, Timer } from "../../core/clock.js";
import { RidgeError } from "../../core/errors.js";
import { decodeResponse, encodeRequest, exceptionCode, type Request, type Response } from "./pdu.js";
import { RtuFramer, encodeRtu, type RtuFrame } from "./rtu-framer.js";

export interface ByteLink {
  /** Resolves when the bytes are handed to the OS. */
  write(bytes: Uint8Array): Promise<void>;
}

export interface SessionOptions {
  clock: Clock;
  timeoutMs: number;
  retries: number;
  turnaroundMs: number;
  silenceMs: number;
}

export interface SlaveCounters {
  requests: number;
  ok: number;
  timeouts: number;
  crcErrors: number;
  exceptions: number;
  badResponses: number;
  retries: number;
  /** Failed requests in a row (after their retries); 0 after any answer. */
  consecutiveFailures: number;
  lastError?: string;
  lastOkAt?: number;
}

export interface RequestOptions {
  /** Override the bus retries (a slave in backoff is asked once). */
  retries?: number;
  /** Writes jump ahead of queued polls. */
  priority?: "write" | "poll";
}

type Answer = Exclude<Response, { kind: "exception" }>;

interface Job {
  unit: number;
  req: Request;
  adu: Uint8Array;
  retries: number;
  priority: "write" | "poll";
  resolve(r: Answer | undefined): void;
  reject(e: RidgeError): void;
}

/** The attempt in flight: its outcome arrives from `receive()` or from the timeout timer. */
type Attempt = { kind: "idle" } | { kind: "waiting"; job: Job; timer: Timer; done(outcome: Outcome): void };
type Outcome = { kind: "frame"; frame: RtuFrame } | { kind: "timeout" } | { kind: "stopped" };

export class MasterSession {
  private readonly queue: Job[] = [];
  private link: ByteLink | undefined;
  private attempt: Attempt = { kind: "idle" };
  private running = false;
  private stopped = false;
  private readonly framer: RtuFramer;
  readonly slaves = new Map<number, SlaveCounters>();

  constructor(private readonly opts: SessionOptions) {
    this.framer = new RtuFramer({ direction: "response", silenceMs: opts.silenceMs });
  }

  get framerStats() {
    return this.framer.stats;
  }

  /** Attach the open port, or `undefined` when it is gone: queued and new requests then fail fast. */
  attach(link: ByteLink | undefined): void {
    this.link = link;
    this.framer.expect(undefined);
    if (!link) for (const j of this.queue.splice(0)) j.reject(portDown());
    if (link) this.pump();
  }

  get attached(): boolean {
    return this.link !== undefined;
  }

  /** Bytes from the port. */
  receive(chunk: Uint8Array): void {
    this.lastLineAt = this.opts.clock.monotonic();
    const frames = this.framer.push(chunk, this.lastLineAt);
    for (const frame of frames) {
      if (this.attempt.kind !== "waiting") return;
      const { job } = this.attempt;
      // A late answer to an earlier request (same unit, other function) is not this answer: keep waiting.
      const r = decodeResponse(frame.pdu, job.req);
      if (!r.ok && r.code === "E_MODBUS_MISMATCH") {
        this.counters(job.unit).badResponses++;
        continue;
      }
      this.attempt.done({ kind: "frame", frame });
    }
  }

  counters(unit: number): SlaveCounters {
    let c = this.slaves.get(unit);
    if (!c) {
      c = { requests: 0, ok: 0, timeouts: 0, crcErrors: 0, exceptions: 0, badResponses: 0, retries: 0, consecutiveFailures: 0 };
      this.slaves.set(unit, c);
    }
    return c;
  }

  /** Send `req` to `unit` and resolve with its answer (undefined for a broadcast, unit 0). */
  request(unit: number, req: Request, o: RequestOptions = {}): Promise<Answer | undefined> {
    if (this.stopped) return Promise.reject(new RidgeError("E_MODBUS_STOPPED", "internal", "the Modbus session is stopped"));
    if (!this.link) return Promise.reject(portDown());
    const adu = encodeRtu(unit, encodeRequest(req));
    return new Promise((resolve, reject) => {
      const job: Job = { unit, req, adu, retries: o.retries ?? this.opts.retries, priority: o.priority ?? "poll", resolve, reject };
      if (job.priority === "write") {
        const i = this.queue.findIndex((j) => j.priority !== "write");
        this.queue.splice(i < 0 ? this.queue.length : i, 0, job);
      } else this.queue.push(job);
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
    for (const j of this.queue.splice(0)) j.reject(new RidgeError("E_MODBUS_STOPPED", "internal", "the Modbus session stopped"));
    if (this.attempt.kind === "waiting") this.attempt.done({ kind: "stopped" });
  }

  private pump(): void {
    if (this.running) return;
    this.running = true;
    void this.drain().finally(() => {
      this.running = false;
      if (this.queue.length && this.link && !this.stopped) this.pump();
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const job = this.queue.shift();
      if (!job) return;
      try {
        job.resolve(await this.run(job));
      } catch (e) {
        job.reject(e instanceof RidgeError ? e : new RidgeError("E_MODBUS_PORT", "environment", `serial write failed: ${String(e)}`, { cause: e }));
      }
      await this.quiet();
    }
  }

  private async run(job: Job): Promise<Answer | undefined> {
    const c = this.counters(job.unit);
    c.requests++;
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new RidgeError("E_MODBUS_STOPPED", "internal", "the Modbus session stopped");
      const link = this.link;
      if (!link) throw portDown();
      if (attempt > 0) c.retries++;
      this.framer.expect(job.unit);
      const outcome = this.await(job);
      try {
        await link.write(job.adu);
        this.lastLineAt = this.opts.clock.monotonic();
      } catch (e) {
        this.settle({ kind: "stopped" });
        throw new RidgeError("E_MODBUS_PORT", "environment", `serial write failed: ${String(e)}`, { cause: e });
      }
      if (job.unit === 0) {
        // §2.4.1: no reply to a broadcast; give slaves the turnaround delay to act on it.
        this.settle({ kind: "stopped" });
        await this.opts.clock.sleep(this.opts.turnaroundMs);
        c.ok++;
        return undefined;
      }
      const o = await outcome;
      let failure: RidgeError;
      if (o.kind === "stopped") throw new RidgeError("E_MODBUS_STOPPED", "internal", "the Modbus session stopped");
      if (o.kind === "frame") {
        const r = decodeResponse(o.frame.pdu, job.req);
        if (r.ok && r.value.kind === "exception") {
          c.exceptions++;
          c.consecutiveFailures = 0;
          const code = exceptionCode(r.value.exception);
          c.lastError = code;
          throw new RidgeError(code, "peer", `unit ${job.unit} answered function ${job.req.fn} with exception ${r.value.exception}`, { detail: { unit: job.unit, fn: job.req.fn, exception: r.value.exception } });
        }
        if (r.ok) {
          c.ok++;
          c.consecutiveFailures = 0;
          c.lastOkAt = this.opts.clock.now();
          return r.value as Answer;
        }
        c.badResponses++;
        failure = new RidgeError(r.code, "peer", `unit ${job.unit}: ${r.reason}`, { detail: { unit: job.unit } });
      } else if (this.framer.dirty) {
        c.crcErrors++;
        failure = new RidgeError("E_MODBUS_CRC", "peer", `unit ${job.unit}: only corrupted frames (CRC mismatch or noise) within ${this.opts.timeoutMs} ms`, { detail: { unit: job.unit } });
      } else {
        c.timeouts++;
        failure = new RidgeError("E_MODBUS_TIMEOUT", "peer", `unit ${job.unit} did not answer function ${job.req.fn} within ${this.opts.timeoutMs} ms`, { detail: { unit: job.unit } });
      }
      c.lastError = failure.code;
      if (attempt >= job.retries) {
        c.consecutiveFailures++;
        throw failure;
      }
      await this.quiet();
    }
  }

  /** Arm the timeout and wait for the first frame (or timeout/stop) of the current attempt. */
  private await(job: Job): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const timer = this.opts.clock.setTimeout(() => this.settle({ kind: "timeout" }), this.opts.timeoutMs);
      this.attempt = {
        kind: "waiting",
        job,
        timer,
        done: (o) => this.settle(o),
      };
      this.resolveAttempt = resolve;
    });
  }

  private resolveAttempt: ((o: Outcome) => void) | undefined;
  /** When the line was last busy (a byte received or a frame handed to the port). */
  private lastLineAt = Number.NEGATIVE_INFINITY;

  /**
   * §2.5.1.1: at least 3.5 character times of silence between frames. Time already spent since
   * the last byte (decoding, handing over the answer) counts towards it.
   */
  private async quiet(): Promise<void> {
    const wait = this.lastLineAt + this.opts.silenceMs - this.opts.clock.monotonic();
    if (wait > 0) await this.opts.clock.sleep(wait);
  }

  private settle(o: Outcome): void {
    if (this.attempt.kind !== "waiting") return;
    this.attempt.timer.cancel();
    this.attempt = { kind: "idle" };
    const r = this.resolveAttempt;
    this.resolveAttempt = undefined;
    r?.(o);
  }
}

function portDown(): RidgeError {
  return new RidgeError("E_MODBUS_PORT_DOWN", "environment", "the serial port is not open (unplugged or not yet reopened)");
}
