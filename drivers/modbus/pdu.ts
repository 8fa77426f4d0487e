/**
 * Modbus PDU codec (MODBUS Application Protocol Specification V1.1b3, §6): function codes
 * 01, 02, 03, 04, 05, 06, 0F, 10 and 17, and exception responses (§7).
 *
 * Pure: bytes ⇄ values, no I/O. Decoders are total over Uint8Array: any malformed input yields
 * a core `Failure` with a stable E_MODBUS_* code, never a thrown TypeError.
 * Encoders throw a RidgeError only on programmer misuse (a quantity out of the spec's range).
 *
 *   PDU = function code (1 byte) | data (0..252 bytes)
 */
import { RidgeError, fail, ok, type ErrorCode, type Result } from "../../core/index.js";

export const FN = {
  readCoils: 0x01,
  readDiscreteInputs: 0x02,
  readHoldingRegisters: 0x03,
  readInputRegisters: 0x04,
  writeSingleCoil: 0x05,
  writeSingleRegister: 0x06,
  writeMultipleCoils: 0x0f,
  writeMultipleRegisters: 0x10,
  readWriteMultipleRegisters: 0x17,
} as const;
export type FunctionCode = (typeof FN)[keyof typeof FN];

/** §4.1: the PDU is at most 253 bytes (256-byte RTU ADU minus address and CRC). */
export const MAX_PDU = 253;
/** §6.1–6.4 quantity limits. */
export const MAX_READ_BITS = 2000;
export const MAX_READ_REGISTERS = 125;
export const MAX_WRITE_BITS = 1968;
export const MAX_WRITE_REGISTERS = 123;
export const MAX_RW_READ = 125;
export const MAX_RW_WRITE = 121;

export type Request =
  | { fn: 0x01 | 0x02 | 0x03 | 0x04; address: number; quantity: number }
  | { fn: 0x05; address: number; value: boolean }
  | { fn: 0x06; address: number; value: number }
  | { fn: 0x0f; address: number; values: boolean[] }
  | { fn: 0x10; address: number; values: number[] }
  | { fn: 0x17; readAddress: number; readQuantity: number; writeAddress: number; values: number[] };

export type Response =
  | { kind: "bits"; fn: 0x01 | 0x02; bits: boolean[] }
  | { kind: "registers"; fn: 0x03 | 0x04 | 0x17; registers: number[] }
  | { kind: "coil"; fn: 0x05; address: number; value: boolean }
  | { kind: "register"; fn: 0x06; address: number; value: number }
  | { kind: "written"; fn: 0x0f | 0x10; address: number; quantity: number }
  | { kind: "exception"; fn: number; exception: number };

/** §7 exception codes → stable error codes. */
export const EXCEPTION_CODES: Readonly<Record<number, ErrorCode>> = {
  0x01: "E_MODBUS_ILLEGAL_FUNCTION",
  0x02: "E_MODBUS_ILLEGAL_ADDRESS",
  0x03: "E_MODBUS_ILLEGAL_VALUE",
  0x04: "E_MODBUS_DEVICE_FAILURE",
  0x05: "E_MODBUS_ACKNOWLEDGE",
  0x06: "E_MODBUS_DEVICE_BUSY",
  0x07: "E_MODBUS_NEGATIVE_ACKNOWLEDGE",
  0x08: "E_MODBUS_MEMORY_PARITY",
  0x0a: "E_MODBUS_GATEWAY_PATH",
  0x0b: "E_MODBUS_GATEWAY_TARGET",
};

export function exceptionCode(exception: number): ErrorCode {
  return EXCEPTION_CODES[exception] ?? "E_MODBUS_EXCEPTION";
}

const KNOWN = new Set<number>(Object.values(FN));
export function isKnownFunction(fn: number): fn is FunctionCode {
  return KNOWN.has(fn);
}

function misuse(message: string): never {
  throw new RidgeError("E_MODBUS_REQUEST", message);
}
function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) misuse(`${name} must be an integer in 0..65535, got ${v}`);
}
function checkRange(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) misuse(`${name} must be in ${min}..${max}, got ${v}`);
}
function checkSpan(address: number, quantity: number): void {
  if (address + quantity > 0x10000) misuse(`address ${address} + quantity ${quantity} runs past 65535`);
}

function packBits(bits: readonly boolean[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3]! |= 1 << (i & 7);
  });
  return out;
}
function unpackBits(bytes: Uint8Array, offset: number, count: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < count; i++) out.push(((bytes[offset + (i >> 3)]! >> (i & 7)) & 1) === 1);
  return out;
}
function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}
function put16(b: Uint8Array, i: number, v: number): void {
  b[i] = (v >>> 8) & 0xff;
  b[i + 1] = v & 0xff;
}

