/**
 * Block1/Block2 option values (RFC 7959 §2.2):
 *
 *      0 1 2 3 4 5 6 7              (and 12- / 20-bit NUM forms in 2 and 3 bytes)
 *     +-+-+-+-+-+-+-+-+
 *     |  NUM  |M| SZX |             block size = 2 ** (SZX + 4), SZX 7 reserved
 *     +-+-+-+-+-+-+-+-+
 *
 * NUM is the block number, M says "more blocks follow". A 0-byte value means NUM=0, M=0, SZX=0.
 */
import { RidgeError, fail, ok, type Result } from "../core/index.js";

export interface BlockOption {
  num: number;
  more: boolean;
  /** 16, 32, ... 1024 */
  size: number;
}

export function blockSizeToSzx(size: number): number {
  const szx = Math.log2(size) - 4;
  if (!Number.isInteger(szx) || szx < 0 || szx > 6) throw new RidgeError("E_COAP_BLOCK_SIZE", `block size ${size} is not 16..1024 in powers of two`);
  return szx;
}

export function encodeBlockOption(b: BlockOption): Uint8Array {
  const szx = blockSizeToSzx(b.size);
  if (!Number.isInteger(b.num) || b.num < 0 || b.num > 0xfffff) throw new RidgeError("E_COAP_BLOCK_NUM", `block number ${b.num} out of 0..2^20-1`);
  const v = (b.num << 4) | (b.more ? 8 : 0) | szx;
  if (v === 0) return new Uint8Array(0);
  if (v <= 0xff) return Uint8Array.of(v);
  if (v <= 0xffff) return Uint8Array.of(v >> 8, v & 0xff);
  return Uint8Array.of(v >> 16, (v >> 8) & 0xff, v & 0xff);
}

export function decodeBlockOption(value: Uint8Array): Result<BlockOption, "E_COAP_BLOCK_OPTION"> {
  if (value.length > 3) return fail("E_COAP_BLOCK_OPTION", `block option of ${value.length} bytes > 3`, 0);
  let v = 0;
  for (const x of value) v = (v << 8) | x;
  const szx = v & 7;
  if (szx === 7) return fail("E_COAP_BLOCK_OPTION", "SZX 7 is reserved", value.length - 1);
  return ok({ num: v >> 4, more: (v & 8) !== 0, size: 1 << (szx + 4) });
}

/** The slice of `body` that block `num` of `size` bytes carries, and whether more follow. */
export function blockSlice(body: Uint8Array, num: number, size: number): { chunk: Uint8Array; more: boolean } | undefined {
  const start = num * size;
  if (start > body.length || (start === body.length && body.length > 0)) return undefined;
  const end = Math.min(body.length, start + size);
  return { chunk: body.subarray(start, end), more: end < body.length };
}
