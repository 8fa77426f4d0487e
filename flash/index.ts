/**
 * flash: lays a complete Ridgeline device root (runtime slot for the board's CPU, boot
 * launcher, config, data directory with identity and attestation keys, OTA trust anchor, first
 * measurement log, systemd unit) into a folder: `ridge flash`.
 */
import { applyFlashPlan, type FlashStep } from "./flash-writer.js";
import { planFlash, type FlashOptions, type FlashPlan } from "./flash-plan.js";

export { planFlash, readProvisioned, type FlashOptions, type FlashPlan, type PlanEntry, type ProvisionedMarker } from "./flash-plan.js";
export { applyFlashPlan, formatStep, type FlashStep, type FlashAction } from "./flash-writer.js";
export { deviceLayout, inRoot, UNIT_NAME, SERVICE_USER, type DeviceLayout } from "./device-layout.js";
export { renderServiceUnit, renderWatchdogDropIn, renderSysusers, renderTmpfiles, renderTpmUdevRule, serviceRunsAsRoot, deviceGroups, DEFAULT_WATCHDOG_SEC } from "./systemd-unit.js";
export { renderBootLauncher, renderRidgeCommand } from "./boot-launcher.js";
export { parseSecretOptions, secretsEnv, referencedSecrets, type DeviceSecret } from "./device-secrets.js";
export { readElfHeader, elfMatchesArch, machineName, ELF_MACHINE, type ElfHeader, type ElfResult, type ElfArch } from "./elf-header.js";
export { buildCsr, encodeRequestInfo, OIDS as CSR_OIDS, type CsrSubject } from "./pkcs10-request.js";
export { makeGatewayIdentity, type GatewayIdentity } from "./gateway-identity.js";
export {
  buildRuntimeSlot,
  checkPackageFiles,
  crossAddonDir,
  defaultWithNode,
  nodeDistDir,
  referencedExternals,
  slotBytes,
  EXTERNAL_PACKAGES,
  SHIPPED_EXTERNALS,
  type NativeAddon,
  type RuntimeSlot,
  type RuntimeSlotOptions,
  type SlotFile,
  type SlotNode,
  type SlotPackage,
} from "./runtime-slot.js";
export { buildSlotManifest, SLOT_MANIFEST_NAME, type SlotManifest } from "./slot-manifest.js";
export { firstMeasurements, measurementLogFile, type MeasureInput, type MeasurementLogFile } from "./measurement-log.js";
export { composeConfigFile, type ConfigValidator, type ValidatedConfig } from "./gateway-config-file.js";

/** Plan, then apply (or only list with dryRun). */
export function flashDevice(opts: FlashOptions & { dryRun?: boolean }): { plan: FlashPlan; steps: FlashStep[] } {
  const plan = planFlash(opts);
  if (!opts.dryRun) opts.onProgress?.(`writing into ${opts.root}`);
  return { plan, steps: applyFlashPlan(plan, { dryRun: opts.dryRun ?? false }) };
}
