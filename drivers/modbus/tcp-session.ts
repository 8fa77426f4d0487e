/**
 * The Modbus TCP master of one connection: MBAP framing (mbap.ts), a queue of requests (writes
 * ahead of polls) and up to `maxInFlight` of them sent before the first answer returns, told
 * apart by their transaction ids (Implementation Guide V1.0b §4.2.1: the client may send several
 * requests without waiting; the transaction id pairs each answer with its request). Each request
 * runs the same pure transaction machine as on a serial line (transaction.ts: timeout, retries,
 * exceptions as answers); this class performs its effects and feeds back what happened.
 *
 * A retry resends the same ADU with the same transaction id, so an answer to the first attempt
 * that arrives late still settles the request. An answer whose transaction id is not in flight
 * (late, after its request gave up) is dropped and counted. A malformed MBAP header puts the
 * stream out of step: `onDesync` asks the owner to drop the connection; the requests in flight
 * then fail with E_MODBUS_CONNECTION_DOWN when the owner detaches the link.
 *
 * Like MasterSession, it owns no socket: its owner attaches a `ByteLink` and feeds chunks to
 * `receive()`. Time comes from the injected Clock.
 */
import { RidgeError, type Clock, type ErrorCode, type Failure, type Timer } from "../../core/index.js";
import { countInto, newCounters, type ByteLink, type ModbusMaster, type RequestOptions, type SlaveCounters } from "./master-session.js";
import { MbapFramer, encodeMbap, type MbapFrame } from "./mbap.js";
import { decodeResponse, encodeRequest, type Request } from "./pdu.js";
import { TRANSACTION_START, step, type Answer, type TransactionEffect, type TransactionInput, type TransactionState } from "./transaction.js";

export interface TcpSessionOptions {
  clock: Clock;
  timeoutMs: number;
  retries: number;
  /** Requests on the wire at once (1: wait for each answer). */
  maxInFlight: number;
  /** Quiet time after a request to unit 0 (broadcast through a gateway), which gets no answer. */
  turnaroundMs: number;
  /** Where the connection goes, for messages (`host:port`). */
  peer: string;
  /** The stream is out of step (malformed MBAP header): the owner drops and reopens the connection. */
  onDesync?(error: Failure<ErrorCode>): void;
}

export interface TcpSessionStats {
  frames: number;
  /** Malformed MBAP headers (each one cost the connection). */
  badHeaders: number;
  /** Answers whose transaction id was not in flight (late, after their request gave up). */
  unknownTransactions: number;
  /** Answers with the right transaction id from another unit id. */
  wrongUnit: number;
}

interface Job {
  unit: number;
  req: Request;
  pdu: Uint8Array;
  retries: number;
  priority: "write" | "poll";
  resolve(r: Answer | undefined): void;
  reject(e: RidgeError): void;
}

interface InFlight {
  job: Job;
  tid: number;
  adu: Uint8Array;
  state: TransactionState;
  timer: Timer | undefined;
  counters: SlaveCounters;
}

