/**
 * TPM 2.0 structures used by quotes, as pure codecs over Uint8Array (TCG TPM 2.0 Library Part 2,
 * "Structures"; layout confirmed on swtpm 0.7.1 quotes). All integers big-endian;
 * TPM2B_* = UINT16 size ‖ bytes.
 *
 *   TPMS_ATTEST {                                     Part 2 §10.12.12
 *     UINT32 magic = 0xFF544347 (TPM_GENERATED_VALUE) UINT16 type = 0x8018 (TPM_ST_ATTEST_QUOTE)
 *     TPM2B_NAME qualifiedSigner   TPM2B_DATA extraData (the verifier's nonce)
 *     TPMS_CLOCK_INFO { UINT64 clock; UINT32 resetCount; UINT32 restartCount; BYTE safe }
 *     UINT64 firmwareVersion
 *     TPMS_QUOTE_INFO { TPML_PCR_SELECTION pcrSelect; TPM2B_DIGEST pcrDigest }
 *   }
 *   TPML_PCR_SELECTION { UINT32 count; count × { UINT16 hash; UINT8 sizeofSelect; BYTE pcrSelect[] } }
 *   TPMT_SIGNATURE (ECDSA/SM2) { UINT16 sigAlg; UINT16 hash; TPM2B r; TPM2B s }
 *
 * Decoders are total: any malformed input is a Failure (core/result.ts) with a stable code and,
 * where known, the byte offset.
 */
import type { HashAlg } from "./crypto/hash.js";
import { fail, ok, type Result } from "../core/index.js";

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  RSASSA: 0x0014,
  ECDSA: 0x0018,
  SM2: 0x001b,
  ECC: 0x0023,
} as const;

export const TPM_ECC = { NIST_P256: 0x0003, SM2_P256: 0x0020 } as const;

const HASH_BY_ID: Record<number, HashAlg> = {
  [TPM_ALG.SHA1]: "sha1",
  [TPM_ALG.SHA256]: "sha256",
  [TPM_ALG.SHA384]: "sha384",
  [TPM_ALG.SHA512]: "sha512",
  [TPM_ALG.SM3_256]: "sm3",
};
const ID_BY_HASH: Record<HashAlg, number> = { sha1: TPM_ALG.SHA1, sha256: TPM_ALG.SHA256, sha384: TPM_ALG.SHA384, sha512: TPM_ALG.SHA512, sm3: TPM_ALG.SM3_256 };

export function hashAlgName(id: number): HashAlg | undefined {
  return HASH_BY_ID[id];
}
export function hashAlgId(h: HashAlg): number {
  return ID_BY_HASH[h];
}

export interface PcrSelection {
  hash: HashAlg;
  /** Ascending PCR indices. */
  pcrs: number[];
}

export interface ClockInfo {
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
}

export interface QuoteInfo {
  magic: number;
  type: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
  pcrSelect: PcrSelection[];
  pcrDigest: Uint8Array;
}

export interface TpmSignature {
  sigAlg: number;
  hash: number;
  r: Uint8Array;
  s: Uint8Array;
}

