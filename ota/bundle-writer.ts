/**
 * Writes a bundle: the manifest first, then directories, files and links, as a ustar archive.
 * Files are hashed in a first pass (the manifest needs their sha256) and streamed in a second.
 * Every path is held to the extractor's rules first (bundle-manifest.ts: normalised, inside the slot).
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, fsyncSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { RidgeError } from "../core/index.js";
import { BUNDLE_FORMAT, MANIFEST_NAME, manifestPathProblem, type BundleManifest } from "./bundle-manifest.js";
import { END_OF_ARCHIVE, encodeHeader, padding } from "./tar-codec.js";
import type { ArtifactKind } from "./tuf-metadata.js";

export interface BundleInput {
  kind: ArtifactKind;
  version: string;
  board: string;
  arch: string;
  entry?: string;
  /**
   * Path in the bundle → a source file on disk (its mode taken from the file, & 0755), or a file
   * described by the caller: copied from `src` or written from `bytes`, with exactly `mode`.
   */
  files: Map<string, string | BundleFileSource>;
  /** Path in the bundle → relative symlink target. */
  symlinks?: Map<string, string>;
  created?: Date;
}

export interface BundleFileSource {
  src?: string;
  bytes?: Uint8Array;
  mode: number;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest("hex");
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

export async function writeBundle(out: string, input: BundleInput): Promise<BundleManifest> {
  // The extractor's path rules, before a byte is read: never publish a bundle every device refuses.
  const paths0 = { ...(input.entry !== undefined ? { entry: input.entry } : {}), files: Object.fromEntries([...input.files.keys()].map((p) => [p, 0])), links: Object.fromEntries(input.symlinks ?? []) };
  const refused = manifestPathProblem(paths0, `bundle ${out}`);
  if (refused) throw new RidgeError(refused.code, refused.reason);
  const files: BundleManifest["files"] = {};
  const paths = [...input.files.keys()].sort();
  for (const p of paths) {
    const f = input.files.get(p)!;
    if (typeof f !== "string" && f.bytes) {
      files[p] = { size: f.bytes.length, sha256: createHash("sha256").update(f.bytes).digest("hex"), mode: f.mode };
      continue;
    }
    const src = typeof f === "string" ? f : f.src;
    if (src === undefined) throw new RidgeError("E_OTA_BUNDLE_ENTRY", `${p}: neither a source file nor bytes`);
    const st = statSync(src);
    if (!st.isFile()) throw new RidgeError("E_OTA_BUNDLE_INPUT", `${src} is not a regular file`);
    files[p] = { size: st.size, sha256: await sha256File(src), mode: typeof f === "string" ? st.mode & 0o755 : f.mode };
  }
  const links: Record<string, string> = {};
  for (const [p, t] of [...(input.symlinks ?? new Map<string, string>())].sort()) links[p] = t;
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    kind: input.kind,
    version: input.version,
    board: input.board,
    arch: input.arch,
    ...(input.entry ? { entry: input.entry } : {}),
    created: (input.created ?? new Date()).toISOString(),
    files,
    links,
  };
  const tmp = `${out}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  const mtime = Math.floor((input.created ?? new Date()).getTime() / 1000);
  try {
    const mbytes = new TextEncoder().encode(JSON.stringify(manifest, null, 1));
    writeAll(fd, encodeHeader({ path: MANIFEST_NAME, type: "file", mode: 0o644, size: mbytes.length, linkname: "", mtime }));
    writeAll(fd, mbytes);
    writeAll(fd, new Uint8Array(padding(mbytes.length)));
    const dirs = new Set<string>();
    for (const p of [...paths, ...Object.keys(links)]) {
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
    }
    for (const d of [...dirs].sort()) writeAll(fd, encodeHeader({ path: `${d}/`, type: "directory", mode: 0o755, size: 0, linkname: "", mtime }));
    for (const p of paths) {
      const f = files[p]!;
      writeAll(fd, encodeHeader({ path: p, type: "file", mode: f.mode, size: f.size, linkname: "", mtime }));
      const source = input.files.get(p)!;
      let n = 0;
      if (typeof source !== "string" && source.bytes) {
        writeAll(fd, source.bytes);
        n = source.bytes.length;
      } else {
        const src = typeof source === "string" ? source : source.src!;
        for await (const c of createReadStream(src, { highWaterMark: 1 << 20 })) {
          writeAll(fd, c as Buffer);
          n += (c as Buffer).length;
        }
      }
      if (n !== f.size) throw new RidgeError("E_OTA_BUNDLE_INPUT", `${typeof source === "string" ? source : (source.src ?? p)} changed while bundling`);
      writeAll(fd, new Uint8Array(padding(f.size)));
    }
    for (const [p, t] of Object.entries(links)) writeAll(fd, encodeHeader({ path: p, type: "symlink", mode: 0o777, size: 0, linkname: t, mtime }));
    writeAll(fd, END_OF_ARCHIVE);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, out);
  return manifest;
}
