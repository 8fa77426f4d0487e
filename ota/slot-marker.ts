/**
 * A slot is bootable only when it holds `.ridge-slot.json`, written (atomically, fsynced) after
 * the bundle's signed hash and every file's manifest hash were checked, and removed before a new
 * extraction starts. The launcher runs nothing from a slot without it.
 * `readSlotManifest` is the one reader of a slot's manifests: the marker, and the slot manifest
 * `ridge-bundle.json` a flashed slot carries beside it. It checks them again at every read, since
 * the files may have been edited after install: every path field must be a normalised relative
 * path inside the slot (bundle-manifest.ts), and the entry must be a regular file reached through
 * directories only (no link), so nothing outside the slot is ever started or measured.
 */
import { closeSync, constants, existsSync, fsyncSync, lstatSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeSync } from "node:fs";
import { join, sep } from "node:path";
import { z } from "zod";
import { fail, ok, type Result } from "../core/index.js";
import { fsyncDir } from "./bundle-extractor.js";
import { MANIFEST_NAME, bundleManifest, manifestPathProblem, type BundleManifest } from "./bundle-manifest.js";

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

const slotMarker = z.object({ version: z.string(), target: z.string(), sha256: z.string(), board: z.string(), arch: z.string(), entry: z.string(), installedAt: z.string() });

/** A slot's manifests, read and checked. */
export interface SlotManifest {
  marker: SlotMarker;
  /** The entry, relative to the slot (a normalised path: `marker.entry`). */
  entry: string;
  /** The entry's absolute path: `join(slotDir, entry)`, a regular file inside the slot. */
  entryPath: string;
  /** The slot manifest (`ridge-bundle.json`) when the slot carries one (flashed slots): its bytes as on disk and its checked content. */
  bundle?: { bytes: Uint8Array; manifest: BundleManifest };
}

type SlotFailure = "E_OTA_SLOT_MARKER" | "E_OTA_MANIFEST_PATH" | "E_OTA_BUNDLE_LINK_ESCAPE";

/** Why `rel` (checked syntax) is not a regular file inside `slotDir` reached through directories only. */
function regularFileProblem(slotDir: string, rel: string): string | undefined {
  const parts = rel.split("/");
  let p = slotDir;
  for (let i = 0; i < parts.length; i++) {
    p = join(p, parts[i]!);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return `"${parts.slice(0, i + 1).join("/")}" does not exist`;
    }
    if (st.isSymbolicLink()) return `"${parts.slice(0, i + 1).join("/")}" is a symlink`;
    if (i < parts.length - 1 ? !st.isDirectory() : !st.isFile()) return `"${parts.slice(0, i + 1).join("/")}" is not a ${i < parts.length - 1 ? "directory" : "regular file"}`;
  }
  // The slot folder itself may sit behind a link (a mount, the `running` link): the entry must still be inside it.
  try {
    const root = realpathSync.native(slotDir);
    if (!realpathSync.native(p).startsWith(root + sep)) return "it resolves outside the slot";
  } catch {
    return "it cannot be resolved";
  }
  return undefined;
}

/**
 * Read and check a slot's marker (and its `ridge-bundle.json` when present). A failure names the
 * file, the field and the value; hostile or edited files never throw.
 */
export function readSlotManifest(slotDir: string): Result<SlotManifest, SlotFailure> {
  const p = join(slotDir, MARKER);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    return fail("E_OTA_SLOT_MARKER", `${p}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "not readable JSON"}`);
  }
  const m = slotMarker.safeParse(doc);
  if (!m.success) return fail("E_OTA_SLOT_MARKER", `${p}: not a slot marker (${m.error.issues[0]?.path.join(".")}: ${m.error.issues[0]?.message})`);
  const marker: SlotMarker = { version: m.data.version, target: m.data.target, sha256: m.data.sha256, board: m.data.board, arch: m.data.arch, entry: m.data.entry, installedAt: m.data.installedAt };
  const bad = manifestPathProblem({ entry: marker.entry, files: {}, links: {} }, p);
  if (bad) return fail(bad.code, bad.reason);
  const why = regularFileProblem(slotDir, marker.entry);
  if (why) return fail("E_OTA_SLOT_MARKER", `${p}: entry ${JSON.stringify(marker.entry)} is not a regular file inside the slot (${why})`);
  const out: SlotManifest = { marker, entry: marker.entry, entryPath: join(slotDir, marker.entry) };
  const mp = join(slotDir, MANIFEST_NAME);
  let bytes: Buffer | undefined;
  try {
    if (lstatSync(mp).isSymbolicLink()) return fail("E_OTA_SLOT_MARKER", `${mp}: a symlink`);
    bytes = readFileSync(mp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") return fail("E_OTA_SLOT_MARKER", `${mp}: not readable (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (bytes) {
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch {
      return fail("E_OTA_SLOT_MARKER", `${mp}: not JSON`);
    }
    const b = bundleManifest.safeParse(json);
    if (!b.success) return fail("E_OTA_SLOT_MARKER", `${mp}: not a slot manifest (${b.error.issues[0]?.path.join(".")}: ${b.error.issues[0]?.message})`);
    const pb = manifestPathProblem(b.data, mp);
    if (pb) return fail(pb.code, pb.reason);
    out.bundle = { bytes: new Uint8Array(bytes), manifest: b.data };
  }
  return ok(out);
}

/** The marker of a slot that passes `readSlotManifest`, else undefined. */
export function readMarker(slotDir: string): SlotMarker | undefined {
  const r = readSlotManifest(slotDir);
  return r.ok ? r.value.marker : undefined;
}

export function writeMarker(slotDir: string, m: SlotMarker): void {
  const p = join(slotDir, MARKER);
  const tmp = `${p}.tmp`;
  rmSync(tmp, { force: true });
  // Never through whatever was at the temp name (O_EXCL, O_NOFOLLOW).
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
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