/** A byte count, then the registers big-endian (§6.3 response, §6.12 and §6.17 requests). */
function putRegisters(b: Uint8Array, at: number, name: string, values: readonly number[]): void {
  b[at] = 2 * values.length;
  values.forEach((v, i) => {
    checkU16(`${name}[${i}]`, v);
    put16(b, at + 1 + 2 * i, v);
  });
}

// ---------------------------------------------------------------- requests

export function encodeRequest(req: Request): Uint8Array {
  switch (req.fn) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04: {
      checkU16("address", req.address);
      checkRange("quantity", req.quantity, 1, req.fn <= 0x02 ? MAX_READ_BITS : MAX_READ_REGISTERS);
      checkSpan(req.address, req.quantity);
      const b = new Uint8Array(5);
      b[0] = req.fn;
      put16(b, 1, req.address);
      put16(b, 3, req.quantity);
      return b;
    }
    case 0x05: {
      checkU16("address", req.address);
      return Uint8Array.of(0x05, req.address >> 8, req.address & 0xff, req.value ? 0xff : 0x00, 0x00);
    }
    case 0x06: {
      checkU16("address", req.address);
      checkU16("value", req.value);
      return Uint8Array.of(0x06, req.address >> 8, req.address & 0xff, req.value >> 8, req.value & 0xff);
    }
    case 0x0f: {
      checkU16("address", req.address);
      checkRange("quantity", req.values.length, 1, MAX_WRITE_BITS);
      checkSpan(req.address, req.values.length);
      const packed = packBits(req.values);
      const b = new Uint8Array(6 + packed.length);
      b[0] = 0x0f;
      put16(b, 1, req.address);
      put16(b, 3, req.values.length);
      b[5] = packed.length;
      b.set(packed, 6);
      return b;
    }
    case 0x10: {
      checkU16("address", req.address);
      checkRange("quantity", req.values.length, 1, MAX_WRITE_REGISTERS);
      checkSpan(req.address, req.values.length);
      const b = new Uint8Array(6 + 2 * req.values.length);
      b[0] = 0x10;
      put16(b, 1, req.address);
      put16(b, 3, req.values.length);
      putRegisters(b, 5, "values", req.values);
      return b;
    }
    case 0x17: {
      checkU16("readAddress", req.readAddress);
      checkU16("writeAddress", req.writeAddress);
      checkRange("readQuantity", req.readQuantity, 1, MAX_RW_READ);
      checkRange("write quantity", req.values.length, 1, MAX_RW_WRITE);
      checkSpan(req.readAddress, req.readQuantity);
      checkSpan(req.writeAddress, req.values.length);
      const b = new Uint8Array(10 + 2 * req.values.length);
      b[0] = 0x17;
      put16(b, 1, req.readAddress);
      put16(b, 3, req.readQuantity);
      put16(b, 5, req.writeAddress);
      put16(b, 7, req.values.length);
      putRegisters(b, 9, "values", req.values);
      return b;
    }
  }
}

function need<T>(pdu: Uint8Array, n: number, what: string): Result<T, ErrorCode> | undefined {
  return pdu.length === n ? undefined : fail("E_MODBUS_LENGTH", `${what}: expected ${n} bytes, got ${pdu.length}`);
}

