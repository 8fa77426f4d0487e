/** The TPM 2.0 backend (tpm2-tools). */
export { openTpmBackend, AK_HANDLE } from "./tpm-backend.js";
export type { TpmBackend, TpmBackendOptions } from "./tpm-backend.js";
export { tpm2Tools } from "./tpm2-tools.js";
export type { TpmToolRunner } from "./tpm2-tools.js";