export class TcpMasterSession implements ModbusMaster {
  private readonly queue: Job[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  private link: ByteLink | undefined;
  private stopped = false;
  private nextTid = 1;
  private readonly framer = new MbapFramer();
  private readonly extra = { unknownTransactions: 0, wrongUnit: 0 };
  readonly slaves = new Map<number, SlaveCounters>();

  constructor(private readonly opts: TcpSessionOptions) {
    if (!Number.isInteger(opts.maxInFlight) || opts.maxInFlight < 1) throw new RidgeError("E_MODBUS_REQUEST", `maxInFlight must be an integer ≥ 1, got ${opts.maxInFlight}`);
  }

  get attached(): boolean {
    return this.link !== undefined;
  }

  get stats(): TcpSessionStats {
    return { frames: this.framer.stats.frames, badHeaders: this.framer.stats.badHeaders, ...this.extra };
  }

  /** Requests on the wire now. */
  get pending(): number {
    return this.inFlight.size;
  }

  counters(unit: number): SlaveCounters {
    let c = this.slaves.get(unit);
    if (!c) this.slaves.set(unit, (c = newCounters()));
    return c;
  }

  /** Attach a new connection, or `undefined` when it is gone: requests in flight and queued fail fast. */
  attach(link: ByteLink | undefined): void {
    this.link = link;
    this.framer.reset();
    if (link) return this.pump();
    const down = () => new RidgeError("E_MODBUS_CONNECTION_DOWN", `the Modbus TCP connection to ${this.opts.peer} is down (reconnecting with backoff)`);
    for (const j of this.queue.splice(0)) j.reject(down());
    for (const f of [...this.inFlight.values()]) {
      this.settle(f);
      countInto(f.counters, "failures");
      f.counters.lastError = "E_MODBUS_CONNECTION_DOWN";
      f.job.reject(new RidgeError("E_MODBUS_CONNECTION_DOWN", `the Modbus TCP connection to ${this.opts.peer} was lost during the request to unit ${f.job.unit}`, { detail: { unit: f.job.unit, fn: f.job.req.fn } }));
    }
  }

  receive(chunk: Uint8Array): void {
    const r = this.framer.push(chunk);
    for (const frame of r.frames) this.answer(frame);
    if (r.error) this.opts.onDesync?.(r.error);
  }

  request(unit: number, req: Request, o: RequestOptions = {}): Promise<Answer | undefined> {
    if (this.stopped) return Promise.reject(new RidgeError("E_MODBUS_STOPPED", "the Modbus session is stopped"));
    if (!this.link) return Promise.reject(new RidgeError("E_MODBUS_CONNECTION_DOWN", `the Modbus TCP connection to ${this.opts.peer} is not open (connecting, or reconnecting with backoff)`));
    const pdu = encodeRequest(req);
    return new Promise((resolve, reject) => {
      const job: Job = { unit, req, pdu, retries: o.retries ?? this.opts.retries, priority: o.priority ?? "poll", resolve, reject };
      if (job.priority === "write") {
        const i = this.queue.findIndex((j) => j.priority !== "write");
        this.queue.splice(i < 0 ? this.queue.length : i, 0, job);
      } else this.queue.push(job);
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
    const stopped = () => new RidgeError("E_MODBUS_STOPPED", "the Modbus session is stopped");
    for (const j of this.queue.splice(0)) j.reject(stopped());
    for (const f of [...this.inFlight.values()]) this.feed(f, { kind: "stop" });
  }

  private pump(): void {
    while (!this.stopped && this.link && this.inFlight.size < this.opts.maxInFlight) {
      const job = this.queue.shift();
      if (!job) return;
      const tid = this.allocateTid();
      const f: InFlight = { job, tid, adu: encodeMbap(tid, job.unit, job.pdu), state: TRANSACTION_START.state, timer: undefined, counters: this.counters(job.unit) };
      f.counters.requests++;
      this.inFlight.set(tid, f);
      this.perform(f, TRANSACTION_START.effects);
    }
  }

  /** §3.1.3: the client picks the transaction id; here the next 16-bit value not in flight. */
  private allocateTid(): number {
    for (;;) {
      const t = this.nextTid;
      this.nextTid = (this.nextTid + 1) & 0xffff;
      if (!this.inFlight.has(t)) return t;
    }
  }

  private answer(frame: MbapFrame): void {
    const f = this.inFlight.get(frame.transaction);
    if (!f) {
      this.extra.unknownTransactions++;
      return;
    }
    if (frame.unit !== f.job.unit) {
      this.extra.wrongUnit++;
      this.feed(f, { kind: "frame", response: { ok: false, code: "E_MODBUS_MISMATCH", reason: `transaction ${frame.transaction} answered by unit ${frame.unit}, sent to unit ${f.job.unit}` } });
      return;
    }
    this.feed(f, { kind: "frame", response: decodeResponse(frame.pdu, f.job.req) });
  }

  private feed(f: InFlight, input: TransactionInput): void {
    if (f.state.kind === "done") return;
    const tx = { unit: f.job.unit, fn: f.job.req.fn, retries: f.job.retries };
    const s = step(f.state, input, tx);
    if (s.state !== f.state && (s.state.kind === "sending" || s.state.kind === "done")) {
      f.timer?.cancel();
      f.timer = undefined;
    }
    f.state = s.state;
    this.perform(f, s.effects);
  }

  private perform(f: InFlight, effects: readonly TransactionEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case "send":
        case "resend":
          this.send(f);
          break;
        case "armTimeout":
          f.timer = this.opts.clock.setTimeout(() => this.timedOut(f), this.opts.timeoutMs);
          break;
        case "armTurnaround":
          f.timer = this.opts.clock.setTimeout(() => this.feed(f, { kind: "turnaroundElapsed" }), this.opts.turnaroundMs);
          break;
        case "count":
          countInto(f.counters, e.counter);
          break;
        case "finish":
          this.finish(f);
          break;
      }
    }
  }

  private send(f: InFlight): void {
    const link = this.link;
    if (this.stopped) return;
    if (!link) {
      queueMicrotask(() => this.feed(f, { kind: "portLost" }));
      return;
    }
    link.write(f.adu).then(
      () => this.feed(f, { kind: "sent" }),
      (e: unknown) => this.feed(f, { kind: "writeFailed", reason: String(e) }),
    );
  }

  /**
   * A request timed out. If part of a frame is buffered meanwhile, the frame stalled: its length
   * field was garbage or the peer stopped mid-frame, and with no way to find the next frame start
   * the stream is out of step, as after a malformed header.
   */
  private timedOut(f: InFlight): void {
    const partial = this.framer.buffered;
    if (partial > 0 && !this.framer.desynchronised) {
      this.framer.poison();
      this.opts.onDesync?.({ ok: false, code: "E_MODBUS_MBAP", reason: `a Modbus TCP frame stalled after ${partial} bytes (its MBAP length asks for more) past the ${this.opts.timeoutMs} ms timeout` });
    }
    this.feed(f, { kind: "timeout", corrupted: false });
  }

  /** Take `f` off the wire (its transaction id may be reused). */
  private settle(f: InFlight): void {
    f.timer?.cancel();
    f.timer = undefined;
    if (this.inFlight.get(f.tid) === f) this.inFlight.delete(f.tid);
    f.state = { kind: "done", result: { ok: false, code: "E_MODBUS_CONNECTION_DOWN", reason: "connection lost" } };
  }

  private finish(f: InFlight): void {
    const done = f.state as Extract<TransactionState, { kind: "done" }>;
    const result = done.result;
    this.settle(f);
    f.state = done;
    if (result.ok) {
      f.counters.consecutiveFailures = 0;
      f.counters.lastOkAt = this.opts.clock.now();
      f.job.resolve(result.value);
    } else {
      f.counters.lastError = result.code;
      const reason = result.code === "E_MODBUS_PORT" || result.code === "E_MODBUS_PORT_DOWN" ? `${result.reason.replace("serial", "TCP")} (${this.opts.peer})` : result.reason;
      f.job.reject(new RidgeError(result.code, reason, { detail: { unit: f.job.unit, fn: f.job.req.fn } }));
    }
    queueMicrotask(() => this.pump());
  }
}
