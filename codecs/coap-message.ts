/**
 * CoAP message codec (RFC 7252 §3), total over Uint8Array: every malformed datagram ends in a
 * core `Failure` (code, reason, byte offset), never in an exception. No I/O: the plain CoAP driver's client
 * (drivers/coap/coap-transport) speaks CoAP with it on its own sockets; the LwM2M server classifies
 * and counts what arrives on its socket with it; tests and benchmarks build raw datagrams with it.
 *
 * RFC 7252 §3, Figure 7 (message format):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Ver| T |  TKL  |      Code     |          Message ID           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   Token (if any, TKL bytes) ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   Options (if any) ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |1 1 1 1 1 1 1 1|    Payload (if any) ...
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * RFC 7252 §3.1, Figure 8 (option format):
 *
 *      0   1   2   3   4   5   6   7
 *    +---------------+---------------+
 *    |  Option Delta | Option Length |   1 byte
 *    +---------------+---------------+
 *    /         Option Delta          /   0-2 bytes (13: +1 byte, value-13; 14: +2 bytes, value-269)
 *    +-------------------------------+
 *    /         Option Length         /   0-2 bytes (same extension rule)
 *    +-------------------------------+
 *    /         Option Value          /   0 or more bytes
 *    +-------------------------------+
 *
 * Nibble 15 is reserved in both fields; 0xFF in the delta position is the payload marker.
 */
import { RidgeError, fail, ok, type Failure, type Result } from "../core/index.js";

export const CoapType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type CoapType = (typeof CoapType)[keyof typeof CoapType];

/** RFC 7252 §12.2 option numbers (plus Observe RFC 7641, Block RFC 7959, Size RFC 7959). */
export const CoapOption = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  LocationPath: 8,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Accept: 17,
  LocationQuery: 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
} as const;

const KNOWN_OPTIONS: ReadonlySet<number> = new Set(Object.values(CoapOption));

export interface CoapOptionValue {
  number: number;
  value: Uint8Array;
}

export interface CoapMessage {
  type: CoapType;
  /** class << 5 | detail: 0x01 GET, 0x45 2.05 Content, 0x84 4.04 Not Found. */
  code: number;
  messageId: number;
  token: Uint8Array;
  /** In wire order (sorted by number, repeats kept in order). */
  options: CoapOptionValue[];
  payload: Uint8Array;
}

export type CoapDecodeError =
  | "E_COAP_TRUNCATED"
  | "E_COAP_VERSION"
  | "E_COAP_TOKEN_LENGTH"
  | "E_COAP_OPTION_RESERVED"
  | "E_COAP_EMPTY_PAYLOAD"
  | "E_COAP_EMPTY_MESSAGE"
  | "E_COAP_OPTION_NUMBER";


export function codeString(code: number): string {
  return `${code >> 5}.${String(code & 0x1f).padStart(2, "0")}`;
}

export function codeFromString(s: string): number {
  const m = /^([0-7])\.(\d\d)$/.exec(s);
  if (!m) throw new RidgeError("E_COAP_CODE", `not a CoAP code: ${JSON.stringify(s)} (expected c.dd)`);
  const detail = Number(m[2]);
  if (detail > 31) throw new RidgeError("E_COAP_CODE", `CoAP code detail ${detail} > 31`);
  return (Number(m[1]) << 5) | detail;
}

export function isRequestCode(code: number): boolean {
  return code >> 5 === 0 && code !== 0;
}

/** Decode one datagram. Never throws. */
export function decodeCoapMessage(buf: Uint8Array): Result<CoapMessage, CoapDecodeError> {
  if (buf.length < 4) return fail("E_COAP_TRUNCATED", `datagram of ${buf.length} bytes is shorter than the 4-byte header`, 0);
  const b0 = buf[0]!;
  const version = b0 >> 6;
  if (version !== 1) return fail("E_COAP_VERSION", `version ${version}, expected 1`, 0);
  const type = ((b0 >> 4) & 3) as CoapType;
  const tkl = b0 & 0x0f;
  // §3: lengths 9-15 are reserved and MUST be processed as a message format error.
  if (tkl > 8) return fail("E_COAP_TOKEN_LENGTH", `token length ${tkl} > 8`, 0);
  const code = buf[1]!;
  const messageId = (buf[2]! << 8) | buf[3]!;
  if (buf.length < 4 + tkl) return fail("E_COAP_TRUNCATED", `token of ${tkl} bytes runs past the end`, 4);
  const token = buf.slice(4, 4 + tkl);
  let i = 4 + tkl;
  // §4.1: an Empty message (code 0.00) has no token, options or payload.
  if (code === 0) {
    if (tkl !== 0 || buf.length !== 4) return fail("E_COAP_EMPTY_MESSAGE", "an empty message (0.00) carries a token, options or payload", 4);
    return ok({ type, code, messageId, token, options: [], payload: new Uint8Array(0) });
  }
  const options: CoapOptionValue[] = [];
  let number = 0;
  while (i < buf.length) {
    const at = i;
    const b = buf[i++]!;
    if (b === 0xff) {
      // §3: a marker followed by a zero-length payload MUST be processed as a format error.
      if (i >= buf.length) return fail("E_COAP_EMPTY_PAYLOAD", "payload marker with an empty payload", at);
      return ok({ type, code, messageId, token, options, payload: buf.slice(i) });
    }
    const ext = (nibble: number, what: string): number | Failure<CoapDecodeError> => {
      if (nibble < 13) return nibble;
      if (nibble === 13) {
        if (i + 1 > buf.length) return fail("E_COAP_TRUNCATED", `option ${what} extension byte missing`, i);
        return buf[i++]! + 13;
      }
      if (nibble === 14) {
        if (i + 2 > buf.length) return fail("E_COAP_TRUNCATED", `option ${what} extension bytes missing`, i);
        const v = ((buf[i]! << 8) | buf[i + 1]!) + 269;
        i += 2;
        return v;
      }
      return fail("E_COAP_OPTION_RESERVED", `option ${what} nibble 15 is reserved`, at);
    };
    const delta = ext(b >> 4, "delta");
    if (typeof delta !== "number") return delta;
    const length = ext(b & 0x0f, "length");
    if (typeof length !== "number") return length;
    number += delta;
    if (number > 0xffff) return fail("E_COAP_OPTION_NUMBER", `option number ${number} > 65535`, at);
    if (i + length > buf.length) return fail("E_COAP_TRUNCATED", `option ${number} value of ${length} bytes runs past the end`, i);
    options.push({ number, value: buf.slice(i, i + length) });
    i += length;
  }
  return ok({ type, code, messageId, token, options, payload: new Uint8Array(0) });
}

