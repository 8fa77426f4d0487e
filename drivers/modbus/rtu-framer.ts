/**
 * Modbus RTU framing (Modbus over serial line V1.02 §2.5.1):
 *
 *   ADU = address (1) | PDU (1..253) | CRC low | CRC high      (at most 256 bytes)
 *
 * Framing is its own streaming step. A frame ends when the bytes for its function code and byte
 * count are all there (§2.5.1.1: the master knows the expected response length) and its CRC holds;
 * a silence of 3.5 character times inside a frame means the frame is broken. Bytes that cannot start
 * a frame (line noise, a wrong address, an unknown function, a failed CRC) are dropped one at a
 * time until a frame lines up, so a frame preceded by noise or split into any chunks is still found.
 *
 * Pure: the caller passes the arrival time of each chunk; no timers here.
 */
import { fail, ok, type ErrorCode, type Result } from "../../core/index.js";
import { crc16, crcMatches } from "./crc16.js";
import { pduLength, MAX_PDU } from "./pdu.js";

export const MAX_ADU = 256;

export interface RtuFrame {
  unit: number;
  pdu: Uint8Array;
}

export function encodeRtu(unit: number, pdu: Uint8Array): Uint8Array {
  const out = new Uint8Array(pdu.length + 3);
  out[0] = unit & 0xff;
  out.set(pdu, 1);
  const c = crc16(out, 0, pdu.length + 1);
  out[pdu.length + 1] = c & 0xff;
  out[pdu.length + 2] = c >>> 8;
  return out;
}

/** Decode one complete ADU (no streaming). */
export function decodeRtu(adu: Uint8Array): Result<RtuFrame, ErrorCode> {
  if (adu.length < 4) return fail("E_MODBUS_LENGTH", `RTU frame of ${adu.length} bytes is shorter than 4`);
  if (adu.length > MAX_ADU) return fail("E_MODBUS_LENGTH", `RTU frame of ${adu.length} bytes exceeds ${MAX_ADU}`);
  if (!crcMatches(adu)) return fail("E_MODBUS_CRC", `CRC mismatch over ${adu.length} bytes`);
  return ok({ unit: adu[0]!, pdu: adu.slice(1, adu.length - 2) });
}

/**
 * §2.5.1.1: t3.5 = 3.5 character times; above 19200 baud a fixed 1.75 ms is recommended.
 * A character is start + data + parity + stop bits (11 bits for 8E1 or 8N2, 10 for 8N1).
 */
export function silenceMs(baudRate: number, bitsPerChar = 11): number {
  if (baudRate > 19200) return 1.75;
  return (3.5 * bitsPerChar * 1000) / baudRate;
}

/** Time on the wire for `bytes` characters. */
export function lineTimeMs(bytes: number, baudRate: number, bitsPerChar = 11): number {
  return (bytes * bitsPerChar * 1000) / baudRate;
}

export interface FramerStats {
  frames: number;
  /** Full-length candidates whose CRC did not hold. */
  crcErrors: number;
  /** Bytes dropped while looking for a frame start. */
  noiseBytes: number;
  /** Partial frames cut by a 3.5-character silence. */
  broken: number;
}

export interface FramerOptions {
  /** Which side we parse: a master parses responses, a slave parses requests. */
  direction: "request" | "response";
  /** The inter-frame silence (t3.5) in ms. */
  silenceMs: number;
}

export class RtuFramer {
  private buf = new Uint8Array(2 * MAX_ADU);
  private len = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  private expectUnit: number | undefined;
  /** Something was wrong since the last `expect()`: a CRC failure, noise, or a broken frame. */
  dirty = false;
  readonly stats: FramerStats = { frames: 0, crcErrors: 0, noiseBytes: 0, broken: 0 };

  constructor(private readonly opts: FramerOptions) {}

  /** Expect a frame from `unit` only (or any unit) and drop whatever is buffered. */
  expect(unit?: number): void {
    this.expectUnit = unit;
    this.len = 0;
    this.dirty = false;
  }

  get buffered(): number {
    return this.len;
  }

  /** Feed a chunk that arrived at `nowMs`; returns the frames completed by it. */
  push(chunk: Uint8Array, nowMs: number): RtuFrame[] {
    if (this.len > 0 && nowMs - this.lastAt > this.opts.silenceMs) this.breakPartial();
    this.lastAt = nowMs;
    const out: RtuFrame[] = [];
    let i = 0;
    while (i < chunk.length) {
      const n = Math.min(chunk.length - i, this.buf.length - this.len);
      this.buf.set(chunk.subarray(i, i + n), this.len);
      this.len += n;
      i += n;
      this.scan(out);
      // A full buffer that still holds no frame is noise: shed its oldest byte to make room.
      if (this.len === this.buf.length) this.drop(1, true);
    }
    return out;
  }

  /** Tell the framer that `nowMs` has come; a partial frame older than t3.5 is broken. */
  tick(nowMs: number): void {
    if (this.len > 0 && nowMs - this.lastAt > this.opts.silenceMs) this.breakPartial();
  }

  private breakPartial(): void {
    this.stats.broken++;
    this.stats.noiseBytes += this.len;
    this.len = 0;
    this.dirty = true;
  }

  private drop(n: number, noise: boolean): void {
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
    if (noise) {
      this.stats.noiseBytes += n;
      this.dirty = true;
    }
  }

  /**
   * Find frames. A header that claims more bytes than have arrived does not block the search: a
   * complete frame further on (noise that looked like a header, then the real answer) is taken,
   * and the bytes before it are noise.
   */
  private scan(out: RtuFrame[]): void {
    let crcFailed = false;
    let emitted = false;
    outer: while (this.len > 0) {
      let waitAt = -1;
      for (let s = 0; s < this.len; s++) {
        const r = this.candidate(s);
        if (r === NEED) {
          if (waitAt < 0) waitAt = s;
          continue;
        }
        if (r === BAD_CRC) crcFailed = true;
        if (r <= 0) continue;
        if (s > 0) this.drop(s, true);
        out.push({ unit: this.buf[0]!, pdu: this.buf.slice(1, r - 2) });
        this.stats.frames++;
        emitted = true;
        this.drop(r, false);
        continue outer;
      }
      if (waitAt < 0) this.drop(this.len, true);
      else if (waitAt > 0) this.drop(waitAt, true);
      break;
    }
    // One CRC error per batch of failed candidates, not one per byte slid over.
    if (crcFailed && !emitted) this.stats.crcErrors++;
  }

  /** At offset `s`: the length of a valid frame, NEED (more bytes), BAD_CRC, or BAD (cannot start a frame). */
  private candidate(s: number): number {
    const avail = this.len - s;
    if (this.expectUnit !== undefined && this.buf[s] !== this.expectUnit) return BAD;
    const l = pduLength(this.buf, s + 1, avail - 1, this.opts.direction);
    if (l === 0) return NEED;
    if (l < 0 || l > MAX_PDU) return BAD;
    const total = l + 3;
    if (avail < total) return NEED;
    const c = crc16(this.buf, s, s + total - 2);
    return this.buf[s + total - 2] === (c & 0xff) && this.buf[s + total - 1] === c >>> 8 ? total : BAD_CRC;
  }
}

const NEED = 0;
const BAD = -1;
const BAD_CRC = -2;
