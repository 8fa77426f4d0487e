/**
 * Where things live on a flashed device, derived from the board file (boards are data): the
 * install home with its launcher, the A/B runtime slots, the config, the data directory and its
 * provisioning files, the systemd unit, the service user, the secrets and the device's `ridge`
 * command. All paths are absolute on the device; `inRoot` maps them into the folder being flashed
 * (a mounted SD card, an eMMC rootfs, a plain directory).
 */
import { isAbsolute, join, posix } from "node:path";
import { DEVICE_CREDENTIALS_DIR, LAST_EXIT_REL, type Board } from "../boards/index.js";

export const UNIT_NAME = "ridgeline.service";
/** The service's own user and group (systemd-sysusers makes them on the device's first boot). */
export const SERVICE_USER = "ridgeline";

export interface DeviceLayout {
  /** The board's name (the launcher passes it to `ridge boot`). */
  board: string;
  home: string;
  launcher: string;
  slotA: string;
  slotB: string;
  configDir: string;
  configFile: string;
  dataDir: string;
  /** Which slot the launcher starts (runtime-level A/B); the OTA engine rewrites it. */
  activeSlotFile: string;
  identityKey: string;
  identityPub: string;
  identityCsr: string;
  attestDir: string;
  otaRoot: string;
  measurementLog: string;
  provisionedMarker: string;
  unitFile: string;
  unitWantsLink: string;
  /** systemd manager drop-in that hands the board's hardware watchdog to systemd. */
  watchdogDropIn: string;
  /** The `ridge` command on the device's PATH: the active slot's CLI with the device's defaults. */
  ridgeCommand: string;
  /** One file per secret (`${NAME}` in the config), mode 0600, root's: the unit's LoadCredential= source. */
  credentialsDir: string;
  /** Where systemd-creds users put encrypted credentials (LoadCredentialEncrypted= in a drop-in). */
  encryptedCredentialsDir: string;
  /** NAME=value lines for systemd older than 247 (no LoadCredential=): the unit's EnvironmentFile=-. */
  secretsEnvFile: string;
  /** sysusers.d(5): the service user and the device groups it joins. */
  sysusersFile: string;
  /** tmpfiles.d(5): ownership of the config for the service user. */
  tmpfilesFile: string;
  /** Why the gateway last stopped on its own (a fatal config error), read by `ridge status`. */
  lastExitFile: string;
  /** The unit's ExecStartPre records the launcher's slot choice here for ExecStart (`ridge boot --pin`/`--pinned`). */
  bootChoiceFile: string;
  /** Beside the slots: a link to the slot chosen for this start; the unit makes it read-only (ReadOnlyPaths=). */
  runningSlotLink: string;
  /** udev rule giving the TPM's resource manager to group tss (images without tpm-udev leave it root's 0600). */
  tpmUdevRule: string;
}

/** A board's relative data dir (the sim board's `./.ridgeline`) becomes the standard one on a device. */
const DEFAULT_DATA = "/var/lib/ridgeline";
const HOME = "/opt/ridgeline";

export function deviceLayout(board: Board): DeviceLayout {
  const dataDir = isAbsolute(board.dataDir) ? posix.normalize(board.dataDir) : DEFAULT_DATA;
  const slot = (p: string) => (isAbsolute(p) ? posix.normalize(p) : posix.join(dataDir, p));
  return {
    board: board.name,
    home: HOME,
    launcher: `${HOME}/bin/ridge-boot`,
    slotA: slot(board.slots.a),
    slotB: slot(board.slots.b),
    configDir: "/etc/ridgeline",
    configFile: "/etc/ridgeline/gateway.yaml",
    dataDir,
    activeSlotFile: posix.join(dataDir, "boot/active-slot"),
    identityKey: posix.join(dataDir, "id.key"),
    identityPub: posix.join(dataDir, "id.pub"),
    identityCsr: posix.join(dataDir, "id.csr"),
    attestDir: posix.join(dataDir, "attest"),
    otaRoot: posix.join(dataDir, "ota/root.json"),
    measurementLog: posix.join(dataDir, "attest/measurements.json"),
    provisionedMarker: "/etc/ridgeline/provisioned.json",
    unitFile: `/etc/systemd/system/${UNIT_NAME}`,
    unitWantsLink: `/etc/systemd/system/multi-user.target.wants/${UNIT_NAME}`,
    watchdogDropIn: "/etc/systemd/system.conf.d/ridgeline-watchdog.conf",
    ridgeCommand: "/usr/local/bin/ridge",
    credentialsDir: DEVICE_CREDENTIALS_DIR,
    encryptedCredentialsDir: "/etc/ridgeline/credentials.encrypted",
    secretsEnvFile: "/etc/ridgeline/secrets.env",
    sysusersFile: "/usr/lib/sysusers.d/ridgeline.conf",
    tmpfilesFile: "/usr/lib/tmpfiles.d/ridgeline.conf",
    lastExitFile: posix.join(dataDir, LAST_EXIT_REL),
    tpmUdevRule: "/etc/udev/rules.d/60-ridgeline-tpm.rules",
    bootChoiceFile: "/run/ridgeline/boot-choice.json",
    runningSlotLink: posix.join(posix.dirname(slot(board.slots.a)), "running"),
  };
}

/** A device path inside the flashed root. */
export function inRoot(root: string, devicePath: string): string {
  return join(root, devicePath);
}
