/**
 * The Modbus RTU master of one bus: a queue of requests (writes ahead of polls), one request in
 * flight at a time, the inter-frame silence between frames, and per-slave counters. Each request
 * runs the pure transaction machine (transaction.ts); this class performs its effects — write the
 * frame, arm the response or turnaround timer, wait the silence — and feeds back what happened.
 *
 * The session owns no port: its owner attaches a `ByteLink` (or none while the port is down) and
 * feeds received chunks to `receive()`. Time comes from the injected Clock.
 */
import { RidgeError, type Clock, type Timer } from "../../core/index.js";
import { decodeResponse, encodeRequest, type Request } from "./pdu.js";
import { RtuFramer, encodeRtu } from "./rtu-framer.js";
import { TRANSACTION_START, step, type Answer, type TransactionCounter, type TransactionEffect, type TransactionInput, type TransactionState } from "./transaction.js";

export type { Answer } from "./transaction.js";

export interface ByteLink {
  /** Resolves when the bytes are handed to the OS. */
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * What the driver needs of a Modbus master, whatever the framing: the RTU session here (one
 * request at a time, on a serial line or tunnelled over TCP) and the Modbus TCP session
 * (tcp-session.ts: MBAP framing, several requests in flight).
 */
export interface ModbusMaster {
  readonly attached: boolean;
  readonly slaves: ReadonlyMap<number, SlaveCounters>;
  attach(link: ByteLink | undefined): void;
  receive(chunk: Uint8Array): void;
  request(unit: number, req: Request, o?: RequestOptions): Promise<Answer | undefined>;
  stop(): void;
}

export interface SessionOptions {
  clock: Clock;
  timeoutMs: number;
  retries: number;
  turnaroundMs: number;
  /** The inter-frame silence kept between frames on the line (t3.5). */
  silenceMs: number;
  /** A gap, as seen by the host, that breaks a partial frame (default: `silenceMs`). */
  frameGapMs?: number;
}

export interface SlaveCounters {
  requests: number;
  ok: number;
  timeouts: number;
  crcErrors: number;
  exceptions: number;
  badResponses: number;
  retries: number;
  /** Failed requests in a row (after their retries); 0 after any answer, exceptions included. */
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

interface Job {
  unit: number;
  req: Request;
  adu: Uint8Array;
  retries: number;
  priority: "write" | "poll";
  resolve(r: Answer | undefined): void;
  reject(e: RidgeError): void;
}

/** The request in flight: its machine state and the inbox its inputs arrive in. */
interface InFlight {
  job: Job;
  state: TransactionState;
  timer: Timer | undefined;
  inbox: TransactionInput[];
  wake: (() => void) | undefined;
}

export class MasterSession implements ModbusMaster {
  private readonly queue: Job[] = [];
  private link: ByteLink | undefined;
  private current: InFlight | undefined;
  private running = false;
  private stopped = false;
  private readonly framer: RtuFramer;
  /** When the line was last busy (a byte received or a frame handed to the port). */
  private lastLineAt = Number.NEGATIVE_INFINITY;
  readonly slaves = new Map<number, SlaveCounters>();

  constructor(private readonly opts: SessionOptions) {
    this.framer = new RtuFramer({ direction: "response", silenceMs: opts.frameGapMs ?? opts.silenceMs });
  }

  get framerStats() {
    return this.framer.stats;
  }

  get attached(): boolean {
    return this.link !== undefined;
  }

  /** Attach the open port, or `undefined` when it is gone: queued and new requests then fail fast. */
  attach(link: ByteLink | undefined): void {
    this.link = link;
    this.framer.expect(undefined);
    if (!link) {
      for (const j of this.queue.splice(0)) j.reject(portDown());
      this.deliver({ kind: "portLost" });
    } else this.pump();
  }

  /** Bytes from the port. */
  receive(chunk: Uint8Array): void {
    this.lastLineAt = this.opts.clock.monotonic();
    const frames = this.framer.push(chunk, this.lastLineAt);
    const f = this.current;
    if (!f) return;
    for (const frame of frames) this.deliver({ kind: "frame", response: decodeResponse(frame.pdu, f.job.req) });
  }

  counters(unit: number): SlaveCounters {
    let c = this.slaves.get(unit);
    if (!c) {
      c = newCounters();
      this.slaves.set(unit, c);
    }
    return c;
  }

  /** Send `req` to `unit` and resolve with its answer (undefined for a broadcast, unit 0). */
  request(unit: number, req: Request, o: RequestOptions = {}): Promise<Answer | undefined> {
    if (this.stopped) return Promise.reject(stoppedError());
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
    for (const j of this.queue.splice(0)) j.reject(stoppedError());
    this.deliver({ kind: "stop" });
  }

