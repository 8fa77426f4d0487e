/**
 * Which target, if any, this device installs: the newest artifact of the wanted kind that names
 * this board and arch, is newer than what runs, is not below the anti-rollback floor, and may
 * upgrade from what runs (`minFrom`). Only that one file is ever downloaded (extraneous
 * dependencies: fields such as `dependencies` in `custom` are ignored, never followed).
 */
import { compareVersions } from "./version-order.js";
import { parseTargetCustom, type ArtifactKind, type TargetCustom, type TargetFile, type TargetsSigned } from "./tuf-metadata.js";

export interface DeviceIdentity {
  kind: ArtifactKind;
  board: string;
  arch: string;
  /** The version running now. */
  current: string;
  /** The anti-rollback floor: the highest version ever committed. */
  minVersion: string;
}

export interface ChosenTarget {
  name: string;
  file: TargetFile;
  custom: TargetCustom;
}

export type Selection = { ok: true; target: ChosenTarget | undefined } | { ok: false; code: string; reason: string };

/** Whether one target fits this device; a reason when it does not. */
export function fits(name: string, file: TargetFile, dev: DeviceIdentity): { ok: true; custom: TargetCustom } | { ok: false; code: string; reason: string } {
  const c = parseTargetCustom(file);
  if (!c) return { ok: false, code: "E_OTA_TARGET_CUSTOM", reason: `${name}: no valid Ridgeline custom fields (kind, version)` };
  if (c.kind !== dev.kind) return { ok: false, code: "E_OTA_WRONG_KIND", reason: `${name} is a ${c.kind}, not a ${dev.kind}` };
  if (!c.boards?.includes(dev.board)) return { ok: false, code: "E_OTA_WRONG_BOARD", reason: `${name} is for ${c.boards?.join(", ") || "no board"}, this is ${dev.board}` };
  if (c.arch && !c.arch.includes(dev.arch)) return { ok: false, code: "E_OTA_WRONG_BOARD", reason: `${name} is for ${c.arch.join(", ")}, this is ${dev.arch}` };
  const vsFloor = compareVersions(c.version, dev.minVersion);
  if (vsFloor === undefined) return { ok: false, code: "E_OTA_TARGET_CUSTOM", reason: `${name}: version "${c.version}" is not a version` };
  if (vsFloor < 0) return { ok: false, code: "E_OTA_ROLLBACK", reason: `${name} ${c.version} is below the anti-rollback floor ${dev.minVersion}` };
  if (c.minFrom !== undefined && (compareVersions(dev.current, c.minFrom) ?? -1) < 0)
    return { ok: false, code: "E_OTA_UPGRADE_PATH", reason: `${name} ${c.version} upgrades from ${c.minFrom} or later; this runs ${dev.current}` };
  return { ok: true, custom: c };
}

export function selectUpdate(targets: TargetsSigned, dev: DeviceIdentity): Selection {
  let best: ChosenTarget | undefined;
  for (const [name, file] of Object.entries(targets.targets)) {
    const f = fits(name, file, dev);
    if (!f.ok) continue;
    if ((compareVersions(f.custom.version, dev.current) ?? 0) <= 0) continue;
    if (!best || (compareVersions(f.custom.version, best.custom.version) ?? 0) > 0) best = { name, file, custom: f.custom };
  }
  return { ok: true, target: best };
}

/** A target asked for by name (`ridge ota install --target NAME`): refused when it does not fit. */
export function requireTarget(targets: TargetsSigned, name: string, dev: DeviceIdentity): Selection {
  const file = Object.prototype.hasOwnProperty.call(targets.targets, name) ? targets.targets[name] : undefined;
  if (!file) return { ok: false, code: "E_OTA_TARGET_UNKNOWN", reason: `${name} is not in the signed targets metadata` };
  const f = fits(name, file, dev);
  if (!f.ok) return f;
  return { ok: true, target: { name, file, custom: f.custom } };
}
