/**
 * PCR-like registers with TPM extend semantics, one bank per hash: PCR_new = H(PCR_old ‖ digest)
 * (TCG TPM 2.0 Part 1 §17.3). Initial values as a TPM has them after TPM2_Startup(CLEAR):
 * PCR 0–16 and 23 all zero, 17–22 all 0xFF (D-RTM locality PCRs; read from swtpm).
 */
import { digest, digestOf, digestSize } from "./crypto/hash.js";
import type { HashAlg } from "./crypto/hash.js";

export const PCR_COUNT = 24;

export function initialPcr(hash: HashAlg, index: number): Uint8Array {
  return new Uint8Array(digestSize(hash)).fill(index >= 17 && index <= 22 ? 0xff : 0);
}

export function extend(hash: HashAlg, old: Uint8Array, d: Uint8Array): Uint8Array {
  return digestOf(hash, old, d);
}

export class PcrBank {
  private readonly values: Uint8Array[];
  constructor(readonly hash: HashAlg) {
    this.values = Array.from({ length: PCR_COUNT }, (_, i) => initialPcr(hash, i));
  }
  read(index: number): Uint8Array {
    const v = this.values[index];
    if (!v) throw new RangeError(`PCR ${index} out of range 0..${PCR_COUNT - 1}`);
    return Uint8Array.from(v);
  }
  extend(index: number, d: Uint8Array): Uint8Array {
    const old = this.read(index);
    if (d.length !== old.length) throw new RangeError(`${this.hash} digest must be ${old.length} bytes, got ${d.length}`);
    const next = extend(this.hash, old, d);
    this.values[index] = next;
    return Uint8Array.from(next);
  }
}

/** The quote's pcrDigest: H_scheme(PCR[i] ‖ PCR[j] ‖ …) in selection order (TPM 2.0 Part 3 TPM2_Quote). */
export function pcrCompositeDigest(schemeHash: HashAlg, valuesInOrder: readonly Uint8Array[]): Uint8Array {
  const total = valuesInOrder.reduce((n, v) => n + v.length, 0);
  const buf = new Uint8Array(total);
  let o = 0;
  for (const v of valuesInOrder) {
    buf.set(v, o);
    o += v.length;
  }
  return digest(schemeHash, buf);
}
