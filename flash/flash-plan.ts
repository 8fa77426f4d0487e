/**
 * Everything `ridge flash` lays into a device root, decided before a byte is written: the config
 * is validated, the slot assembled and its native code checked against the board's CPU, the keys
 * made. The plan is a list of entries the writer applies in order (the provisioned marker last).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { posix } from "node:path";
import { attestConfig, type QuoteAlg } from "../attest/index.js";
import { RidgeError } from "../core/index.js";
import { MARKER, readMarker, type SlotMarker } from "../ota/index.js";
import type { Board } from "../boards/index.js";
import { renderBootLauncher, renderRidgeCommand } from "./boot-launcher.js";
import { referencedSecrets, type DeviceSecret } from "./device-secrets.js";
import { deviceLayout, inRoot, SERVICE_USER, type DeviceLayout } from "./device-layout.js";
import { composeValidatedConfig, gatewayIdIn, type ConfigValidator } from "./gateway-config-file.js";
import { makeGatewayIdentity } from "./gateway-identity.js";
import { firstMeasurements, measurementLogFile } from "./measurement-log.js";
import { buildRuntimeSlot, defaultWithNode, slotBytes, type RuntimeSlot } from "./runtime-slot.js";
import { checkRootGlibc } from "./root-glibc.js";
import { buildSlotManifest, SLOT_MANIFEST_NAME } from "./slot-manifest.js";
import { renderServiceUnit, renderSysusers, renderTmpfiles, renderTpmUdevRule, renderWatchdogDropIn, serviceRunsAsRoot } from "./systemd-unit.js";

export type PlanEntry =
  | { kind: "dir"; path: string; mode: number; what: string }
  | { kind: "file"; path: string; mode: number; bytes: Uint8Array; what: string; /** never replaced once there (keys) */ keep?: boolean }
  | { kind: "symlink"; path: string; target: string; what: string }
  | { kind: "slot"; path: string; slot: RuntimeSlot; manifestBytes: Uint8Array; what: string }
  | { kind: "empty-dir"; path: string; mode: number; what: string }
  /** The service user from the sysusers.d file at `path`, made in the root's /etc/passwd now when the root has one (systemd-sysusers --root). */
  | { kind: "users"; path: string; user: string; what: string }
  /** The software attestation key, made (or kept) in `path` by attest's loadOrCreateSoftwareKey: the file runtime/attestation loads. */
  | { kind: "attest-key"; path: string; alg: QuoteAlg; what: string };

export interface FlashOptions {
  /** One line as each slow phase starts (`ridge flash` prints them on stderr: a flash takes a while). */
  onProgress?: (line: string) => void;
  /** The folder that becomes the device's `/`. */
  root: string;
  board: Board;
  /** Holds dist/ridge.mjs, boards/, package.json, node_modules/ (see runtime-slot.ts). */
  projectRoot: string;
  validate: ConfigValidator;
  gatewayId?: string | undefined;
  configText?: string | undefined;
  configLabel?: string | undefined;
  cloudUrl?: string | undefined;
  otaRootText?: string | undefined;
  otaRootLabel?: string | undefined;
  /** Default: on for real boards that have an official Node build, off for the sim board. */
  withNode?: boolean | undefined;
  force?: boolean;
  cacheDir?: string | undefined;
  hostArch?: string | undefined;
  /** A fresh gateway id when none is given (default gw-<8 hex>). */
  newGatewayId?: () => string;
  /** `${NAME}` values for the device: one credential file each (mode 0600) under /etc/ridgeline/credentials. */
  secrets?: readonly DeviceSecret[] | undefined;
}

export interface FlashPlan {
  root: string;
  layout: DeviceLayout;
  gatewayId: string;
  entries: PlanEntry[];
  slot: RuntimeSlot;
  slotBytes: number;
  /** Things the operator must know (no OTA anchor, addons to rebuild on the device ...). */
  notes: string[];
  provisioned: boolean;
}

const enc = (s: string) => new TextEncoder().encode(s);

export interface ProvisionedMarker {
  board: string;
  arch: string;
  gatewayId: string;
  version: string;
  node: string | null;
}

export function readProvisioned(root: string, layout: DeviceLayout): ProvisionedMarker | undefined {
  const p = inRoot(root, layout.provisionedMarker);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, "utf8")) as ProvisionedMarker;
  } catch {
    return { board: "?", arch: "?", gatewayId: "?", version: "?", node: null };
  }
}

