/**
 * A slot is bootable only when it holds `.ridge-slot.json`, written (atomically, fsynced) after
 * the bundle's signed hash and every file's manifest hash were checked, and removed before a new
 * extraction starts. The launcher runs nothing from a slot without it.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fsyncDir } from "./bundle-extractor.js";

export const MARKER = ".ridge-slot.json";

export interface SlotMarker {
  version: string;
  target: string;
  sha256: string;
  board: string;
  arch: string;
  entry: string;
  installedAt: string;
}

export function readMarker(slotDir: string): SlotMarker | undefined {
  const p = join(slotDir, MARKER);
  if (!existsSync(p)) return undefined;
  try {
    const m = JSON.parse(readFileSync(p, "utf8")) as Partial<SlotMarker>;
    if (typeof m.version !== "string" || typeof m.entry !== "string" || typeof m.sha256 !== "string") return undefined;
    if (m.entry.startsWith("/") || m.entry.split("/").includes("..")) return undefined;
    if (!existsSync(join(slotDir, m.entry))) return undefined;
    return m as SlotMarker;
  } catch {
    return undefined;
  }
}

export function writeMarker(slotDir: string, m: SlotMarker): void {
  const p = join(slotDir, MARKER);
  const tmp = `${p}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, JSON.stringify(m, null, 1));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, p);
  fsyncDir(slotDir);
}

export function clearMarker(slotDir: string): void {
  rmSync(join(slotDir, MARKER), { force: true });
  if (existsSync(slotDir)) fsyncDir(slotDir);
}
