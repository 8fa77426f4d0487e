/**
 * The gateway's `attest:` config section.
 *
 *   attest:
 *     signer: sm2            # sm2 (SM2 with SM3, GM mode) | p256 (ECDSA P-256 with SHA-256)
 *     id: "1234567812345678" # SM2 signer ID (GM/T 0009 default)
 *     tpm: auto              # auto: use the board's TPM when it has one | off | required
 *     tcti: "device:/dev/tpmrm0"   # optional: override the TPM connection (tests: swtpm:host=…,port=…)
 *     tpmPcr: 14             # the TPM PCR Ridgeline extends its runtime measurements into
 *     pcrs: { runtime: 11, config: 12, model: 13, driver: 14 }   # software PCR allocation
 */
import { z } from "zod";

export const attestConfig = z
  .object({
    signer: z.enum(["sm2", "p256"]).default("sm2"),
    id: z.string().min(0).max(8191).default("1234567812345678"),
    tpm: z.enum(["auto", "off", "required"]).default("auto"),
    tcti: z.string().min(1).optional(),
    tpmPcr: z.number().int().min(0).max(23).default(14),
    pcrs: z
      .object({
        runtime: z.number().int().min(0).max(23).default(11),
        config: z.number().int().min(0).max(23).default(12),
        model: z.number().int().min(0).max(23).default(13),
        driver: z.number().int().min(0).max(23).default(14),
      })
      .strict()
      .default({}),
  })
  .strict();

export type AttestConfig = z.output<typeof attestConfig>;