/** A bounds-checked big-endian reader; every read returns undefined past the end. */
class Reader {
  constructor(
    readonly buf: Uint8Array,
    public off = 0,
  ) {}
  private take(n: number): Uint8Array | undefined {
    if (this.off + n > this.buf.length) return undefined;
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  u8(): number | undefined {
    return this.take(1)?.[0];
  }
  u16(): number | undefined {
    const b = this.take(2);
    return b && (b[0]! << 8) | b[1]!;
  }
  u32(): number | undefined {
    const b = this.take(4);
    return b && ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
  u64(): bigint | undefined {
    const hi = this.u32();
    const lo = this.u32();
    return hi === undefined || lo === undefined ? undefined : (BigInt(hi) << 32n) | BigInt(lo);
  }
  tpm2b(max: number): Uint8Array | undefined {
    const n = this.u16();
    if (n === undefined || n > max) return undefined;
    const b = this.take(n);
    return b && Uint8Array.from(b);
  }
}

class Writer {
  private parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8).u8(v);
  }
  u32(v: number): this {
    return this.u16((v >>> 16) & 0xffff).u16(v & 0xffff);
  }
  u64(v: bigint): this {
    return this.u32(Number((v >> 32n) & 0xffffffffn)).u32(Number(v & 0xffffffffn));
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError("TPM2B longer than 65535 bytes");
    return this.u16(b.length).bytes(b);
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** TCG: PCR i is selected by bit (i & 7) of byte (i >> 3). */
export function encodePcrBitmap(pcrs: readonly number[], sizeofSelect = 3): Uint8Array {
  const out = new Uint8Array(sizeofSelect);
  for (const i of pcrs) {
    if (!Number.isInteger(i) || i < 0 || i >= sizeofSelect * 8) throw new RangeError(`PCR ${i} out of range`);
    out[i >> 3]! |= 1 << (i & 7);
  }
  return out;
}

export function decodePcrBitmap(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if (bitmap[i >> 3]! & (1 << (i & 7))) out.push(i);
  return out;
}

function writeSelection(w: Writer, sel: readonly PcrSelection[]): void {
  w.u32(sel.length);
  for (const s of sel) {
    const bitmap = encodePcrBitmap(s.pcrs);
    w.u16(hashAlgId(s.hash)).u8(bitmap.length).bytes(bitmap);
  }
}

function readSelection(r: Reader): PcrSelection[] | string {
  const count = r.u32();
  if (count === undefined) return `truncated TPML_PCR_SELECTION at byte ${r.off}`;
  if (count > 16) return `TPML_PCR_SELECTION count ${count} exceeds HASH_COUNT`;
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.off;
    const alg = r.u16();
    const size = r.u8();
    if (alg === undefined || size === undefined) return `truncated TPMS_PCR_SELECTION at byte ${at}`;
    if (size > 8) return `sizeofSelect ${size} too large at byte ${at}`;
    const hash = hashAlgName(alg);
    if (!hash) return `unknown PCR bank hash 0x${alg.toString(16)} at byte ${at}`;
    const bitmap = new Uint8Array(size);
    for (let j = 0; j < size; j++) {
      const b = r.u8();
      if (b === undefined) return `truncated pcrSelect at byte ${r.off}`;
      bitmap[j] = b;
    }
    out.push({ hash, pcrs: decodePcrBitmap(bitmap) });
  }
  return out;
}

export function encodeQuoteInfo(q: Omit<QuoteInfo, "magic" | "type"> & { magic?: number; type?: number }): Uint8Array {
  const w = new Writer()
    .u32(q.magic ?? TPM_GENERATED_VALUE)
    .u16(q.type ?? TPM_ST_ATTEST_QUOTE)
    .tpm2b(q.qualifiedSigner)
    .tpm2b(q.extraData)
    .u64(q.clockInfo.clock)
    .u32(q.clockInfo.resetCount)
    .u32(q.clockInfo.restartCount)
    .u8(q.clockInfo.safe ? 1 : 0)
    .u64(q.firmwareVersion);
  writeSelection(w, q.pcrSelect);
  return w.tpm2b(q.pcrDigest).done();
}

/** Parse a TPMS_ATTEST of type QUOTE. magic/type are returned, not judged (the verifier judges). */
export function decodeQuoteInfo(buf: Uint8Array): Result<QuoteInfo, "E_ATTEST_QUOTE_MALFORMED" | "E_ATTEST_QUOTE_TYPE"> {
  const r = new Reader(buf);
  const magic = r.u32();
  const type = r.u16();
  if (magic === undefined || type === undefined) return fail("E_ATTEST_QUOTE_MALFORMED", "truncated TPMS_ATTEST header", 0);
  if (type !== TPM_ST_ATTEST_QUOTE) return fail("E_ATTEST_QUOTE_TYPE", `TPMS_ATTEST type 0x${type.toString(16)} is not a quote (0x8018)`, 4);
  const qualifiedSigner = r.tpm2b(2 + 64);
  if (!qualifiedSigner) return fail("E_ATTEST_QUOTE_MALFORMED", `bad qualifiedSigner at byte 6`, 6);
  const at = r.off;
  const extraData = r.tpm2b(64);
  if (!extraData) return fail("E_ATTEST_QUOTE_MALFORMED", `bad extraData at byte ${at}`, at);
  const clock = r.u64();
  const resetCount = r.u32();
  const restartCount = r.u32();
  const safe = r.u8();
  const firmwareVersion = r.u64();
  if (clock === undefined || resetCount === undefined || restartCount === undefined || safe === undefined || firmwareVersion === undefined) {
    return fail("E_ATTEST_QUOTE_MALFORMED", `truncated clockInfo/firmwareVersion at byte ${r.off}`, r.off);
  }
  const sel = readSelection(r);
  if (typeof sel === "string") return fail("E_ATTEST_QUOTE_MALFORMED", sel, r.off);
  const dAt = r.off;
  const pcrDigest = r.tpm2b(64);
  if (!pcrDigest) return fail("E_ATTEST_QUOTE_MALFORMED", `bad pcrDigest at byte ${dAt}`, dAt);
  if (r.off !== buf.length) return fail("E_ATTEST_QUOTE_MALFORMED", `${buf.length - r.off} trailing bytes after TPMS_QUOTE_INFO at byte ${r.off}`, r.off);
  return ok({ magic, type, qualifiedSigner, extraData, clockInfo: { clock, resetCount, restartCount, safe: safe === 1 }, firmwareVersion, pcrSelect: sel, pcrDigest });
}

export function encodeTpmSignature(sig: TpmSignature): Uint8Array {
  return new Writer().u16(sig.sigAlg).u16(sig.hash).tpm2b(sig.r).tpm2b(sig.s).done();
}

export function decodeTpmSignature(buf: Uint8Array): Result<TpmSignature, "E_ATTEST_MALFORMED"> {
  const r = new Reader(buf);
  const sigAlg = r.u16();
  const hash = r.u16();
  if (sigAlg === undefined || hash === undefined) return fail("E_ATTEST_MALFORMED", "truncated TPMT_SIGNATURE", 0);
  if (sigAlg !== TPM_ALG.ECDSA && sigAlg !== TPM_ALG.SM2) return fail("E_ATTEST_MALFORMED", `signature algorithm 0x${sigAlg.toString(16)} is not ECDSA or SM2`, 0);
  const rr = r.tpm2b(66);
  const ss = r.tpm2b(66);
  if (!rr || !ss) return fail("E_ATTEST_MALFORMED", "truncated or oversize r/s in TPMT_SIGNATURE", 4);
  if (r.off !== buf.length) return fail("E_ATTEST_MALFORMED", `${buf.length - r.off} trailing bytes after TPMT_SIGNATURE`, r.off);
  return ok({ sigAlg, hash, r: rr, s: ss });
}

/** Left-pad r and s to 32 bytes and concatenate (raw r‖s). */
export function rawRs(sig: TpmSignature): Uint8Array | undefined {
  if (sig.r.length > 32 || sig.s.length > 32) return undefined;
  const out = new Uint8Array(64);
  out.set(sig.r, 32 - sig.r.length);
  out.set(sig.s, 64 - sig.s.length);
  return out;
}

export interface EccPublic {
  curve: number;
  scheme: number;
  schemeHash: number;
  nameAlg: number;
  /** 65-byte uncompressed point 04‖x‖y. */
  point: Uint8Array;
}

/**
 * TPM2B_PUBLIC of an ECC signing key (as written by `tpm2_createak -f tss` / `tpm2_readpublic -f tss`):
 * size ‖ type(0x0023) ‖ nameAlg ‖ objectAttributes ‖ TPM2B authPolicy ‖ symmetric ‖ scheme [‖ schemeHash]
 * ‖ curveID ‖ kdf [‖ kdfHash] ‖ TPM2B x ‖ TPM2B y.
 */
export function decodeEccPublic(buf: Uint8Array): Result<EccPublic, "E_ATTEST_TPM"> {
  const r = new Reader(buf);
  const size = r.u16();
  if (size === undefined || size + 2 !== buf.length) return fail("E_ATTEST_TPM", "TPM2B_PUBLIC size does not match", r.off);
  const type = r.u16();
  const nameAlg = r.u16();
  const attrs = r.u32();
  if (type !== TPM_ALG.ECC || nameAlg === undefined || attrs === undefined) return fail("E_ATTEST_TPM", "not an ECC TPMT_PUBLIC", r.off);
  if (!r.tpm2b(64)) return fail("E_ATTEST_TPM", "bad authPolicy", r.off);
  const sym = r.u16();
  if (sym === undefined) return fail("E_ATTEST_TPM", "truncated symmetric", r.off);
  if (sym !== TPM_ALG.NULL) {
    if (r.u16() === undefined || r.u16() === undefined) return fail("E_ATTEST_TPM", "truncated symmetric", r.off);
  }
  const scheme = r.u16();
  if (scheme === undefined) return fail("E_ATTEST_TPM", "truncated scheme", r.off);
  const schemeHash = scheme === TPM_ALG.NULL ? TPM_ALG.NULL : r.u16();
  const curve = r.u16();
  const kdf = r.u16();
  if (schemeHash === undefined || curve === undefined || kdf === undefined) return fail("E_ATTEST_TPM", "truncated ECC parameters", r.off);
  if (kdf !== TPM_ALG.NULL && r.u16() === undefined) return fail("E_ATTEST_TPM", "truncated kdf", r.off);
  const x = r.tpm2b(66);
  const y = r.tpm2b(66);
  if (!x || !y || x.length > 32 || y.length > 32) return fail("E_ATTEST_TPM", "bad ECC point", r.off);
  const point = new Uint8Array(65);
  point[0] = 4;
  point.set(x, 33 - x.length);
  point.set(y, 65 - y.length);
  return ok({ curve, scheme, schemeHash, nameAlg, point });
}

/**
 * TPM2_GetCapability(TPM_CAP_PCR_PROPERTIES) (Part 3 §30.2, Part 2 §6.14 TPM_PT_PCR, §10.9.7
 * TPMS_TAGGED_PCR_SELECT): which PCRs each locality may reset. Sent raw (tpm2_send): tpm2_getcap
 * 5.x has no pcr-properties. Request: TPM_ST_NO_SESSIONS ‖ size ‖ TPM_CC_GetCapability ‖
 * capability ‖ property ‖ propertyCount. Response: tag ‖ size ‖ responseCode ‖ moreData ‖
 * capability ‖ TPML_TAGGED_PCR_PROPERTY { count; count × { tag; sizeofSelect; pcrSelect[] } }.
 */
export const TPM_CAP_PCR_PROPERTIES = 0x00000007;
export const TPM_PT_PCR = { RESET_L0: 0x02, RESET_L1: 0x04, RESET_L2: 0x06, RESET_L3: 0x08, RESET_L4: 0x0a } as const;
const TPM_CC_GET_CAPABILITY = 0x0000017a;
const TPM_ST_NO_SESSIONS = 0x8001;

export function encodeGetPcrPropertiesCommand(first = 0, count = 32): Uint8Array {
  return new Writer().u16(TPM_ST_NO_SESSIONS).u32(22).u32(TPM_CC_GET_CAPABILITY).u32(TPM_CAP_PCR_PROPERTIES).u32(first).u32(count).done();
}

/** The PCR properties by TPM_PT_PCR tag → PCR indices. Total over hostile bytes. */
export function decodePcrPropertiesResponse(buf: Uint8Array): Result<Map<number, number[]>, "E_ATTEST_TPM"> {
  const r = new Reader(buf);
  const tag = r.u16();
  const size = r.u32();
  const rc = r.u32();
  if (tag === undefined || size === undefined || rc === undefined) return fail("E_ATTEST_TPM", "truncated TPM response header", 0);
  if (size !== buf.length) return fail("E_ATTEST_TPM", `TPM response size ${size} but ${buf.length} bytes`, 2);
  if (rc !== 0) return fail("E_ATTEST_TPM", `TPM2_GetCapability(PCR_PROPERTIES) answered 0x${rc.toString(16)}`, 6);
  const more = r.u8();
  const cap = r.u32();
  const count = r.u32();
  if (more === undefined || cap === undefined || count === undefined) return fail("E_ATTEST_TPM", "truncated TPMS_CAPABILITY_DATA", r.off);
  if (cap !== TPM_CAP_PCR_PROPERTIES) return fail("E_ATTEST_TPM", `capability 0x${cap.toString(16)} is not TPM_CAP_PCR_PROPERTIES`, 11);
  if (count > 64) return fail("E_ATTEST_TPM", `${count} PCR properties is more than TPM_PT_PCR defines`, 15);
  const out = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const at = r.off;
    const t = r.u32();
    const n = r.u8();
    if (t === undefined || n === undefined || n > 8) return fail("E_ATTEST_TPM", `bad TPMS_TAGGED_PCR_SELECT at byte ${at}`, at);
    const bitmap = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      const b = r.u8();
      if (b === undefined) return fail("E_ATTEST_TPM", `truncated pcrSelect at byte ${r.off}`, r.off);
      bitmap[j] = b;
    }
    out.set(t, decodePcrBitmap(bitmap));
  }
  if (r.off !== buf.length) return fail("E_ATTEST_TPM", `${buf.length - r.off} trailing bytes after TPML_TAGGED_PCR_PROPERTY`, r.off);
  return ok(out);
}

/** PCRs any locality 0-4 may reset, from decoded PCR properties. */
export function resettablePcrsOf(props: ReadonlyMap<number, readonly number[]>): number[] {
  const s = new Set<number>();
  for (const t of Object.values(TPM_PT_PCR)) for (const i of props.get(t) ?? []) s.add(i);
  return [...s].sort((a, b) => a - b);
}
