/**
 * `ridge ota bundle`: the runtime slot `ridge flash` would lay down (runtime-slot.ts decides its
 * files), written as an OTA bundle by ota's writer, so that an update installs exactly the slot a
 * flash gives: same paths, modes and bytes.
 */
import { writeBundle, type BundleFileSource, type BundleManifest } from "../../ota/index.js";
import type { Board } from "../schema.js";
import type { RuntimeSlot } from "./runtime-slot.js";

export function slotBundleFiles(slot: RuntimeSlot): Map<string, BundleFileSource> {
  return new Map(slot.files.map((f) => [f.rel, f.content ? { bytes: f.content, mode: f.mode } : { src: f.src!, mode: f.mode }]));
}

export function writeSlotBundle(slot: RuntimeSlot, board: Board, out: string, created?: Date): Promise<BundleManifest> {
  return writeBundle(out, { kind: "runtime", version: slot.version, board: board.name, arch: slot.arch, entry: "dist/ridge.mjs", files: slotBundleFiles(slot), ...(created ? { created } : {}) });
}
