/**
 * Modbus test helpers: an in-memory slave (several unit ids, register tables), a fake serial port
 * wired to it (with fault switches: mute units, corrupt answers, vanish), a recording driver
 * context and a fake-clock stepper. The real peers (socat, pymodbus) are in peers/modbus-rtu-slave.ts.
 */
import type { Clock, FakeClock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { decodeRequest, encodeResponse, type Response } from "../../drivers/modbus/pdu.js";
import { RtuFramer, encodeRtu } from "../../drivers/modbus/rtu-framer.js";
import type { PortHandle, PortOpener, SerialSettings } from "../../drivers/modbus/serial-transport.js";

export const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).filter(Boolean).map((x) => Number.parseInt(x, 16)));
export const toHex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0").toUpperCase()).join(" ");

export class SimUnit {
  coils = new Array<boolean>(65536).fill(false);
  discrete = new Array<boolean>(65536).fill(false);
  holding = new Array<number>(65536).fill(0);
  input = new Array<number>(65536).fill(0);
  /** Highest valid address + 1 (beyond: exception 02). */
  size = 1000;
}

/** An in-memory Modbus slave set: answers request PDUs like a device would. */
export class SimSlaves {
  readonly units = new Map<number, SimUnit>();
  unit(id: number): SimUnit {
    let u = this.units.get(id);
    if (!u) this.units.set(id, (u = new SimUnit()));
    return u;
  }
  /** The response PDU for a request PDU, or undefined (no answer). */
  answer(id: number, pdu: Uint8Array): Uint8Array | undefined {
    const u = this.units.get(id);
    if (!u) return undefined;
    const r = decodeRequest(pdu);
    const fn = pdu[0] ?? 0;
    const exc = (e: number): Uint8Array => encodeResponse({ kind: "exception", fn, exception: e });
    if (!r.ok) return exc(r.code === "E_MODBUS_ILLEGAL_FUNCTION" ? 1 : 3);
    const q = r.value;
    const inRange = (a: number, n: number) => a + n <= u.size;
    let res: Response;
    switch (q.fn) {
      case 0x01:
      case 0x02:
        if (!inRange(q.address, q.quantity)) return exc(2);
        res = { kind: "bits", fn: q.fn, bits: (q.fn === 1 ? u.coils : u.discrete).slice(q.address, q.address + q.quantity) };
        break;
      case 0x03:
      case 0x04:
        if (!inRange(q.address, q.quantity)) return exc(2);
        res = { kind: "registers", fn: q.fn, registers: (q.fn === 3 ? u.holding : u.input).slice(q.address, q.address + q.quantity) };
        break;
      case 0x05:
        if (!inRange(q.address, 1)) return exc(2);
        u.coils[q.address] = q.value;
        res = { kind: "coil", fn: 5, address: q.address, value: q.value };
        break;
      case 0x06:
        if (!inRange(q.address, 1)) return exc(2);
        u.holding[q.address] = q.value;
        res = { kind: "register", fn: 6, address: q.address, value: q.value };
        break;
      case 0x0f:
        if (!inRange(q.address, q.values.length)) return exc(2);
        q.values.forEach((v, i) => (u.coils[q.address + i] = v));
        res = { kind: "written", fn: 0x0f, address: q.address, quantity: q.values.length };
        break;
      case 0x10:
        if (!inRange(q.address, q.values.length)) return exc(2);
        q.values.forEach((v, i) => (u.holding[q.address + i] = v));
        res = { kind: "written", fn: 0x10, address: q.address, quantity: q.values.length };
        break;
      case 0x17:
        if (!inRange(q.writeAddress, q.values.length) || !inRange(q.readAddress, q.readQuantity)) return exc(2);
        q.values.forEach((v, i) => (u.holding[q.writeAddress + i] = v));
        res = { kind: "registers", fn: 0x17, registers: u.holding.slice(q.readAddress, q.readAddress + q.readQuantity) };
        break;
    }
    return encodeResponse(res);
  }
}

export interface FakeLineOptions {
  /** Answer delay in ms of the injected clock's setTimeout (0: next macrotask-free microtask). */
  delayMs?: number;
  setTimeout?: (fn: () => void, ms: number) => void;
}

/**
 * A fake serial line with the simulated slaves at the far end. Fault switches: `mute` units,
 * `corruptNext` answers, `noiseBefore` bytes, `split` answers into chunks, `vanish()` the port.
 */
export class FakeLine {
  readonly slaves = new SimSlaves();
  readonly mute = new Set<number>();
  corruptNext = 0;
  noiseBefore: Uint8Array | undefined;
  split = 0;
  /** With `split`: ms between the chunks (needs `setTimeout` in the options). */
  burstGapMs = 0;
  present = true;
  opens = 0;
  /** Replace the answer on the wire: gets the request PDU and the normal answer ADU (or undefined). */
  tamper: ((unit: number, request: Uint8Array, answer: Uint8Array | undefined) => Uint8Array | undefined) | undefined;
  readonly written: Uint8Array[] = [];
  private current: { data?: (c: Uint8Array) => void; close?: (r: string) => void; closed: boolean } | undefined;
  private readonly framer = new RtuFramer({ direction: "request", silenceMs: Number.POSITIVE_INFINITY });

