/**
 * The subset of CBOR (RFC 8949) that SenML CBOR (RFC 8428 §6) needs: unsigned/negative integers,
 * byte and text strings, arrays, maps with integer or text keys, false/true/null, half/single/double
 * floats; tags are skipped. Definite lengths only (indefinite → error). Total: malformed or
 * over-deep input returns `{ ok: false }`. Written here because the general CBOR library maps
 * integer-keyed maps through a tag, which SenML peers do not expect.
 */
import type { CodecResult } from "./value.js";

export type CborValue = number | string | boolean | null | undefined | Uint8Array | CborValue[] | Map<CborValue, CborValue>;

const MAX_DEPTH = 16;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8enc = new TextEncoder();

export function decodeCbor(buf: Uint8Array): CodecResult<CborValue> {
  let i = 0;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  class Bad extends Error {
    constructor(readonly at: number, msg: string) {
      super(msg);
    }
  }
  const need = (n: number) => {
    if (i + n > buf.length) throw new Bad(i, `${n} bytes needed, ${buf.length - i} left`);
  };
  const arg = (info: number): number => {
    if (info < 24) return info;
    if (info === 24) return need(1), buf[i++]!;
    if (info === 25) return need(2), (i += 2), dv.getUint16(i - 2);
    if (info === 26) return need(4), (i += 4), dv.getUint32(i - 4);
    if (info === 27) {
      need(8);
      const v = dv.getBigUint64(i);
      i += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Bad(i - 8, "integer beyond 2^53");
      return Number(v);
    }
    throw new Bad(i - 1, info === 31 ? "indefinite lengths are not supported" : `reserved additional info ${info}`);
  };
  const item = (depth: number): CborValue => {
    if (depth > MAX_DEPTH) throw new Bad(i, "nested too deep");
    need(1);
    const b = buf[i++]!;
    const major = b >> 5;
    const info = b & 0x1f;
    switch (major) {
      case 0: return arg(info);
      case 1: return -1 - arg(info);
      case 2: {
        const n = arg(info);
        need(n);
        i += n;
        return buf.slice(i - n, i);
      }
      case 3: {
        const n = arg(info);
        need(n);
        i += n;
        try {
          return utf8.decode(buf.subarray(i - n, i));
        } catch {
          throw new Bad(i - n, "text string is not UTF-8");
        }
      }
      case 4: {
        const n = arg(info);
        if (n > buf.length - i) throw new Bad(i, "array longer than the input");
        const a: CborValue[] = [];
        for (let k = 0; k < n; k++) a.push(item(depth + 1));
        return a;
      }
      case 5: {
        const n = arg(info);
        if (n * 2 > buf.length - i) throw new Bad(i, "map longer than the input");
        const m = new Map<CborValue, CborValue>();
        for (let k = 0; k < n; k++) {
          const key = item(depth + 1);
          m.set(key, item(depth + 1));
        }
        return m;
      }
      case 6:
        arg(info);
        return item(depth + 1);
      default: {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        if (info === 23) return undefined;
        if (info === 25) return need(2), (i += 2), half(dv.getUint16(i - 2));
        if (info === 26) return need(4), (i += 4), dv.getFloat32(i - 4);
        if (info === 27) return need(8), (i += 8), dv.getFloat64(i - 8);
        throw new Bad(i - 1, `unsupported simple value ${info}`);
      }
    }
  };
  try {
    const v = item(0);
    if (i !== buf.length) return { ok: false, reason: `${buf.length - i} trailing bytes`, offset: i };
    return { ok: true, value: v };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.message, offset: e.at };
    return { ok: false, reason: String(e) };
  }
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function encodeCbor(v: CborValue): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number) => {
    if (n < 24) out.push((major << 5) | n);
    else if (n <= 0xff) out.push((major << 5) | 24, n);
    else if (n <= 0xffff) out.push((major << 5) | 25, n >> 8, n & 0xff);
    else if (n <= 0xffffffff) out.push((major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    else {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(n));
      out.push((major << 5) | 27, ...b);
    }
  };
  const put = (x: CborValue): void => {
    if (x === false) out.push(0xf4);
    else if (x === true) out.push(0xf5);
    else if (x === null) out.push(0xf6);
    else if (x === undefined) out.push(0xf7);
    else if (typeof x === "number") {
      if (Number.isSafeInteger(x)) head(x >= 0 ? 0 : 1, x >= 0 ? x : -1 - x);
      else if (Math.fround(x) === x || Number.isNaN(x)) {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setFloat32(0, x);
        out.push(0xfa, ...b);
      } else {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, x);
        out.push(0xfb, ...b);
      }
    } else if (typeof x === "string") {
      const b = utf8enc.encode(x);
      head(3, b.length);
      for (const c of b) out.push(c);
    } else if (x instanceof Uint8Array) {
      head(2, x.length);
      for (const c of x) out.push(c);
    } else if (Array.isArray(x)) {
      head(4, x.length);
      for (const e of x) put(e);
    } else {
      head(5, x.size);
      for (const [k, e] of x) put(k), put(e);
    }
  };
  put(v);
  return Uint8Array.from(out);
}
