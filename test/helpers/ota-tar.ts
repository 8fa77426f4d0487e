/** Hand-made tar archives (hostile ones included) for the bundle extraction tests. */
import { createHash } from "node:crypto";
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntry } from "../../ota/tar-codec.js";
import { BUNDLE_FORMAT, MANIFEST_NAME, type BundleManifest } from "../../ota/bundle-manifest.js";

export interface RawEntry extends Partial<TarEntry> {
  path: string;
  data?: Uint8Array;
  /** Raw header bytes to use instead of encoding (for pax and corrupted headers). */
  header?: Uint8Array;
}

export function tar(entries: RawEntry[], end = true): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.data ?? new Uint8Array();
    const size = e.size ?? data.length;
    parts.push(e.header ?? encodeHeader({ path: e.path, type: e.type ?? "file", mode: e.mode ?? 0o644, size, linkname: e.linkname ?? "", mtime: 0 }));
    parts.push(data, new Uint8Array(padding(data.length)));
  }
  if (end) parts.push(END_OF_ARCHIVE);
  return new Uint8Array(Buffer.concat(parts));
}

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export function manifestFor(files: Record<string, Uint8Array>, links: Record<string, string> = {}, over: Partial<BundleManifest> = {}): Uint8Array {
  const m: BundleManifest = {
    format: BUNDLE_FORMAT,
    kind: "runtime",
    version: "1.2.3",
    board: "sim",
    arch: "x64",
    entry: "dist/ridge.mjs",
    files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, { size: b.length, sha256: sha256(b), mode: 0o644 }])),
    links,
    ...over,
  };
  return new TextEncoder().encode(JSON.stringify(m));
}

/** A bundle: manifest listing `files` (+ `links`), then the given entries (default: the files). */
export function bundle(files: Record<string, Uint8Array>, opts: { links?: Record<string, string>; entries?: RawEntry[]; end?: boolean } = {}): Uint8Array {
  const entries = opts.entries ?? Object.entries(files).map(([path, data]) => ({ path, data }));
  return tar([{ path: MANIFEST_NAME, data: manifestFor(files, opts.links ?? {}) }, ...entries], opts.end ?? true);
}

/** A pax extended header entry carrying `records` (key=value). */
export function pax(records: Record<string, string>): RawEntry {
  let body = "";
  for (const [k, v] of Object.entries(records)) {
    const rec = ` ${k}=${v}\n`;
    let len = rec.length + 1;
    while (String(len).length + rec.length !== len) len = String(len).length + rec.length;
    body += `${len}${rec}`;
  }
  const data = new TextEncoder().encode(body);
  const h = encodeHeader({ path: "PaxHeader", type: "file", mode: 0o644, size: data.length, linkname: "", mtime: 0 });
  h[156] = "x".charCodeAt(0);
  // recompute checksum
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  h.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0")), 148);
  h[154] = 0;
  h[155] = 0x20;
  return { path: "PaxHeader", header: h, data };
}

/**
 * A bundle whose manifest lists exactly what `entries` carry: each file entry (its `data`) under
 * `files`, each symlink and hard link (its `linkname`) under `links`; `over` replaces manifest
 * fields (e.g. a hostile `entry`). Entry paths must already be in manifest spelling.
 */
export function bundleOf(entries: RawEntry[], over: Partial<BundleManifest> = {}): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  const links: Record<string, string> = {};
  for (const e of entries) {
    const type = e.type ?? "file";
    if (type === "file") files[e.path] = e.data ?? new Uint8Array();
    else if (type === "symlink" || type === "hardlink") links[e.path] = e.linkname ?? "";
  }
  return tar([{ path: MANIFEST_NAME, data: manifestFor(files, links, over) }, ...entries]);
}

/** How many leading bytes of `archive` hold its first entry (the manifest) and its data. */
export function firstEntryBytes(archive: Uint8Array): number {
  const size = parseInt(new TextDecoder().decode(archive.subarray(124, 136)).replace(/\0/g, "").trim() || "0", 8);
  return 512 + size + padding(size);
}
