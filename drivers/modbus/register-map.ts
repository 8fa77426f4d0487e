/**
 * Point values ⇄ 16-bit registers, for every data type and word/byte order.
 *
 * Order letters name the bytes of the value from most to least significant as they appear on the
 * wire: ABCD is big-endian (the Modbus default, application protocol §4.2), CDAB swaps the 16-bit
 * words (common for 32-bit values on PLCs), BADC swaps the bytes inside each word, DCBA is fully
 * little-endian. For 64-bit values the same two rules (reverse words, swap bytes in words) apply
 * to all four words; 16-bit values only see the byte swap.
 *
 * Pure; no I/O. Values are scaled `engineering = raw × scale + offset` on read and inverted on write.
 */
import { RidgeError } from "../../core/index.js";

export const POINT_TYPES = ["bool", "int16", "uint16", "int32", "uint32", "float32", "float64", "string"] as const;
export type PointType = (typeof POINT_TYPES)[number];
export const WORD_ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"] as const;
export type WordOrder = (typeof WORD_ORDERS)[number];
export const POINT_FUNCTIONS = ["coil", "discrete", "holding", "input"] as const;
export type PointFunction = (typeof POINT_FUNCTIONS)[number];

/** Registers a value of this type occupies (`length` is the string length in registers). */
export function registerCount(type: PointType, length = 1): number {
  switch (type) {
    case "bool":
    case "int16":
    case "uint16":
      return 1;
    case "int32":
    case "uint32":
    case "float32":
      return 2;
    case "float64":
      return 4;
    case "string":
      return length;
  }
}

function swapsBytes(order: WordOrder): boolean {
  return order === "BADC" || order === "DCBA";
}
function reversesWords(order: WordOrder): boolean {
  return order === "CDAB" || order === "DCBA";
}

/** Registers as received → big-endian bytes of the value. */
export function registersToBytes(regs: readonly number[], order: WordOrder, type: PointType): Uint8Array {
  const words = type !== "string" && reversesWords(order) ? [...regs].reverse() : regs;
  const out = new Uint8Array(2 * words.length);
  const swap = swapsBytes(order);
  words.forEach((w, i) => {
    out[2 * i] = swap ? w & 0xff : (w >>> 8) & 0xff;
    out[2 * i + 1] = swap ? (w >>> 8) & 0xff : w & 0xff;
  });
  return out;
}

/** Big-endian bytes of the value → registers to put on the wire. */
export function bytesToRegisters(bytes: Uint8Array, order: WordOrder, type: PointType): number[] {
  const swap = swapsBytes(order);
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    const hi = bytes[i]!;
    const lo = bytes[i + 1] ?? 0;
    words.push(swap ? (lo << 8) | hi : (hi << 8) | lo);
  }
  return type !== "string" && reversesWords(order) ? words.reverse() : words;
}

export type RawValue = boolean | number | string;

/** Decode the registers of one point into its raw (unscaled) value. */
export function decodeRegisters(regs: readonly number[], type: PointType, order: WordOrder): RawValue {
  const b = registersToBytes(regs, order, type);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (type) {
    case "bool":
      return v.getUint16(0) !== 0;
    case "int16":
      return v.getInt16(0);
    case "uint16":
      return v.getUint16(0);
    case "int32":
      return v.getInt32(0);
    case "uint32":
      return v.getUint32(0);
    case "float32":
      return v.getFloat32(0);
    case "float64":
      return v.getFloat64(0);
    case "string": {
      let end = b.length;
      while (end > 0 && (b[end - 1] === 0 || b[end - 1] === 0x20)) end--;
      return new TextDecoder("latin1").decode(b.subarray(0, end));
    }
  }
}

function outOfRange(type: PointType, value: unknown): never {
  throw new RidgeError("E_MODBUS_WRITE_VALUE", `value ${JSON.stringify(value)} does not fit type ${type}`);
}

/** Encode a raw value of `type` into registers (throws E_MODBUS_WRITE_VALUE if it does not fit). */
export function encodeRegisters(value: RawValue, type: PointType, order: WordOrder, length = 1): number[] {
  const n = registerCount(type, length);
  const b = new Uint8Array(2 * n);
  const v = new DataView(b.buffer);
  const num = (): number => {
    if (typeof value !== "number" && typeof value !== "boolean") outOfRange(type, value);
    const x = Number(value);
    if (!Number.isFinite(x) && type !== "float32" && type !== "float64") outOfRange(type, value);
    return x;
  };
  const int = (min: number, max: number): number => {
    const x = num();
    if (!Number.isInteger(x) || x < min || x > max) outOfRange(type, value);
    return x;
  };
  switch (type) {
    case "bool":
      if (typeof value !== "boolean" && value !== 0 && value !== 1) outOfRange(type, value);
      v.setUint16(0, value ? 1 : 0);
      break;
    case "int16":
      v.setInt16(0, int(-0x8000, 0x7fff));
      break;
    case "uint16":
      v.setUint16(0, int(0, 0xffff));
      break;
    case "int32":
      v.setInt32(0, int(-0x80000000, 0x7fffffff));
      break;
    case "uint32":
      v.setUint32(0, int(0, 0xffffffff));
      break;
    case "float32":
      v.setFloat32(0, num());
      break;
    case "float64":
      v.setFloat64(0, num());
      break;
    case "string": {
      if (typeof value !== "string") outOfRange(type, value);
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c > 0xff || i >= b.length) outOfRange(type, value);
        b[i] = c;
      }
      break;
    }
  }
  return bytesToRegisters(b, order, type);
}

export interface ScaleSpec {
  type: PointType;
  scale: number;
  offset: number;
}

/** raw → engineering value (only numbers are scaled). */
export function applyScale(raw: RawValue, p: ScaleSpec): RawValue {
  if (typeof raw !== "number" || (p.scale === 1 && p.offset === 0)) return raw;
  // Dividing by 10 rather than multiplying by 0.1 keeps 1235 × 0.1 at 123.5, not 123.50000000000001.
  const inv = divisorOf(p.scale);
  return (inv === undefined ? raw * p.scale : raw / inv) + p.offset;
}

function divisorOf(scale: number): number | undefined {
  if (Math.abs(scale) >= 1) return undefined;
  const inv = 1 / scale;
  return Math.abs(inv - Math.round(inv)) < 1e-9 ? Math.round(inv) : undefined;
}

/** engineering value → raw, rounded for integer types. */
export function removeScale(value: RawValue, p: ScaleSpec): RawValue {
  if (typeof value !== "number" || (p.scale === 1 && p.offset === 0)) return value;
  const inv = divisorOf(p.scale);
  const raw = inv === undefined ? (value - p.offset) / p.scale : (value - p.offset) * inv;
  return p.type === "float32" || p.type === "float64" ? raw : Math.round(raw);
}
