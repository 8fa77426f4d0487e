/**
 * SM4 block cipher (GB/T 32907-2016) through Node's OpenSSL. Node 20 with OpenSSL 3.0 has
 * ECB/CBC/CTR/CFB/OFB but no SM4-GCM/CCM, so authenticated uses must add their own MAC.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

export type Sm4Mode = "ecb" | "cbc" | "ctr";

function run(decrypt: boolean, mode: Sm4Mode, key: Uint8Array, iv: Uint8Array | undefined, data: Uint8Array, pad: boolean): Uint8Array {
  if (key.length !== 16) throw new RangeError("SM4 key must be 16 bytes");
  const ivArg = mode === "ecb" ? null : (iv ?? new Uint8Array(16));
  const c = decrypt ? createDecipheriv(`sm4-${mode}`, key, ivArg) : createCipheriv(`sm4-${mode}`, key, ivArg);
  c.setAutoPadding(pad && mode !== "ctr");
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

export function sm4Encrypt(mode: Sm4Mode, key: Uint8Array, data: Uint8Array, opts: { iv?: Uint8Array; padding?: boolean } = {}): Uint8Array {
  return run(false, mode, key, opts.iv, data, opts.padding ?? false);
}

export function sm4Decrypt(mode: Sm4Mode, key: Uint8Array, data: Uint8Array, opts: { iv?: Uint8Array; padding?: boolean } = {}): Uint8Array {
  return run(true, mode, key, opts.iv, data, opts.padding ?? false);
}
