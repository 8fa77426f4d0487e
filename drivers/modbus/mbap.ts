/**
 * Modbus TCP framing (MODBUS Messaging on TCP/IP Implementation Guide V1.0b §3.1.3):
 *
 *   ADU  = MBAP header (7 bytes) | PDU (1..253 bytes)                    (at most 260 bytes)
 *   MBAP = transaction id (2) | protocol id (2) = 0 | length (2) | unit id (1)     big-endian
 *          length = the bytes that follow it: unit id + PDU, so 2..254
 *
 * TCP hands over bytes in arbitrary chunks, so framing is a streaming step of its own; a frame
 * ends exactly where its length field says. Unlike RTU there is no checksum and no silence to
 * resynchronise on: a header with a protocol id other than 0 or a length outside 2..254 means the
 * stream is out of step (garbage on the socket, or not a Modbus server), and nothing after it can
 * be trusted. The framer then reports the error once and takes no more bytes until `reset()`;
 * its owner closes the connection (§4.3.1.4: on an incorrect frame, close it) and opens a new one.
 *
 * Pure: no I/O, no timers.
 */
import { fail, ok, type ErrorCode, type Failure, type Result } from "../../core/index.js";
import { MAX_PDU } from "./pdu.js";

export const MBAP_HEADER = 7;
/** §4.1 of the Application Protocol: 7-byte MBAP header + 253-byte PDU. */
export const MAX_TCP_ADU = MBAP_HEADER + MAX_PDU;
/** §3.1.3: protocol identifier 0 is Modbus. */
export const MODBUS_PROTOCOL_ID = 0;

export interface MbapFrame {
  transaction: number;
  unit: number;
  pdu: Uint8Array;
}

export function encodeMbap(transaction: number, unit: number, pdu: Uint8Array): Uint8Array {
  const out = new Uint8Array(MBAP_HEADER + pdu.length);
  const len = pdu.length + 1;
  out[0] = (transaction >>> 8) & 0xff;
  out[1] = transaction & 0xff;
  out[2] = 0;
  out[3] = 0;
  out[4] = len >>> 8;
  out[5] = len & 0xff;
  out[6] = unit & 0xff;
  out.set(pdu, MBAP_HEADER);
  return out;
}

/** Why the header at `at` of `b` (7 bytes available) cannot start a frame, or its total length. */
function checkHeader(b: Uint8Array, at: number, offset: number): Result<number, ErrorCode> {
  const protocol = (b[at + 2]! << 8) | b[at + 3]!;
  const len = (b[at + 4]! << 8) | b[at + 5]!;
  if (protocol !== MODBUS_PROTOCOL_ID) {
    return fail("E_MODBUS_MBAP", `MBAP header at byte ${offset}: protocol id 0x${protocol.toString(16).padStart(4, "0")} is not 0 (Modbus)`);
  }
  if (len < 2 || len > MAX_PDU + 1) return fail("E_MODBUS_MBAP", `MBAP header at byte ${offset}: length ${len} is outside 2..${MAX_PDU + 1} (unit id + PDU of 1..${MAX_PDU} bytes)`);
  return ok(MBAP_HEADER - 1 + len);
}

/** Decode exactly one complete ADU (no streaming). */
export function decodeMbap(adu: Uint8Array): Result<MbapFrame, ErrorCode> {
  if (adu.length < MBAP_HEADER) return fail("E_MODBUS_LENGTH", `Modbus TCP frame of ${adu.length} bytes is shorter than its ${MBAP_HEADER}-byte MBAP header`);
  const h = checkHeader(adu, 0, 0);
  if (!h.ok) return h;
  if (adu.length !== h.value) return fail("E_MODBUS_LENGTH", `Modbus TCP frame of ${adu.length} bytes, but its MBAP length field says ${h.value}`);
  return ok({ transaction: (adu[0]! << 8) | adu[1]!, unit: adu[6]!, pdu: adu.slice(MBAP_HEADER) });
}

export interface MbapStats {
  frames: number;
  /** Malformed headers seen (each one ends the stream until reset). */
  badHeaders: number;
  /** Bytes received in all (for the byte offsets in messages). */
  bytes: number;
}

export interface MbapPush {
  frames: MbapFrame[];
  /** Set once, when this chunk put the stream out of step. */
  error?: Failure<ErrorCode>;
}

export class MbapFramer {
  private buf = new Uint8Array(2 * MAX_TCP_ADU);
  private len = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  private broken = false;
  readonly stats: MbapStats = { frames: 0, badHeaders: 0, bytes: 0 };

  get buffered(): number {
    return this.len;
  }

  /** The stream is out of step: no more frames until `reset()`. */
  get desynchronised(): boolean {
    return this.broken;
  }

  /** A new connection: drop what is buffered and start at byte 0. */
  reset(): void {
    this.len = 0;
    this.base = 0;
    this.broken = false;
  }

  /** The owner found the stream out of step (a frame stalled part-way): take no more bytes until `reset()`. */
  poison(): void {
    this.broken = true;
    this.len = 0;
  }

  push(chunk: Uint8Array): MbapPush {
    const out: MbapPush = { frames: [] };
    if (this.broken) return out;
    let i = 0;
    while (i < chunk.length) {
      const n = Math.min(chunk.length - i, this.buf.length - this.len);
      this.buf.set(chunk.subarray(i, i + n), this.len);
      this.len += n;
      i += n;
      this.stats.bytes += n;
      const e = this.scan(out.frames);
      if (e) {
        this.stats.badHeaders++;
        this.broken = true;
        this.len = 0;
        out.error = e;
        return out;
      }
    }
    return out;
  }

  private scan(frames: MbapFrame[]): Failure<ErrorCode> | undefined {
    let at = 0;
    while (this.len - at >= MBAP_HEADER) {
      const h = checkHeader(this.buf, at, this.base + at);
      if (!h.ok) return h;
      const total = h.value;
      if (this.len - at < total) break;
      frames.push({ transaction: (this.buf[at]! << 8) | this.buf[at + 1]!, unit: this.buf[at + 6]!, pdu: this.buf.slice(at + MBAP_HEADER, at + total) });
      this.stats.frames++;
      at += total;
    }
    if (at > 0) {
      this.buf.copyWithin(0, at, this.len);
      this.len -= at;
      this.base += at;
    }
    return undefined;
  }
}
