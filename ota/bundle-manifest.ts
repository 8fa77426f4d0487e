/**
 * The manifest that opens every bundle (`ridge-bundle.json`, the archive's first entry): what the
 * bundle is, where it fits, and every file and link it may contain with size and sha256.
 * Extraction trusts nothing in the archive that the manifest does not list.
 */
import { z } from "zod";
import { artifactKinds } from "./tuf-metadata.js";

export const MANIFEST_NAME = "ridge-bundle.json";
export const BUNDLE_FORMAT = "ridge-bundle/1";
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export const bundleManifest = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    kind: z.enum(artifactKinds),
    version: z.string(),
    board: z.string(),
    arch: z.string(),
    /** The file the launcher runs (runtime bundles). */
    entry: z.string().optional(),
    created: z.string().optional(),
    files: z.record(z.object({ size: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/), mode: z.number().int().min(0).max(0o7777) }).strict()),
    links: z.record(z.string()).default({}),
  })
  .strict();

export type BundleManifest = z.output<typeof bundleManifest>;

/** Names the slot keeps for itself: the bundle manifest, and the verified-slot marker with its temp file (ota/slot-marker.ts). */
export const RESERVED_SLOT_NAMES: ReadonlySet<string> = new Set([MANIFEST_NAME, ".ridge-slot.json", ".ridge-slot.json.tmp"]);

/**
 * Why `p` is not a normalised relative path inside the slot, or undefined when it is: one or more
 * `/`-separated names, none empty, `.` or `..`, no backslash, NUL, leading `/` or drive prefix.
 * One spelling per file: what the manifest lists is exactly the path the extractor and the
 * launcher use, so no check can be passed by one spelling and the file reached by another.
 */
export function slotPathProblem(p: string): string | undefined {
  if (p === "") return "it is empty";
  if (p.includes("\0")) return "it has a NUL";
  if (p.includes("\\")) return "it has a backslash";
  if (p.startsWith("/")) return "it is absolute";
  if (/^[A-Za-z]:/.test(p)) return "it has a drive prefix";
  if (p.endsWith("/")) return "it ends in '/'";
  const parts = p.split("/");
  if (parts.includes("")) return "it has an empty part ('//')";
  if (parts.includes(".")) return "it has a '.' part";
  if (parts.includes("..")) return "it has a '..' part";
  return undefined;
}

/**
 * Why the symlink target `target` of the link at `link` is refused: the code says whether it is
 * not normalised (E_OTA_MANIFEST_PATH) or leads outside the slot (E_OTA_BUNDLE_LINK_ESCAPE).
 * A target is `.` or a run of leading `..` followed by names, so its only climbs happen from the
 * link's own directory (a real directory: nothing is extracted through a link) and are checked here
 * lexically; the extractor then resolves every target through the links the slot holds.
 */
export function linkTargetProblem(link: string, target: string): { code: "E_OTA_MANIFEST_PATH" | "E_OTA_BUNDLE_LINK_ESCAPE"; why: string } | undefined {
  if (target.startsWith("/") || /^[A-Za-z]:/.test(target)) return { code: "E_OTA_BUNDLE_LINK_ESCAPE", why: "it is absolute" };
  if (target === ".") return undefined;
  const syntax = target === "" ? "it is empty" : target.includes("\0") ? "it has a NUL" : target.includes("\\") ? "it has a backslash" : target.endsWith("/") ? "it ends in '/'" : undefined;
  if (syntax) return { code: "E_OTA_MANIFEST_PATH", why: syntax };
  const parts = target.split("/");
  if (parts.includes("")) return { code: "E_OTA_MANIFEST_PATH", why: "it has an empty part ('//')" };
  if (parts.includes(".")) return { code: "E_OTA_MANIFEST_PATH", why: "it has a '.' part" };
  let ups = 0;
  while (parts[ups] === "..") ups++;
  if (parts.slice(ups).includes("..")) return { code: "E_OTA_MANIFEST_PATH", why: "it has a '..' after a name (not normalised)" };
  if (ups > link.split("/").length - 1) return { code: "E_OTA_BUNDLE_LINK_ESCAPE", why: "it climbs out of the slot" };
  return undefined;
}

/** A refused manifest path: the code, and a reason naming the manifest, the field and the value. */
export interface ManifestPathFailure {
  code: "E_OTA_MANIFEST_PATH" | "E_OTA_BUNDLE_LINK_ESCAPE";
  reason: string;
}

/**
 * Every path field of a bundle (or slot) manifest checked: `entry`, each key of `files` and
 * `links`, each link target. The first problem found, or undefined. `where` names the manifest.
 */
export function manifestPathProblem(m: { entry?: string | undefined; files: Record<string, unknown>; links: Record<string, string> }, where: string): ManifestPathFailure | undefined {
  const field = (name: string, value: string, why: string): ManifestPathFailure => ({ code: "E_OTA_MANIFEST_PATH", reason: `${where}: ${name} is ${JSON.stringify(value)}, not a normalised relative path inside the slot (${why})` });
  const check = (name: string, p: string): ManifestPathFailure | undefined => {
    const why = slotPathProblem(p);
    if (why) return field(name, p, why);
    if (RESERVED_SLOT_NAMES.has(p)) return field(name, p, "a name the slot reserves for itself");
    return undefined;
  };
  if (m.entry !== undefined) {
    const f = check("entry", m.entry);
    if (f) return f;
  }
  for (const p of Object.keys(m.files)) {
    const f = check(`files[${JSON.stringify(p)}]`, p);
    if (f) return f;
  }
  for (const [p, t] of Object.entries(m.links)) {
    const f = check(`links[${JSON.stringify(p)}]`, p);
    if (f) return f;
    const lt = linkTargetProblem(p, t);
    if (lt) return { code: lt.code, reason: `${where}: links[${JSON.stringify(p)}] points at ${JSON.stringify(t)}: ${lt.why}` };
  }
  return undefined;
}
