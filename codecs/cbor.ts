/**
 * A small, total CBOR codec (RFC 8949) for what SenML (RFC 8428 §6) and the CoAP/LwM2M payloads
 * need: integers (bigint beyond 2^53), floats (half, single, double), text and byte strings,
 * arrays, maps with any keys (SenML's integer labels stay plain Map keys; general CBOR libraries
 * route integer-keyed maps through a tag, which SenML peers do not expect), booleans, null,
 * undefined, and tags (kept as `{ tag, value }`; SenML reads tag 4, decimal fractions).
 *
 * Decoding is total: hostile input ends in `{ ok: false, code, reason, offset }`, never an
 * exception. Every length is checked against the bytes left, nesting is bounded, duplicate map
 * keys are refused (RFC 8949 §5.6), and indefinite lengths are accepted (SenSML streams use an
 * indefinite-length array, RFC 8428 §6).
 *
 * Encoding uses preferred serialization (RFC 8949 §4.1): the shortest head, integral numbers as
 * integers, other numbers in the shortest float that round-trips. The RFC 8428 §6 example is
 * written that way, so the encoder reproduces it byte for byte.
 *
 *   initial byte: | major type (3 bits) | additional info (5 bits) |
 *   ai < 24: value in ai; 24/25/26/27: 1/2/4/8 bytes follow; 31: indefinite length / break
 */
import { RidgeError, fail, ok, type Result } from "../core/index.js";

export type CborValue = number | bigint | string | boolean | null | undefined | Uint8Array | CborValue[] | CborMap | CborTagged;
export type CborMap = Map<CborValue, CborValue>;
export interface CborTagged {
  tag: number;
  value: CborValue;
}

export type CborErrorCode =
  | "E_CBOR_TRUNCATED" // a head, length or value runs past the end of the input
  | "E_CBOR_MALFORMED" // reserved bits, misplaced break, bad UTF-8, duplicate key, trailing bytes
  | "E_CBOR_DEPTH" // nested deeper than MAX_DEPTH
  | "E_CBOR_UNSUPPORTED"; // a simple value this codec does not model

const MAX_DEPTH = 32;
const textDecoder = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

class CborFail {
  constructor(
    readonly code: CborErrorCode,
    readonly reason: string,
    readonly offset: number,
  ) {}
}

export function decodeCbor(bytes: Uint8Array): Result<CborValue, CborErrorCode> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const BREAK = Symbol("break");

  const need = (n: number): void => {
    if (pos + n > bytes.length) throw new CborFail("E_CBOR_TRUNCATED", `${n} byte(s) needed, ${bytes.length - pos} left`, pos);
  };
  // The argument of a head: a length, an integer, or a float's bits.
  const arg = (ai: number, start: number): number | bigint => {
    if (ai < 24) return ai;
    switch (ai) {
      case 24:
        need(1);
        return bytes[pos++]!;
      case 25:
        need(2);
        pos += 2;
        return view.getUint16(pos - 2);
      case 26:
        need(4);
        pos += 4;
        return view.getUint32(pos - 4);
      case 27: {
        need(8);
        pos += 8;
        const v = view.getBigUint64(pos - 8);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      default:
        throw new CborFail("E_CBOR_MALFORMED", `reserved additional information ${ai}`, start);
    }
  };
  const length = (ai: number, start: number): number => {
    const n = arg(ai, start);
    if (typeof n === "bigint" || n > bytes.length - pos) throw new CborFail("E_CBOR_TRUNCATED", `length ${n} exceeds the ${bytes.length - pos} byte(s) left`, start);
    return n;
  };

  const item = (depth: number): CborValue | typeof BREAK => {
    if (depth > MAX_DEPTH) throw new CborFail("E_CBOR_DEPTH", `nesting deeper than ${MAX_DEPTH}`, pos);
    const start = pos;
    need(1);
    const ib = bytes[pos++]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    switch (major) {
      case 0:
        return arg(ai, start);
      case 1: {
        const n = arg(ai, start);
        return typeof n === "bigint" ? -1n - n : -1 - n;
      }
      case 2:
      case 3: {
        let chunk: Uint8Array;
        if (ai === 31) {
          const parts: Uint8Array[] = [];
          for (;;) {
            const p = item(depth + 1);
            if (p === BREAK) break;
            if (major === 3 && typeof p === "string") parts.push(textEncoder.encode(p));
            else if (major === 2 && p instanceof Uint8Array) parts.push(p);
            else throw new CborFail("E_CBOR_MALFORMED", "indefinite string with a chunk of another type", start);
          }
          chunk = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
          let o = 0;
          for (const p of parts) {
            chunk.set(p, o);
            o += p.length;
          }
        } else {
          const n = length(ai, start);
          chunk = bytes.slice(pos, pos + n);
          pos += n;
        }
        if (major === 2) return chunk;
        try {
          return textDecoder.decode(chunk);
        } catch {
          throw new CborFail("E_CBOR_MALFORMED", "text string is not valid UTF-8", start);
        }
      }
      case 4: {
        const out: CborValue[] = [];
        if (ai === 31) {
          for (;;) {
            const v = item(depth + 1);
            if (v === BREAK) return out;
            out.push(v);
          }
        }
        const n = length(ai, start); // each element takes at least one byte
        for (let i = 0; i < n; i++) {
          const v = item(depth + 1);
          if (v === BREAK) throw new CborFail("E_CBOR_MALFORMED", "break inside a definite-length array", pos - 1);
          out.push(v);
        }
        return out;
      }
      case 5: {
        const out: CborMap = new Map();
        const pair = (): boolean => {
          const k = item(depth + 1);
          if (k === BREAK) return false;
          const at = pos;
          const v = item(depth + 1);
          if (v === BREAK) throw new CborFail("E_CBOR_MALFORMED", "break where a map value was expected", at);
          if (out.has(k)) throw new CborFail("E_CBOR_MALFORMED", `duplicate map key ${String(k)}`, at);
          out.set(k, v);
          return true;
        };
        if (ai === 31) {
          while (pair());
          return out;
        }
        const n = length(ai, start);
        for (let i = 0; i < n; i++) if (!pair()) throw new CborFail("E_CBOR_MALFORMED", "break inside a definite-length map", pos - 1);
        return out;
      }
      case 6: {
        const tag = arg(ai, start);
        const v = item(depth + 1);
        if (v === BREAK) throw new CborFail("E_CBOR_MALFORMED", "break after a tag", pos - 1);
        return { tag: Number(tag), value: v };
      }
      default: {
        // major 7: simple values and floats
        if (ai === 20) return false;
        if (ai === 21) return true;
        if (ai === 22) return null;
        if (ai === 23) return undefined;
        if (ai === 25) {
          need(2);
          pos += 2;
          return halfToNumber(view.getUint16(pos - 2));
        }
        if (ai === 26) {
          need(4);
          pos += 4;
          return view.getFloat32(pos - 4);
        }
        if (ai === 27) {
          need(8);
          pos += 8;
          return view.getFloat64(pos - 8);
        }
        if (ai === 31) return BREAK;
        throw new CborFail("E_CBOR_UNSUPPORTED", `unsupported simple value ${ai}`, start);
      }
    }
  };

  try {
    const v = item(0);
    if (v === BREAK) return fail("E_CBOR_MALFORMED", "unexpected break", 0);
    if (pos !== bytes.length) return fail("E_CBOR_MALFORMED", `${bytes.length - pos} trailing byte(s)`, pos);
    return ok(v);
  } catch (e) {
    if (e instanceof CborFail) return fail(e.code, e.reason, e.offset);
    if (e instanceof RangeError) return fail("E_CBOR_TRUNCATED", `out of range: ${e.message}`, pos);
    throw e;
  }
}