/** Decode a request PDU (the slave side; used by tests and simulated slaves). */
export function decodeRequest(pdu: Uint8Array): Result<Request, ErrorCode> {
  if (pdu.length < 1) return fail("E_MODBUS_LENGTH", "empty PDU");
  if (pdu.length > MAX_PDU) return fail("E_MODBUS_LENGTH", `PDU of ${pdu.length} bytes exceeds ${MAX_PDU}`);
  const fn = pdu[0]!;
  switch (fn) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04: {
      const e = need<Request>(pdu, 5, `function ${fn} request`);
      if (e) return e;
      const address = u16(pdu, 1);
      const quantity = u16(pdu, 3);
      const max = fn <= 0x02 ? MAX_READ_BITS : MAX_READ_REGISTERS;
      if (quantity < 1 || quantity > max) return fail("E_MODBUS_QUANTITY", `quantity ${quantity} outside 1..${max} at byte 3`);
      return ok({ fn, address, quantity });
    }
    case 0x05: {
      const e = need<Request>(pdu, 5, "write single coil request");
      if (e) return e;
      const v = u16(pdu, 3);
      if (v !== 0xff00 && v !== 0x0000) return fail("E_MODBUS_VALUE", `coil value 0x${v.toString(16)} is neither 0xFF00 nor 0x0000 at byte 3`);
      return ok({ fn, address: u16(pdu, 1), value: v === 0xff00 });
    }
    case 0x06: {
      const e = need<Request>(pdu, 5, "write single register request");
      if (e) return e;
      return ok({ fn, address: u16(pdu, 1), value: u16(pdu, 3) });
    }
    case 0x0f:
    case 0x10: {
      if (pdu.length < 6) return fail("E_MODBUS_LENGTH", `write multiple request truncated at ${pdu.length} bytes`);
      const address = u16(pdu, 1);
      const quantity = u16(pdu, 3);
      const count = pdu[5]!;
      const isBits = fn === 0x0f;
      const max = isBits ? MAX_WRITE_BITS : MAX_WRITE_REGISTERS;
      if (quantity < 1 || quantity > max) return fail("E_MODBUS_QUANTITY", `quantity ${quantity} outside 1..${max} at byte 3`);
      const expect = isBits ? Math.ceil(quantity / 8) : 2 * quantity;
      if (count !== expect) return fail("E_MODBUS_BYTE_COUNT", `byte count ${count} does not match quantity ${quantity} at byte 5`);
      const e = need<Request>(pdu, 6 + count, "write multiple request");
      if (e) return e;
      if (isBits) return ok({ fn: 0x0f, address, values: unpackBits(pdu, 6, quantity) });
      const values: number[] = [];
      for (let i = 0; i < quantity; i++) values.push(u16(pdu, 6 + 2 * i));
      return ok({ fn: 0x10, address, values });
    }
    case 0x17: {
      if (pdu.length < 10) return fail("E_MODBUS_LENGTH", `read/write request truncated at ${pdu.length} bytes`);
      const readQuantity = u16(pdu, 3);
      const writeQuantity = u16(pdu, 7);
      const count = pdu[9]!;
      if (readQuantity < 1 || readQuantity > MAX_RW_READ) return fail("E_MODBUS_QUANTITY", `read quantity ${readQuantity} outside 1..${MAX_RW_READ} at byte 3`);
      if (writeQuantity < 1 || writeQuantity > MAX_RW_WRITE) return fail("E_MODBUS_QUANTITY", `write quantity ${writeQuantity} outside 1..${MAX_RW_WRITE} at byte 7`);
      if (count !== 2 * writeQuantity) return fail("E_MODBUS_BYTE_COUNT", `byte count ${count} does not match write quantity ${writeQuantity} at byte 9`);
      const e = need<Request>(pdu, 10 + count, "read/write request");
      if (e) return e;
      const values: number[] = [];
      for (let i = 0; i < writeQuantity; i++) values.push(u16(pdu, 10 + 2 * i));
      return ok({ fn, readAddress: u16(pdu, 1), readQuantity, writeAddress: u16(pdu, 5), values });
    }
    default:
      return fail("E_MODBUS_ILLEGAL_FUNCTION", `unknown function code 0x${fn.toString(16).padStart(2, "0")} at byte 0`);
  }
}

// ---------------------------------------------------------------- responses

export function encodeResponse(res: Response): Uint8Array {
  switch (res.kind) {
    case "bits": {
      const packed = packBits(res.bits);
      if (packed.length > 250) misuse(`${res.bits.length} bits do not fit one response`);
      return Uint8Array.of(res.fn, packed.length, ...packed);
    }
    case "registers": {
      if (res.registers.length > 125) misuse(`${res.registers.length} registers do not fit one response`);
      const b = new Uint8Array(2 + 2 * res.registers.length);
      b[0] = res.fn;
      putRegisters(b, 1, "registers", res.registers);
      return b;
    }
    case "coil":
      return encodeRequest({ fn: 0x05, address: res.address, value: res.value });
    case "register":
      return encodeRequest({ fn: 0x06, address: res.address, value: res.value });
    case "written": {
      checkU16("address", res.address);
      checkU16("quantity", res.quantity);
      const b = new Uint8Array(5);
      b[0] = res.fn;
      put16(b, 1, res.address);
      put16(b, 3, res.quantity);
      return b;
    }
    case "exception":
      checkRange("exception", res.exception, 0, 255);
      return Uint8Array.of((res.fn | 0x80) & 0xff, res.exception);
  }
}

/**
 * Decode a response PDU. With `request`, also check that it answers that request: same function,
 * a byte count that matches the quantity asked for, write echoes equal to what was written.
 * An exception response decodes successfully as `{ kind: "exception" }`.
 */
