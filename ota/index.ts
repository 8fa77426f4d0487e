/**
 * OTA: signed TUF metadata (publisher and client), the bundle format and its safe extraction,
 * the update state machine and its owner, A/B slots with BootControl adapters, and the launcher.
 */
export { ALG_NAMES, decodeKey, fromKeyFile, generateSigningKey, keyId, publicKeyFromFile, signSigned, signingKeyFrom, toKeyFile, verifyWith, type KeyFile, type SigAlg, type SigningKey, type TufKey, type TufSignature } from "./tuf-keys.js";
export { parseMetadata, countValidSignatures, meetsThreshold, isExpired, formatExpires, artifactKinds, SPEC_VERSION, type ArtifactKind, type RoleName, type RootSigned, type TargetsSigned, type SnapshotSigned, type TimestampSigned, type TargetFile, type TargetCustom, type Envelope } from "./tuf-metadata.js";
export { TufClient, MemoryMetadataStore, targetPath, DEFAULT_LIMITS, type ClientLimits, type MetadataStore, type RefreshResult, type RepoFetcher, type TrustedMetadata } from "./tuf-client.js";
export { TufRepository, DEFAULT_EXPIRY, hashFile, type InitOptions, type PublishReport, type RoleKeySpec } from "./tuf-repository.js";
export { DirectoryFetcher, HttpFetcher, fetcherFor, DEFAULT_RETRIEVAL_LIMITS, type RetrievalLimits, type FetcherOptions } from "./repo-fetchers.js";
export { selectUpdate, requireTarget, fits, type DeviceIdentity, type ChosenTarget } from "./target-selection.js";
export { TargetHasher } from "./target-hasher.js";
export { compareVersions, isVersion } from "./version-order.js";
export { BundleExtractor, safeRelative, MAX_LINK_HOPS } from "./bundle-extractor.js";
export { writeBundle, type BundleInput, type BundleFileSource } from "./bundle-writer.js";
export { bundleManifest, MANIFEST_NAME, BUNDLE_FORMAT, RESERVED_SLOT_NAMES, slotPathProblem, linkTargetProblem, manifestPathProblem, type BundleManifest, type ManifestPathFailure } from "./bundle-manifest.js";
export { TarReader, encodeHeader } from "./tar-codec.js";
export { step, resume, busy, otherSlot, onTrial, holdsBootOrder, type UpdateState, type UpdateInput, type UpdateEffect, type Slot, type PlannedTarget, type Trigger } from "./update-machine.js";
export { bootLogic, type BootControl, type BootState } from "./boot-control.js";
export { FileBootControl } from "./file-boot-control.js";
export { UbootEnvBootControl } from "./uboot-env-boot-control.js";
export { NvBootCtrlBootControl } from "./nvbootctrl-boot-control.js";
export { bootControlFor, slotDir, bootedSlotFromEnv, bootToolMissing, type BootAdapter, type SlotBoard } from "./boot-control-for-board.js";
export { UpdateStore, readUpdateState } from "./update-store.js";
export { UpdateAgent, confirmSlot, type UpdateAgentOptions, type AgentStatus, type HealthResult, type UpdateProgress } from "./update-agent.js";
export { downloadTarget, discardPartial, type DownloadProgress } from "./target-download.js";
export { readMarker, readSlotManifest, writeMarker, MARKER, type SlotMarker, type SlotManifest } from "./slot-marker.js";
export { runLauncher, chooseLaunch, pinLaunch, runningLink, type LauncherOptions } from "./launcher.js";
export { otaConfig, retrievalLimits, DEFAULT_HEALTH_UP_FOR_MS, type OtaConfig } from "./config.js";