function extNibble(v: number): { nibble: number; bytes: number[] } {
  if (v < 13) return { nibble: v, bytes: [] };
  if (v < 269) return { nibble: 13, bytes: [v - 13] };
  const x = v - 269;
  return { nibble: 14, bytes: [x >> 8, x & 0xff] };
}

/** Encode a message. Throws RidgeError only on programmer misuse (token > 8 bytes, bad ids). */
export function encodeCoapMessage(m: CoapMessage): Uint8Array {
  if (m.token.length > 8) throw new RidgeError("E_COAP_ENCODE_TOKEN", `token of ${m.token.length} bytes > 8`);
  if (!Number.isInteger(m.messageId) || m.messageId < 0 || m.messageId > 0xffff) throw new RidgeError("E_COAP_MESSAGE_ID", `message id ${m.messageId} out of 0..65535`);
  if (!Number.isInteger(m.code) || m.code < 0 || m.code > 255) throw new RidgeError("E_COAP_CODE", `code ${m.code} out of 0..255`);
  const out: number[] = [0x40 | (m.type << 4) | m.token.length, m.code, m.messageId >> 8, m.messageId & 0xff, ...m.token];
  const sorted = m.options.map((o, idx) => ({ o, idx })).sort((a, b) => a.o.number - b.o.number || a.idx - b.idx);
  let prev = 0;
  for (const { o } of sorted) {
    if (!Number.isInteger(o.number) || o.number < 0 || o.number > 0xffff) throw new RidgeError("E_COAP_ENCODE_OPTION_NUMBER", `option number ${o.number} out of range`);
    if (o.value.length > 0xffff + 269) throw new RidgeError("E_COAP_OPTION_LENGTH", `option ${o.number} value too long`);
    const d = extNibble(o.number - prev);
    const l = extNibble(o.value.length);
    out.push((d.nibble << 4) | l.nibble, ...d.bytes, ...l.bytes);
    for (const byte of o.value) out.push(byte);
    prev = o.number;
  }
  const res = new Uint8Array(out.length + (m.payload.length ? 1 + m.payload.length : 0));
  res.set(out, 0);
  if (m.payload.length) {
    res[out.length] = 0xff;
    res.set(m.payload, out.length + 1);
  }
  return res;
}

// ---- option value helpers (RFC 7252 §3.2: uint is big-endian, shortest form, 0 is empty) ----

export function encodeUint(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RidgeError("E_COAP_OPTION_VALUE", `uint option value ${v} out of range`);
  const bytes: number[] = [];
  for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Uint8Array.from(bytes);
}

/** Decode a uint option value; lengths over 4 bytes are a format error (undefined). */
export function decodeUint(b: Uint8Array): number | undefined {
  if (b.length > 4) return undefined;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

export function optionValues(m: CoapMessage, number: number): Uint8Array[] {
  return m.options.filter((o) => o.number === number).map((o) => o.value);
}

export function optionUint(m: CoapMessage, number: number): number | undefined {
  const v = m.options.find((o) => o.number === number);
  return v ? decodeUint(v.value) : undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8enc = new TextEncoder();

export function uriPath(m: CoapMessage): string {
  return "/" + optionValues(m, CoapOption.UriPath).map((v) => utf8.decode(v)).join("/");
}

export function uriQuery(m: CoapMessage): string[] {
  return optionValues(m, CoapOption.UriQuery).map((v) => utf8.decode(v));
}

export function pathOptions(path: string): CoapOptionValue[] {
  return path
    .split("/")
    .filter((s) => s.length > 0)
    .map((s) => ({ number: CoapOption.UriPath, value: utf8enc.encode(s) }));
}

export function queryOptions(query: string[]): CoapOptionValue[] {
  return query.map((q) => ({ number: CoapOption.UriQuery, value: utf8enc.encode(q) }));
}

/** RFC 7252 §5.4.6: odd option numbers are critical. */
export function isCritical(number: number): boolean {
  return (number & 1) === 1;
}

/** Critical options this codec does not know: a request carrying one gets 4.02 Bad Option. */
export function unknownCriticalOptions(m: CoapMessage): number[] {
  return m.options.filter((o) => isCritical(o.number) && !KNOWN_OPTIONS.has(o.number)).map((o) => o.number);
}
