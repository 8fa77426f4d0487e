/**
 * A small DER (ITU-T X.690 §10) writer for the structures flashing emits (the PKCS#10 request).
 * Definite, minimal lengths; pure, no I/O.
 */

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** X.690 §8.1.3: short form below 128, else the minimal long form. */
export function derLength(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad DER length ${n}`);
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, value: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.of(tag), derLength(value.length), value]);
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, concatBytes(items));
export const set = (...items: Uint8Array[]) => tlv(0x31, concatBytes(items));
/** Context-specific constructed tag [n]. */
export const contextConstructed = (n: number, ...items: Uint8Array[]) => tlv(0xa0 | n, concatBytes(items));
export const utf8String = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
export const octetString = (b: Uint8Array) => tlv(0x04, b);
/** A BIT STRING with no unused bits (keys, signatures). */
export const bitString = (b: Uint8Array) => tlv(0x03, concatBytes([Uint8Array.of(0), b]));

/** Non-negative INTEGER from a small number (X.690 §8.3: minimal two's complement). */
export function integer(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad DER integer ${n}`);
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, Uint8Array.from(bytes));
}

/** OBJECT IDENTIFIER from dotted text (X.690 §8.19). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((s) => {
    if (!/^\d+$/.test(s)) throw new RangeError(`bad OID ${dotted}`);
    return Number(s);
  });
  if (arcs.length < 2 || arcs[0]! > 2) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: number) => {
    const chunk: number[] = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift(0x80 | (x & 0x7f));
    out.push(...chunk);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}
