/**
 * Which target, if any, this device installs: the newest artifact of the wanted kind that names
 * this board and arch, is newer than what runs, is not below the anti-rollback floor, and may
 * upgrade from what runs (`minFrom`). Only that one file is ever downloaded (extraneous
 * dependencies: fields such as `dependencies` in `custom` are ignored, never followed).
 */
import { fail, ok, type ErrorCode, type Result } from "../core/index.js";
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

/** The target to install (undefined: nothing newer fits), or why the asked-for one cannot be. */
export type Selection = Result<ChosenTarget | undefined, ErrorCode>;

/** Whether one target fits this device: its custom fields, or a reason when it does not. */
export function fits(name: string, file: TargetFile, dev: DeviceIdentity): Result<TargetCustom, ErrorCode> {
  const c = parseTargetCustom(file);
  if (!c) return fail("E_OTA_TARGET_CUSTOM", `${name}: no valid Ridgeline custom fields (kind, version)`);
  if (c.kind !== dev.kind) return fail("E_OTA_WRONG_KIND", `${name} is a ${c.kind}, not a ${dev.kind}`);
  if (!c.boards?.includes(dev.board)) return fail("E_OTA_WRONG_BOARD", `${name} is for ${c.boards?.join(", ") || "no board"}, this is ${dev.board}`);
  if (c.arch && !c.arch.includes(dev.arch)) return fail("E_OTA_WRONG_BOARD", `${name} is for ${c.arch.join(", ")}, this is ${dev.arch}`);
  const vsFloor = compareVersions(c.version, dev.minVersion);
  if (vsFloor === undefined) return fail("E_OTA_TARGET_CUSTOM", `${name}: version "${c.version}" is not a version`);
  if (vsFloor < 0) return fail("E_OTA_ROLLBACK", `${name} ${c.version} is below the anti-rollback floor ${dev.minVersion}`);
  if (c.minFrom !== undefined && (compareVersions(dev.current, c.minFrom) ?? -1) < 0)
    return fail("E_OTA_UPGRADE_PATH", `${name} ${c.version} upgrades from ${c.minFrom} or later; this runs ${dev.current}`);
  return ok(c);
}

export function selectUpdate(targets: TargetsSigned, dev: DeviceIdentity): Selection {
  let best: ChosenTarget | undefined;
  for (const [name, file] of Object.entries(targets.targets)) {
    const f = fits(name, file, dev);
    if (!f.ok) continue;
    if ((compareVersions(f.value.version, dev.current) ?? 0) <= 0) continue;
    if (!best || (compareVersions(f.value.version, best.custom.version) ?? 0) > 0) best = { name, file, custom: f.value };
  }
  return ok(best);
}

/**
 * A target asked for by name (`ridge ota install --target NAME`, or the cloud's downlink
 * `{target}`): refused when it does not fit. A version below the running one installs only when
 * both sides ask for it: the signed target's `allowDowngradeFrom` names the running version, and
 * the local side passed `allowDowngrade` (`--allow-downgrade`, or `"allowDowngrade": true` on the
 * downlink). The anti-rollback floor holds either way.
 */
export function requireTarget(targets: TargetsSigned, name: string, dev: DeviceIdentity, opts: { allowDowngrade?: boolean } = {}): Selection {
  const file = Object.prototype.hasOwnProperty.call(targets.targets, name) ? targets.targets[name] : undefined;
  if (!file) return fail("E_OTA_TARGET_UNKNOWN", `${name} is not in the signed targets metadata`);
  const f = fits(name, file, dev);
  if (!f.ok) return f;
  if ((compareVersions(f.value.version, dev.current) ?? 0) < 0) {
    const from = f.value.allowDowngradeFrom;
    const signed = from !== undefined && (Array.isArray(from) ? from : [from]).includes(dev.current);
    if (!signed || opts.allowDowngrade !== true) {
      const missing = [signed ? "" : `the signed target's allowDowngradeFrom does not name ${dev.current}`, opts.allowDowngrade === true ? "" : "the local side did not ask for a downgrade (--allow-downgrade)"].filter(Boolean).join(", and ");
      return fail("E_OTA_DOWNGRADE", `${name} ${f.value.version} is older than the running ${dev.current}: not installed (${missing})`);
    }
  }
  return ok({ name, file, custom: f.value });
}
