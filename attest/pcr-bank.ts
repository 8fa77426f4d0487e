/**
 * PCR-like registers with TPM extend semantics, one bank per hash: PCR_new = H(PCR_old ‖ digest)
 * (TCG TPM 2.0 Part 1 §17.3). Initial values as a TPM has them after TPM2_Startup(CLEAR):
 * PCR 0–16 and 23 all zero, 17–22 all 0xFF (D-RTM locality PCRs; read from swtpm).
 */
import { digest, digestOf, digestSize } from "./crypto/hash.js";
import type { HashAlg } from "./crypto/hash.js";

export const PCR_COUNT = 24;

/**
 * PCRs that can be reset without a reboot (TCG PC Client Platform TPM Profile, PCR attributes):
 * 16 (debug) and 23 (application) by any process at locality 0 with TPM2_PCR_Reset; 17-22 by a
 * D-RTM launch (locality 4) and, for 20-22, from locality 2. A value in any of them proves nothing
 * about what ran since boot, so Ridgeline never measures into them and the verifier refuses quotes
 * over them by default. PCRs 0-15 are reset only by TPM2_Startup(CLEAR), i.e. a reboot.
 */
export const RESETTABLE_PCRS: readonly number[] = [16, 17, 18, 19, 20, 21, 22, 23];

/**
 * The TPM PCR Ridgeline's runtime measurements go into by default: 14. PC Client gives 8-15 to the
 * OS, not resettable from any locality (TPM_PT_PCR_RESET_L0..L4 leave them out; swtpm reports the
 * same). Of those, 8/9 are GRUB's, 10 IMA's, 11-13 and 15 systemd's (UKI, cmdline, sysext,
 * machine-id); 14 is shim's MokList on x86 UEFI Secure Boot only, which our ARM64/RISC-V boards do
 * not boot through. Where something else does extend it, the backend refuses to start
 * (E_ATTEST_TPM_PCR_IN_USE) rather than share it: pick another of 8-15.
 */
export const DEFAULT_TPM_PCR = 14;

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
