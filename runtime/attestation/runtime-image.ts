/**
 * What the attestation log records as "the runtime": the code that really runs, never the
 * 15-line `bin/ridge.mjs` loader in front of it.
 *   - a slot the launcher booted (RIDGE_SLOT): a flashed slot's manifest (`ridge-bundle.json`,
 *     every file with its sha256, so the whole slot is covered), after checking that the bundle
 *     this process runs is the one the manifest lists; an OTA-installed slot's signed target hash
 *     from its marker (every file was checked against the bundle's manifest when it was installed;
 *     the same bytes are measured when an update commits);
 *   - the esbuild bundle (`dist/ridge.mjs`) outside a slot: its bytes;
 *   - a source checkout (tsx): a listing of every TypeScript source file of the package with its
 *     sha256 (sorted paths), so an edit to any module that can load changes the measurement.
 * `description` says which of these was measured; the log carries it.
 */
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { slotManifestMeasurement, SLOT_MANIFEST_FILE } from "../../attest/index.js";
import { readMarker, type SlotMarker } from "../../ota/index.js";
import { VERSION } from "../version.js";

/** The board's slot folders (absolute, or relative to the data directory). */
interface SlotPaths {
  slots: { a: string; b: string };
}

export interface RuntimeImage {
  data: Uint8Array;
  description: string;
  version: string;
}

/** Folders of a checkout that hold no code the gateway loads. */
const NOT_RUNTIME = new Set(["node_modules", "test", "bench", "docs", "scripts", "dist"]);

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** The file this code was loaded from: the bundle when bundled, this module's source otherwise. */
function loadedFrom(): string {
  return fileURLToPath(import.meta.url);
}

function sourceFiles(root: string, dir = root, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".") || (dir === root && NOT_RUNTIME.has(e.name))) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(root, p, out);
    else if (e.isFile() && /\.(ts|mts|js|mjs|json)$/.test(e.name) && !e.name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

/** A listing `sha256  path` per source file (sorted), the form `sha256sum` prints. */
export function sourceListing(root: string): { listing: string; files: number } {
  const files = sourceFiles(root).map((p) => relative(root, p).split(sep).join("/")).sort();
  const listing = files.map((rel) => `${sha256(readFileSync(join(root, rel)))}  ${rel}\n`).join("");
  return { listing, files: files.length };
}

/** The slot holding the running file: the board's slot dir, or the folder the running entry sits in (a root not mounted at /). */
function slotDirOf(board: SlotPaths, dataDir: string, slot: "a" | "b", running: string): { dir: string; marker: SlotMarker } | undefined {
  const p = board.slots[slot];
  const candidates = [isAbsolute(p) ? p : join(dataDir, p), dirname(dirname(running)), dirname(running)];
  for (const dir of candidates) {
    const marker = readMarker(dir);
    if (marker && join(dir, marker.entry) === running) return { dir, marker };
  }
  return undefined;
}

function slotImage(board: SlotPaths, dataDir: string, slot: "a" | "b", running: string): RuntimeImage | undefined {
  const found = slotDirOf(board, dataDir, slot, running);
  if (!found) return undefined;
  const { dir, marker } = found;
  let manifest: Buffer | undefined;
  try {
    manifest = readFileSync(join(dir, SLOT_MANIFEST_FILE));
  } catch {
    manifest = undefined;
  }
  if (!manifest) {
    // installed by OTA: the signed target's hash, checked file by file at install
    return { data: new Uint8Array(Buffer.from(marker.sha256, "hex")), description: `slot ${slot}: installed target ${marker.target} (sha256 ${marker.sha256})`, version: marker.version };
  }
  let listed: string | undefined;
  try {
    listed = (JSON.parse(manifest.toString("utf8")) as { files?: Record<string, { sha256?: string }> }).files?.[marker.entry]?.sha256;
  } catch {
    listed = undefined;
  }
  const actual = sha256(readFileSync(running));
  if (listed === actual) return { ...slotManifestMeasurement(slot, new Uint8Array(manifest), marker.entry), version: marker.version };
  // The running code is not what the manifest lists: measure both, so no reference value matches.
  return {
    data: new Uint8Array(Buffer.concat([manifest, Buffer.from(actual, "hex")])),
    description: `slot ${slot}: ${marker.entry} does not match the slot manifest (${listed ? "sha256 differs" : "not listed"}); measured the manifest and the running file`,
    version: marker.version,
  };
}

export function runtimeImage(s: { board: SlotPaths; dataDir: string }, running = loadedFrom()): RuntimeImage {
  const slot = process.env.RIDGE_SLOT;
  if (slot === "a" || slot === "b") {
    const img = slotImage(s.board, s.dataDir, slot, running);
    if (img) return img;
  }
  if (!running.endsWith(".ts")) {
    const data = new Uint8Array(readFileSync(running));
    return { data, description: `bundle ${running} (sha256 ${sha256(data)})`, version: VERSION };
  }
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const { listing, files } = sourceListing(root);
  const data = new TextEncoder().encode(listing);
  return { data, description: `source checkout ${root}: ${files} source files (sha256 of their sha256sum listing ${sha256(data)})`, version: VERSION };
}