export function decodeResponse(pdu: Uint8Array, request?: Request): Result<Response, ErrorCode> {
  if (pdu.length < 2) return fail("E_MODBUS_LENGTH", `response of ${pdu.length} bytes is shorter than 2`);
  if (pdu.length > MAX_PDU) return fail("E_MODBUS_LENGTH", `PDU of ${pdu.length} bytes exceeds ${MAX_PDU}`);
  const fnByte = pdu[0]!;
  if (fnByte & 0x80) {
    const e = need<Response>(pdu, 2, "exception response");
    if (e) return e;
    const fn = fnByte & 0x7f;
    if (request && fn !== request.fn) return fail("E_MODBUS_MISMATCH", `exception for function ${fn} answers a request for function ${request.fn}`);
    return ok({ kind: "exception", fn, exception: pdu[1]! });
  }
  if (request && fnByte !== request.fn) return fail("E_MODBUS_MISMATCH", `function ${fnByte} answers a request for function ${request.fn}`);
  switch (fnByte) {
    case 0x01:
    case 0x02: {
      const count = pdu[1]!;
      const e = need<Response>(pdu, 2 + count, "read bits response");
      if (e) return e;
      if (count === 0) return fail("E_MODBUS_BYTE_COUNT", "byte count 0 at byte 1");
      let bits = unpackBits(pdu, 2, 8 * count);
      if (request && "quantity" in request) {
        if (count !== Math.ceil(request.quantity / 8)) return fail("E_MODBUS_BYTE_COUNT", `byte count ${count} does not match ${request.quantity} bits at byte 1`);
        bits = bits.slice(0, request.quantity);
      }
      return ok({ kind: "bits", fn: fnByte, bits });
    }
    case 0x03:
    case 0x04:
    case 0x17: {
      const count = pdu[1]!;
      const e = need<Response>(pdu, 2 + count, "read registers response");
      if (e) return e;
      if (count === 0 || count % 2 !== 0) return fail("E_MODBUS_BYTE_COUNT", `byte count ${count} is not a positive even number at byte 1`);
      if (request) {
        const q = request.fn === 0x17 ? request.readQuantity : "quantity" in request ? request.quantity : 0;
        if (count !== 2 * q) return fail("E_MODBUS_BYTE_COUNT", `byte count ${count} does not match ${q} registers at byte 1`);
      }
      const registers: number[] = [];
      for (let i = 0; i < count / 2; i++) registers.push(u16(pdu, 2 + 2 * i));
      return ok({ kind: "registers", fn: fnByte, registers });
    }
    case 0x05: {
      const e = need<Response>(pdu, 5, "write single coil response");
      if (e) return e;
      const v = u16(pdu, 3);
      if (v !== 0xff00 && v !== 0x0000) return fail("E_MODBUS_VALUE", `coil value 0x${v.toString(16)} at byte 3`);
      const value: Response = { kind: "coil", fn: 0x05, address: u16(pdu, 1), value: v === 0xff00 };
      if (request && request.fn === 0x05 && (request.address !== value.address || request.value !== value.value)) return fail("E_MODBUS_MISMATCH", "write single coil echo differs from the request");
      return ok(value);
    }
    case 0x06: {
      const e = need<Response>(pdu, 5, "write single register response");
      if (e) return e;
      const value: Response = { kind: "register", fn: 0x06, address: u16(pdu, 1), value: u16(pdu, 3) };
      if (request && request.fn === 0x06 && (request.address !== value.address || request.value !== value.value)) return fail("E_MODBUS_MISMATCH", "write single register echo differs from the request");
      return ok(value);
    }
    case 0x0f:
    case 0x10: {
      const e = need<Response>(pdu, 5, "write multiple response");
      if (e) return e;
      const value: Response = { kind: "written", fn: fnByte, address: u16(pdu, 1), quantity: u16(pdu, 3) };
      if (request && (request.fn === 0x0f || request.fn === 0x10) && (request.address !== value.address || request.values.length !== value.quantity)) {
        return fail("E_MODBUS_MISMATCH", "write multiple echo differs from the request");
      }
      return ok(value);
    }
    default:
      return fail("E_MODBUS_ILLEGAL_FUNCTION", `unknown function code 0x${fnByte.toString(16).padStart(2, "0")} at byte 0`);
  }
}

/**
 * The length of a PDU from its first bytes, for framing (Modbus over serial line V1.02 §2.5.1.1:
 * a master knows a response is complete from its function code and byte count).
 * Returns the full PDU length, `0` when more bytes are needed to tell, or `-1` for an unknown function.
 */
export function pduLength(head: Uint8Array, offset: number, available: number, direction: "request" | "response"): number {
  if (available < 1) return 0;
  const fn = head[offset]!;
  if (direction === "response") {
    if (fn & 0x80) return isKnownFunction(fn & 0x7f) ? 2 : -1;
    switch (fn) {
      case 0x01:
      case 0x02:
      case 0x03:
      case 0x04:
      case 0x17:
        return available < 2 ? 0 : 2 + head[offset + 1]!;
      case 0x05:
      case 0x06:
      case 0x0f:
      case 0x10:
        return 5;
      default:
        return -1;
    }
  }
  switch (fn) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
      return 5;
    case 0x0f:
    case 0x10:
      return available < 6 ? 0 : 6 + head[offset + 5]!;
    case 0x17:
      return available < 10 ? 0 : 10 + head[offset + 9]!;
    default:
      return -1;
  }
}