/** TUF root metadata, checked for shape only: the OTA client verifies its signatures on every update. */
function checkOtaRoot(text: string, label: string): void {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new RidgeError("E_FLASH_OTA_ROOT", `${label} is not JSON (${(e as Error).message})`);
  }
  const signed = (j as { signed?: { _type?: unknown; keys?: unknown; roles?: unknown } } | null)?.signed;
  const sigs = (j as { signatures?: unknown } | null)?.signatures;
  if (!signed || signed._type !== "root" || typeof signed.keys !== "object" || typeof signed.roles !== "object" || !Array.isArray(sigs))
    throw new RidgeError("E_FLASH_OTA_ROOT", `${label} is not TUF root metadata ({"signed": {"_type": "root", "keys", "roles"}, "signatures": [...]})`);
}

function readIfThere(p: string): string | undefined {
  try {
    return statSync(p).isFile() ? readFileSync(p, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

export function planFlash(o: FlashOptions): FlashPlan {
  const { root, board } = o;
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new RidgeError("E_FLASH_ROOT", `--root ${root} is not a directory (mount the card or make the folder first)`);
  const layout = deviceLayout(board);
  const marker = readProvisioned(root, layout);
  if (marker && !o.force)
    throw new RidgeError(
      "E_FLASH_PROVISIONED",
      `${root} is already a provisioned device (gateway ${marker.gatewayId}, board ${marker.board}, ridgeline ${marker.version}): pass --force to re-flash it (keys, data, credentials and the config unless --config is given are kept; e.g. --force --secret NAME=VALUE adds one secret)`,
    );
  const notes: string[] = [];
  // Re-flashing without --config starts from the config the earlier flash laid down (its drivers,
  // devices, attest section ...), never from the board defaults alone.
  let configText = o.configText;
  let configLabel = o.configLabel;
  let configKept = false;
  if (configText === undefined && marker) {
    const there = readIfThere(inRoot(root, layout.configFile));
    if (there !== undefined) {
      configText = there;
      configLabel = inRoot(root, layout.configFile);
      configKept = true;
      notes.push(`config kept from the earlier flash (${layout.configFile}, gateway ${gatewayIdIn(there) ?? "?"}): --config FILE replaces it`);
    }
  }
  const gatewayId = o.gatewayId ?? gatewayIdIn(configText) ?? (marker && marker.gatewayId !== "?" ? marker.gatewayId : undefined) ?? (o.newGatewayId ?? (() => `gw-${randomBytes(4).toString("hex")}`))();

  // 1. The config, validated as `ridge run` will read it.
  // Issues are reported in the operator's file (--config, or the kept one in the root), at its lines.
  o.onProgress?.("validating the gateway config");
  const { text: configYaml, validated } = composeValidatedConfig(
    { boardName: board.name, boardDataDir: board.dataDir, layout, userText: configText, userLabel: configLabel, gatewayId, cloudUrl: o.cloudUrl },
    gatewayId,
    o.validate,
    configLabel ?? layout.configFile,
  );

  // 2. The runtime slot for the board's CPU.
  const withNode = o.withNode ?? defaultWithNode(board);
  o.onProgress?.(`assembling runtime slot a for ${board.arch} (bundle, native addons${withNode ? ", Node.js" : ""}) and checking its ELF files`);
  const slot = buildRuntimeSlot({ projectRoot: o.projectRoot, board, withNode, cacheDir: o.cacheDir, hostArch: o.hostArch });
  if (slot.node?.glibc) checkRootGlibc(root, board, slot.node.glibc, `node ${slot.node.version} (${slot.node.source})`);
  if (slot.node?.glibc) notes.push(`node ${slot.node.version} (${slot.node.source}) uses the board's own glibc: it needs glibc ${slot.node.glibc} or newer (boards/README.md)`);
  const { bytes: manifestBytes } = buildSlotManifest(slot, board);

  // 3. Keys: the gateway identity (reused when present) and the attestation key (or the TPM's).
  const existingKey = readIfThere(inRoot(root, layout.identityKey));
  o.onProgress?.("making the gateway identity, its certificate request and the attestation key");
  const identity = makeGatewayIdentity({ commonName: gatewayId, organization: "Ridgeline", organizationalUnit: board.name }, existingKey);
  const entries: PlanEntry[] = [];
  const dir = (path: string, mode: number, what: string) => entries.push({ kind: "dir", path, mode, what });
  const file = (path: string, mode: number, content: string | Uint8Array, what: string, keep = false) =>
    entries.push({ kind: "file", path, mode, bytes: typeof content === "string" ? enc(content) : content, what, keep });

  dir(layout.home, 0o755, "install home");
  dir(posix.dirname(layout.launcher), 0o755, "launcher folder");
  file(layout.launcher, 0o755, renderBootLauncher(layout), "boot launcher (runs `ridge boot`: the A/B launcher)");
  dir(posix.dirname(layout.ridgeCommand), 0o755, "local commands");
  file(layout.ridgeCommand, 0o755, renderRidgeCommand(layout), "the `ridge` command (the active slot's CLI with this device's defaults)");
  dir(posix.dirname(layout.slotA), 0o755, "runtime slots");
  entries.push({ kind: "slot", path: layout.slotA, slot, manifestBytes, what: `slot a: ridgeline ${slot.version} for ${board.arch}${slot.node ? ` with node ${slot.node.version}` : ""}` });
  // The verified-slot marker (ota/slot-marker.ts shape) the launcher requires, written after the slot:
  // a slot a cut short while an update rewrites it is never started.
  const manifestSha = createHash("sha256").update(manifestBytes).digest("hex");
  const markerPath = posix.join(layout.slotA, MARKER);
  const oldMarker = readMarker(inRoot(root, layout.slotA));
  const installedAt = oldMarker?.sha256 === manifestSha ? oldMarker.installedAt : new Date().toISOString();
  const slotMarker: SlotMarker = { version: slot.version, target: `flash:${board.name}`, sha256: manifestSha, board: board.name, arch: board.arch, entry: "dist/ridge.mjs", installedAt };
  file(markerPath, 0o644, `${JSON.stringify(slotMarker, null, 1)}`, "slot a marker (verified: the launcher starts it)");
  entries.push({ kind: "empty-dir", path: layout.slotB, mode: 0o755, what: "slot b (empty: the OTA standby)" });

  dir(layout.configDir, 0o750, "config folder");
  file(layout.configFile, 0o640, configYaml, `gateway config (gateway ${gatewayId}, validated${configKept ? "; config kept from the earlier flash" : ""})`);

  // Secrets: one credential file per ${NAME}, root's (the unit's LoadCredential= hands them over).
  const given = new Map((o.secrets ?? []).map((x) => [x.name, x]));
  const wanted = referencedSecrets(configYaml);
  dir(layout.credentialsDir, 0o700, "credentials (secrets for ${NAME} in the config)");
  for (const x of given.values()) file(posix.join(layout.credentialsDir, x.name), 0o600, x.value, `secret ${x.name} (from ${x.from})${wanted.includes(x.name) ? "" : ": the config does not use it"}`);
  const credDir = inRoot(root, layout.credentialsDir);
  const keptSecrets = existsSync(credDir) && statSync(credDir).isDirectory() ? readdirSync(credDir).filter((n) => !given.has(n) && !n.endsWith(".flash-tmp")).sort() : [];
  if (keptSecrets.length) notes.push(`kept credential${keptSecrets.length > 1 ? "s" : ""} (not named again): ${keptSecrets.join(", ")} (${layout.credentialsDir})`);
  const missing = wanted.filter((n) => !given.has(n) && !existsSync(inRoot(root, posix.join(layout.credentialsDir, n))));
  if (missing.length)
    notes.push(
      `secret${missing.length > 1 ? "s" : ""} ${missing.map((n) => `\${${n}}`).join(", ")} not provided: the gateway stops with exit 2 until ${missing.map((n) => posix.join(layout.credentialsDir, n)).join(", ")} exist${missing.length > 1 ? "" : "s"} (--secret NAME=VALUE, --secret-file NAME=FILE, or systemd-creds: docs/flashing.md)`,
    );

  dir(layout.dataDir, 0o700, "data directory");
  dir(posix.dirname(layout.activeSlotFile), 0o700, "boot state");
  file(layout.activeSlotFile, 0o600, "a\n", "active slot");
  file(layout.identityKey, 0o600, identity.privateKeyPem, "gateway identity key (P-256)", true);
  file(layout.identityPub, 0o644, identity.publicKeyPem, "gateway identity public key");
  file(layout.identityCsr, 0o644, identity.csrPem, `certificate request (CN=${gatewayId}) for the cloud's CA: its certificate goes to ${posix.join(layout.dataDir, "id.crt")}`);
  // Only a link that uses a client certificate waits for one (not a plain mqtt:// link, nor no cloud).
  const cert = validated.cloudCert === undefined || validated.cloudCert.includes("${") ? undefined : posix.isAbsolute(validated.cloudCert) ? validated.cloudCert : posix.join(layout.dataDir, validated.cloudCert);
  if (cert !== undefined && !existsSync(inRoot(root, cert)))
    notes.push(`no cloud certificate yet: the gateway runs offline (queue filling) until ${cert} is installed${cert === posix.join(layout.dataDir, "id.crt") ? ` from ${layout.identityCsr}` : ""}`);

  // Attestation as runtime/attestation will run it: the config's attest section, or the schema's
  // defaults (what `attest: {}` would enable), its key in software unless a TPM is used (tctiFor).
  const attest = validated.attest ?? attestConfig.parse({});
  const alg: QuoteAlg = attest.signer === "sm2" ? "sm2-sm3" : "ecdsa-p256-sha256";
  const tpm = attest.tpm !== "off" && (attest.tcti !== undefined || board.tpm !== "none");
  if (!validated.attest) notes.push(`no attest section in the config: attestation stays off until one is added (the key and the first log are made for attest: {}, signer ${attest.signer})`);
  if (attest.tpm === "required" && !tpm) notes.push(`attest.tpm is "required" but board ${board.name} has no TPM: the attestation component will refuse to start`);
  dir(layout.attestDir, 0o700, "attestation");
  if (tpm) {
    const device = attest.tcti ?? (board.tpm === "none" ? "?" : `device:${board.tpm.device}`);
    file(
      posix.join(layout.attestDir, "key-source.json"),
      0o644,
      `${JSON.stringify({ source: "tpm", device, note: "the attestation key is created in and never leaves the TPM (on first start)" }, null, 2)}\n`,
      `attestation key: held by the TPM (${device})`,
    );
  } else {
    entries.push({ kind: "attest-key", path: layout.attestDir, alg, what: `attestation key (${alg}, software${board.tpm === "none" ? ": the board has no TPM" : ": attest.tpm is off"}; its .pub beside it)` });
    file(posix.join(layout.attestDir, "key-source.json"), 0o644, `${JSON.stringify({ source: "software", alg, dir: layout.attestDir }, null, 2)}\n`, "attestation key source");
  }

  dir(posix.dirname(layout.otaRoot), 0o700, "OTA state");
  if (o.otaRootText !== undefined) {
    checkOtaRoot(o.otaRootText, o.otaRootLabel ?? "--ota-root");
    file(layout.otaRoot, 0o644, o.otaRootText, "OTA trust anchor (TUF root.json)");
  } else if (!existsSync(inRoot(root, layout.otaRoot))) notes.push(`no OTA trust anchor (--ota-root): updates stay off until ${layout.otaRoot} is installed`);

  if (!slot.files.some((f) => f.rel === "dist/ridge.mjs")) throw new RidgeError("E_FLASH_SLOT_INCOMPLETE", "the runtime slot has no dist/ridge.mjs to measure");
  const { log, absent } = firstMeasurements({
    board,
    root,
    attest,
    tpm,
    runtime: { slot: "a", manifest: manifestBytes, entry: "dist/ridge.mjs", version: slot.version },
    config: { path: layout.configFile, data: enc(configYaml) },
    drivers: validated.drivers,
  });
  if (absent.length) notes.push(`boot files not in the root, measured on the device instead: ${absent.join(", ")}`);
  file(layout.measurementLog, 0o644, measurementLogFile(gatewayId, tpm ? "tpm" : "software", alg, log), `first measurement log (${log.length} events, sha256 and sm3 banks)`);

  dir(posix.dirname(layout.unitFile), 0o755, "systemd units");
  file(layout.unitFile, 0o644, renderServiceUnit(board, layout, { extraDevices: validated.devicePaths }), "systemd unit (Type=notify, watchdog, hardening)");
  if (!serviceRunsAsRoot(board)) {
    dir(posix.dirname(layout.sysusersFile), 0o755, "sysusers.d");
    file(layout.sysusersFile, 0o644, renderSysusers(board, validated.devicePaths), "service user ridgeline (systemd-sysusers)");
    entries.push({ kind: "users", path: layout.sysusersFile, user: SERVICE_USER, what: `user ${SERVICE_USER} and its groups in the root's /etc/passwd and /etc/group` });
    const tpmRule = renderTpmUdevRule(board);
    if (tpmRule) {
      dir(posix.dirname(layout.tpmUdevRule), 0o755, "udev rules");
      file(layout.tpmUdevRule, 0o644, tpmRule, "the TPM for group tss");
    }
    dir(posix.dirname(layout.tmpfilesFile), 0o755, "tmpfiles.d");
    file(layout.tmpfilesFile, 0o644, renderTmpfiles(layout), "config readable by the service user (systemd-tmpfiles)");
  }
  dir(posix.dirname(layout.unitWantsLink), 0o755, "multi-user.target.wants");
  entries.push({ kind: "symlink", path: layout.unitWantsLink, target: layout.unitFile, what: "enable link" });
  const dropIn = renderWatchdogDropIn(board);
  if (dropIn) {
    dir(posix.dirname(layout.watchdogDropIn), 0o755, "systemd manager drop-ins");
    file(layout.watchdogDropIn, 0o644, dropIn, "hardware watchdog for systemd");
  }

  const markerBody: ProvisionedMarker = { board: board.name, arch: board.arch, gatewayId, version: slot.version, node: slot.node?.version ?? null };
  file(layout.provisionedMarker, 0o644, `${JSON.stringify(markerBody, null, 2)}\n`, "provisioned marker (written last)");
  return { root, layout, gatewayId, entries, slot, slotBytes: slotBytes(slot) + manifestBytes.length, notes, provisioned: marker !== undefined };
}

export { SLOT_MANIFEST_NAME };
