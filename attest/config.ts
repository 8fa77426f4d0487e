/**
 * The gateway's `attest:` config section.
 *
 *   attest:
 *     signer: sm2            # sm2 (SM2 with SM3, GM mode) | p256 (ECDSA P-256 with SHA-256)
 *     id: "1234567812345678" # SM2 signer ID (GM/T 0009 default)
 *     tpm: auto              # auto: use the board's TPM when it has one | off | required
 *     tcti: "device:/dev/tpmrm0"   # optional: override the TPM connection (tests: swtpm:host=…,port=…)
 *     tpmPcr: 14             # the TPM PCR Ridgeline extends its runtime measurements into (0-15)
 *     pcrs: { runtime: 11, config: 12, model: 13, driver: 14 }   # software PCR allocation (0-15)
 *
 * PCR choice: only PCRs a process cannot reset without a reboot. 16 and 23 are resettable at
 * locality 0 (anyone with /dev/tpmrm0 can reset and re-extend them, then quote a forged state);
 * 17-22 by D-RTM. Those are refused here (RESETTABLE_PCRS); the default 14 is explained beside
 * DEFAULT_TPM_PCR (attest/pcr-bank.ts).
 */
import { z } from "zod";
import { DEFAULT_TPM_PCR, RESETTABLE_PCRS } from "./pcr-bank.js";

const pcrIndex = z
  .number()
  .int()
  .min(0, "a measurement PCR is one of 0-15 (8-15 are the OS's; 16-23 can be reset without a reboot)")
  .max(23, "a measurement PCR is one of 0-15 (8-15 are the OS's; 16-23 can be reset without a reboot)")
  .refine((i) => !RESETTABLE_PCRS.includes(i), (i) => ({
    message: `PCR ${i} can be reset without a reboot (TCG PC Client: 16 and 23 at locality 0, 17-22 by D-RTM), so quotes over it prove nothing; use one of 0-15 (8-15 are the OS's)`,
  }));

export const attestConfig = z
  .object({
    signer: z.enum(["sm2", "p256"]).default("sm2"),
    id: z.string().min(0).max(8191).default("1234567812345678"),
    tpm: z.enum(["auto", "off", "required"]).default("auto"),
    tcti: z.string().min(1).optional(),
    tpmPcr: pcrIndex.default(DEFAULT_TPM_PCR),
    pcrs: z
      .object({
        runtime: pcrIndex.default(11),
        config: pcrIndex.default(12),
        model: pcrIndex.default(13),
        driver: pcrIndex.default(14),
      })
      .strict()
      .default({}),
  })
  .strict();

export type AttestConfig = z.output<typeof attestConfig>;
