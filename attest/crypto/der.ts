/**
 * A minimal, total DER (ITU-T X.690) reader and writer for the few structures the crypto layer
 * needs: ECDSA/SM2 signatures (SEQUENCE { INTEGER r, INTEGER s }), SubjectPublicKeyInfo
 * (RFC 5280 §4.1) and PKCS#8 PrivateKeyInfo (RFC 5208) / SEC1 ECPrivateKey (RFC 5915).
 * Reading never throws: it returns undefined on any malformed input (short length, indefinite
 * length, non-minimal length, trailing bytes).
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** Context-specific, constructed [0] (X.690 §8.1.2.2; e.g. PKCS#10 attributes). */
  CONTEXT_0: 0xa0,
} as const;

export interface Tlv {
  tag: number;
  /** The content octets. */
  value: Uint8Array;
  /** Offset just past this TLV in the buffer it was read from. */
  end: number;
}

/** Read one TLV at `offset`; undefined if it is malformed or runs past the end. */
export function readTlv(buf: Uint8Array, offset = 0): Tlv | undefined {
  if (offset + 2 > buf.length) return undefined;
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // multi-byte tags: never used by our structures
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > buf.length) return undefined; // indefinite or absurd length
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
    if (len < 0x80 || (n > 1 && buf[p - n] === 0)) return undefined; // X.690 §10.1: minimal length
  }
  if (p + len > buf.length) return undefined;
  return { tag, value: buf.subarray(p, p + len), end: p + len };
}

/** All TLVs inside a constructed value, which must be consumed exactly. */
export function readChildren(content: Uint8Array): Tlv[] | undefined {
  const out: Tlv[] = [];
  let p = 0;
  while (p < content.length) {
    const t = readTlv(content, p);
    if (!t) return undefined;
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Read exactly one TLV spanning the whole buffer. */
export function readWhole(buf: Uint8Array, tag: number): Tlv | undefined {
  const t = readTlv(buf, 0);
  return t && t.tag === tag && t.end === buf.length ? t : undefined;
}

/** A non-negative DER INTEGER's content → bigint; undefined for negative or non-minimal encodings. */
export function decodeUnsignedInteger(content: Uint8Array): bigint | undefined {
  if (content.length === 0) return undefined;
  if (content[0]! & 0x80) return undefined; // negative
  if (content.length > 1 && content[0] === 0 && !(content[1]! & 0x80)) return undefined; // non-minimal
  let v = 0n;
  for (const b of content) v = (v << 8n) | BigInt(b);
  return v;
}

/** X.690 §8.1.3: definite length, short form below 128, else the minimal long form. */
export function encodeLength(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad DER length ${n}`);
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = concat(...parts);
  return concat(Uint8Array.of(tag), encodeLength(body.length), body);
}

export function encodeUnsignedInteger(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError("negative INTEGER");
  let hex = v.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  let bytes: Uint8Array = Uint8Array.from(Buffer.from(hex, "hex"));
  if (bytes[0]! & 0x80) bytes = concat(Uint8Array.of(0), bytes);
  return tlv(TAG.INTEGER, bytes);
}

/** BIT STRING with no unused bits (keys, signatures: X.690 §8.6.2). */
export function encodeBitString(bytes: Uint8Array): Uint8Array {
  return tlv(TAG.BIT_STRING, Uint8Array.of(0), bytes);
}

export function encodeUtf8String(s: string): Uint8Array {
  return tlv(TAG.UTF8_STRING, new TextEncoder().encode(s));
}

/** OID dotted string → DER OID (tag included). */
export function encodeOid(oid: string): Uint8Array {
  const arcs = oid.split(".").map((x) => BigInt(x));
  const [a, b, ...rest] = arcs;
  if (a === undefined || b === undefined) throw new RangeError(`bad OID ${oid}`);
  const out: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** DER OID content → dotted string; undefined when malformed. */
export function decodeOid(content: Uint8Array): string | undefined {
  if (content.length === 0 || content[content.length - 1]! & 0x80) return undefined;
  const arcs: bigint[] = [];
  let v = 0n;
  let started = false;
  for (const byte of content) {
    if (!started && byte === 0x80) return undefined; // non-minimal arc
    started = true;
    v = (v << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(v);
      v = 0n;
      started = false;
    }
  }
  const first = arcs.shift();
  if (first === undefined) return undefined;
  const a = first < 80n ? first / 40n : 2n;
  const b = first - a * 40n;
  return [a, b, ...arcs].join(".");
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** ECDSA-Sig-Value / SM2Signature (GM/T 0009 §7.3): SEQUENCE { INTEGER r, INTEGER s }. */
export function encodeSignatureDer(r: bigint, s: bigint): Uint8Array {
  return tlv(TAG.SEQUENCE, encodeUnsignedInteger(r), encodeUnsignedInteger(s));
}

export function decodeSignatureDer(sig: Uint8Array): { r: bigint; s: bigint } | undefined {
  const seq = readWhole(sig, TAG.SEQUENCE);
  if (!seq) return undefined;
  const kids = readChildren(seq.value);
  if (!kids || kids.length !== 2 || kids[0]!.tag !== TAG.INTEGER || kids[1]!.tag !== TAG.INTEGER) return undefined;
  const r = decodeUnsignedInteger(kids[0]!.value);
  const s = decodeUnsignedInteger(kids[1]!.value);
  return r === undefined || s === undefined ? undefined : { r, s };
}

/** PEM (RFC 7468) armour. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The first PEM block in `text` (optionally with the given label). */
export function fromPem(text: string, labels?: readonly string[]): { label: string; der: Uint8Array } | undefined {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const label = m[1]!;
    if (labels && !labels.includes(label)) continue;
    const body = m[2]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined;
    return { label, der: Uint8Array.from(Buffer.from(body, "base64")) };
  }
  return undefined;
}
