/** The TPM 2.0 backend (tpm2-tools). */
export { openTpmBackend, AK_HANDLE } from "./tpm-backend.js";
export type { TpmBackend, TpmBackendOptions } from "./tpm-backend.js";
export { tpm2Tools } from "./tpm2-tools.js";
export type { TpmToolRunner } from "./tpm2-tools.js";
export { DEFAULT_TPM_PCR, RESETTABLE_PCRS } from "../pcr-bank.js";
export { TPM_BOOT_COMPONENT, bootMarker, eventsByPcr, parseBootMarker } from "../measurement-log.js";