  constructor(private readonly o: FakeLineOptions = {}) {}

  readonly open: PortOpener = async (_s: SerialSettings): Promise<PortHandle> => {
    if (!this.present) throw Object.assign(new Error("ENOENT: no such file or directory"), { code: "ENOENT" });
    this.opens++;
    const h: { data?: (c: Uint8Array) => void; close?: (r: string) => void; closed: boolean } = { closed: false };
    this.current = h;
    return {
      write: async (bytes) => {
        if (h.closed) throw new Error("port is closed");
        this.written.push(bytes.slice());
        for (const f of this.framer.push(bytes, 0)) this.respond(h, f.unit, f.pdu);
      },
      close: async () => {
        h.closed = true;
      },
      onData: (cb) => (h.data = cb),
      onClose: (cb) => (h.close = cb),
    };
  };

  /** The adapter is unplugged: the open port closes and opening fails until `plugIn()`. */
  vanish(): void {
    this.present = false;
    const h = this.current;
    if (h && !h.closed) {
      h.closed = true;
      h.close?.("EIO: device disconnected");
    }
  }
  plugIn(): void {
    this.present = true;
  }
  /** Bytes on the line that nobody asked for (a babbling device). */
  babble(bytes: Uint8Array): void {
    const h = this.current;
    if (h && !h.closed) h.data?.(bytes);
  }

  private respond(h: { data?: (c: Uint8Array) => void; closed: boolean }, unit: number, pdu: Uint8Array): void {
    if (unit === 0 || this.mute.has(unit)) {
      if (unit === 0) for (const id of this.slaves.units.keys()) this.slaves.answer(id, pdu);
      return;
    }
    const res = this.slaves.answer(unit, pdu);
    let adu = res && encodeRtu(unit, res);
    if (this.tamper) adu = this.tamper(unit, pdu, adu);
    if (!adu) return;
    if (this.corruptNext > 0) {
      this.corruptNext--;
      adu = adu.slice();
      adu[adu.length - 3]! ^= 0x10;
    }
    if (this.noiseBefore) adu = Uint8Array.from([...this.noiseBefore, ...adu]);
    const chunks: Uint8Array[] = [];
    if (this.split > 0) for (let i = 0; i < adu.length; i += this.split) chunks.push(adu.slice(i, i + this.split));
    else chunks.push(adu);
    if (this.burstGapMs > 0 && this.o.setTimeout) {
      const at = this.o.setTimeout;
      chunks.forEach((c, i) => at(() => !h.closed && h.data?.(c), (this.o.delayMs ?? 0) + i * this.burstGapMs));
      return;
    }
    const deliver = () => {
      if (!h.closed) for (const c of chunks) h.data?.(c);
    };
    if (this.o.setTimeout && this.o.delayMs) this.o.setTimeout(deliver, this.o.delayMs);
    else queueMicrotask(deliver);
  }
}

// ------------------------------------------------------------------ a driver context that records

export interface RecordingContext {
  ctx: DriverContext;
  /** What `emit` answers: set `value` to false to push back. */
  accept: { value: boolean };
  /** Resolve the pending `drained()`. */
  drain(): void;
  events: Event[];
  counts: Map<string, number>;
  logs: string[];
  /** Sum of a counter over all label sets whose labels include `match`. */
  count(metric: string, match?: Record<string, string>): number;
}

export function recordingContext(clock: Clock, dataDir: string): RecordingContext {
  const events: Event[] = [];
  const counts = new Map<string, number>();
  const logs: string[] = [];
  const accept = { value: true };
  let release: (() => void) | undefined;
  const log = (level: string) => (o: Record<string, unknown>, m: string) => void logs.push(`${level} ${m} ${JSON.stringify(o)}`);
  return {
    accept,
    drain: () => release?.(),
    events,
    counts,
    logs,
    count(metric, match = {}) {
      let n = 0;
      for (const [k, v] of counts) {
        const i = k.indexOf("{");
        if (k.slice(0, i) !== metric) continue;
        const labels = JSON.parse(k.slice(i)) as Record<string, string>;
        if (Object.entries(match).every(([mk, mv]) => labels[mk] === mv)) n += v;
      }
      return n;
    },
    ctx: {
      emit: (e) => (events.push(e), accept.value),
      drained: () => (accept.value ? Promise.resolve() : new Promise<void>((r) => (release = r))),
      clock,
      log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
      count: (metric, labels, by = 1) => {
        const k = `${metric}${JSON.stringify(labels)}`;
        counts.set(k, (counts.get(k) ?? 0) + by);
      },
      dataDir,
    },
  };
}

/**
 * Advance a fake clock in `step` ms increments, letting I/O callbacks and promise chains run
 * between steps (the fake line answers through microtasks, the session through timers).
 */
export async function advanceBy(clock: FakeClock, ms: number, step = 1): Promise<void> {
  for (let i = 0; i < ms; i += step) {
    await clock.advance(step);
    await new Promise<void>((r) => setImmediate(r));
  }
}
