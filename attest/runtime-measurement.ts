/**
 * How a runtime slot is measured, shared by the running gateway (runtime/attestation) and
 * `ridge flash`, which writes the first measurement log before the device ever boots: the slot's
 * manifest (`ridge-bundle.json`: every file with its size and sha256, so the whole slot is
 * covered), with the running entry checked against it. Both sides must say the same words about
 * the same bytes, or the flashed log would not be what the device records.
 */
import { createHash } from "node:crypto";

export const SLOT_MANIFEST_FILE = "ridge-bundle.json";

export interface RuntimeMeasurement {
  data: Uint8Array;
  description: string;
}

/** The event for a slot whose running entry `entry` matches the manifest `manifest` (its bytes). */
export function slotManifestMeasurement(slot: string, manifest: Uint8Array, entry: string): RuntimeMeasurement {
  const sha = createHash("sha256").update(manifest).digest("hex");
  return { data: manifest, description: `slot ${slot}: slot manifest ${SLOT_MANIFEST_FILE} (sha256 ${sha}; ${entry} checked against it)` };
}