  private deliver(input: TransactionInput): void {
    const f = this.current;
    if (!f) return;
    f.inbox.push(input);
    f.wake?.();
  }

  private next(f: InFlight): Promise<TransactionInput> {
    const ready = f.inbox.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise<TransactionInput>((resolve) => {
      f.wake = () => {
        f.wake = undefined;
        resolve(f.inbox.shift()!);
      };
    });
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
      await this.run(job);
      await this.quiet();
    }
  }

  /** Drive one job's transaction machine to its end, performing the effects it asks for. */
  private async run(job: Job): Promise<void> {
    const c = this.counters(job.unit);
    c.requests++;
    const tx = { unit: job.unit, fn: job.req.fn, retries: job.retries };
    const f: InFlight = { job, state: TRANSACTION_START.state, timer: undefined, inbox: [], wake: undefined };
    this.current = f;
    if (this.stopped) this.deliver({ kind: "stop" });
    let effects: readonly TransactionEffect[] = TRANSACTION_START.effects;
    for (;;) {
      for (const effect of effects) await this.perform(f, c, effect);
      if (f.state.kind === "done") break;
      const input = await this.next(f);
      const s = step(f.state, input, tx);
      if (s.state !== f.state && (s.state.kind === "sending" || s.state.kind === "done")) {
        f.timer?.cancel();
        f.timer = undefined;
      }
      f.state = s.state;
      effects = s.effects;
    }
    this.current = undefined;
    const done = f.state as Extract<TransactionState, { kind: "done" }>;
    const result = done.result;
    if (result.ok) {
      c.consecutiveFailures = 0;
      c.lastOkAt = this.opts.clock.now();
      job.resolve(result.value);
      return;
    }
    c.lastError = result.code;
    job.reject(new RidgeError(result.code, result.reason, { detail: { unit: job.unit, fn: job.req.fn } }));
  }

  private async perform(f: InFlight, c: SlaveCounters, effect: TransactionEffect): Promise<void> {
    switch (effect.kind) {
      case "resend":
        await this.quiet();
        this.send(f);
        break;
      case "send":
        this.send(f);
        break;
      case "armTimeout":
        f.timer = this.opts.clock.setTimeout(() => this.deliver({ kind: "timeout", corrupted: this.framer.dirty }), this.opts.timeoutMs);
        break;
      case "armTurnaround":
        f.timer = this.opts.clock.setTimeout(() => this.deliver({ kind: "turnaroundElapsed" }), this.opts.turnaroundMs);
        break;
      case "count":
        this.count(c, effect.counter);
        break;
      case "finish":
        break;
    }
  }

  private send(f: InFlight): void {
    if (this.stopped) return;
    const link = this.link;
    if (!link) return this.deliver({ kind: "portLost" });
    this.framer.expect(f.job.unit);
    link.write(f.job.adu).then(
      () => {
        this.lastLineAt = this.opts.clock.monotonic();
        this.deliver({ kind: "sent" });
      },
      (e: unknown) => this.deliver({ kind: "writeFailed", reason: String(e) }),
    );
  }

  private count(c: SlaveCounters, n: TransactionCounter): void {
    countInto(c, n);
  }

  /**
   * §2.5.1.1: at least 3.5 character times of silence between frames. Time already spent since
   * the last byte (decoding, handing over the answer) counts towards it.
   */
  private async quiet(): Promise<void> {
    const wait = this.lastLineAt + this.opts.silenceMs - this.opts.clock.monotonic();
    if (wait > 0) await this.opts.clock.sleep(wait);
  }
}

export function newCounters(): SlaveCounters {
  return { requests: 0, ok: 0, timeouts: 0, crcErrors: 0, exceptions: 0, badResponses: 0, retries: 0, consecutiveFailures: 0 };
}

/** One transaction counter into a slave's counters (shared by the RTU and TCP sessions). */
export function countInto(c: SlaveCounters, n: TransactionCounter): void {
  if (n === "failures") c.consecutiveFailures++;
  else if (n === "exceptions") {
    c.exceptions++;
    c.consecutiveFailures = 0; // an exception is an answer: the slave is alive
  } else c[n]++;
}

function portDown(): RidgeError {
  return new RidgeError("E_MODBUS_PORT_DOWN", "the serial port is not open (unplugged or not yet reopened)");
}
function stoppedError(): RidgeError {
  return new RidgeError("E_MODBUS_STOPPED", "the Modbus session is stopped");
}
