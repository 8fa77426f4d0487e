/**
 * Where things live on a flashed device, derived from the board file (boards are data): the
 * install home with its launcher, the A/B runtime slots, the config, the data directory and its
 * provisioning files, the systemd unit. All paths are absolute on the device; `inRoot` maps them
 * into the folder being flashed (a mounted SD card, an eMMC rootfs, a plain directory).
 */
import { isAbsolute, join, posix } from "node:path";
import type { Board } from "../schema.js";

export const UNIT_NAME = "ridgeline.service";

export interface DeviceLayout {
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
}

/** A board's relative data dir (the sim board's `./.ridgeline`) becomes the standard one on a device. */
const DEFAULT_DATA = "/var/lib/ridgeline";
const HOME = "/opt/ridgeline";

export function deviceLayout(board: Board): DeviceLayout {
  const dataDir = isAbsolute(board.dataDir) ? posix.normalize(board.dataDir) : DEFAULT_DATA;
  const slot = (p: string) => (isAbsolute(p) ? posix.normalize(p) : posix.join(dataDir, p));
  return {
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
  };
}

/** A device path inside the flashed root. */
export function inRoot(root: string, devicePath: string): string {
  return join(root, devicePath);
}