/** RFC 8949 Appendix D: IEEE 754 binary16. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The half-precision bits of `n` if it converts exactly, else undefined. */
function numberToHalf(n: number): number | undefined {
  if (Number.isNaN(n)) return 0x7e00;
  const sign = n < 0 || Object.is(n, -0) ? 0x8000 : 0;
  const a = Math.abs(n);
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  const exp = Math.floor(Math.log2(a));
  if (exp < -24 || exp > 15) return undefined;
  if (exp < -14) {
    const frac = a / 2 ** -24;
    return Number.isInteger(frac) ? sign | frac : undefined;
  }
  const frac = (a / 2 ** exp - 1) * 1024;
  if (!Number.isInteger(frac) || frac >= 1024) return undefined;
  const h = sign | ((exp + 15) << 10) | frac;
  return halfToNumber(h) === n ? h : undefined;
}

/**
 * Encode with preferred serialization. Throws a RidgeError `E_CBOR_ENCODE` (category internal)
 * only for values CBOR cannot hold: that is programmer misuse, never peer input.
 */
export function encodeCbor(value: CborValue): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number | bigint): void => {
    const m = major << 5;
    if (typeof n === "bigint" || n > 0xffffffff) {
      const b = BigInt(n);
      if (b > 0xffffffffffffffffn) throw new RidgeError("E_CBOR_ENCODE", `integer ${b} does not fit a CBOR head (64 bits)`);
      out.push(m | 27);
      for (let i = 7; i >= 0; i--) out.push(Number((b >> BigInt(i * 8)) & 0xffn));
    } else if (n < 24) out.push(m | n);
    else if (n < 0x100) out.push(m | 24, n);
    else if (n < 0x10000) out.push(m | 25, n >> 8, n & 0xff);
    else out.push(m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  };
  const push = (b: Uint8Array): void => {
    for (const x of b) out.push(x);
  };
  const float = (prefix: number, n: number, write: (v: DataView) => void): void => {
    const b = new Uint8Array(n);
    write(new DataView(b.buffer));
    out.push(prefix);
    push(b);
  };
  const enc = (v: CborValue): void => {
    if (v === false) out.push(0xf4);
    else if (v === true) out.push(0xf5);
    else if (v === null) out.push(0xf6);
    else if (v === undefined) out.push(0xf7);
    else if (typeof v === "bigint") {
      if (v >= 0n) head(0, v);
      else head(1, -1n - v);
    } else if (typeof v === "number") {
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER && !Object.is(v, -0)) {
        if (v >= 0) head(0, v);
        else head(1, -1 - v);
        return;
      }
      const h = numberToHalf(v);
      if (h !== undefined) float(0xf9, 2, (d) => d.setUint16(0, h));
      else if (Math.fround(v) === v) float(0xfa, 4, (d) => d.setFloat32(0, v));
      else float(0xfb, 8, (d) => d.setFloat64(0, v));
    } else if (typeof v === "string") {
      const b = textEncoder.encode(v);
      head(3, b.length);
      push(b);
    } else if (v instanceof Uint8Array) {
      head(2, v.length);
      push(v);
    } else if (Array.isArray(v)) {
      head(4, v.length);
      for (const x of v) enc(x);
    } else if (v instanceof Map) {
      head(5, v.size);
      for (const [k, x] of v) {
        enc(k);
        enc(x);
      }
    } else if (typeof v === "object" && typeof v.tag === "number" && Number.isInteger(v.tag) && v.tag >= 0) {
      head(6, v.tag);
      enc(v.value);
    } else {
      throw new RidgeError("E_CBOR_ENCODE", `cannot encode ${typeof v} as CBOR`);
    }
  };
  enc(value);
  return Uint8Array.from(out);
}
