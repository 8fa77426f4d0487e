/**
 * Safe extraction of a bundle into a slot directory. Every rule has its own error code:
 *   E_OTA_BUNDLE_ABSOLUTE     an absolute path
 *   E_OTA_BUNDLE_DOTDOT       a `..` component
 *   E_OTA_BUNDLE_LINK_ESCAPE  a symlink or hard link whose target leaves the slot, or any entry
 *                             reached through a symlink
 *   E_OTA_BUNDLE_DEVICE       a character/block device or FIFO
 *   E_OTA_BUNDLE_OVERSIZE     an entry larger than the manifest says (checked from the header,
 *                             before a byte is written)
 *   E_OTA_BUNDLE_UNLISTED     a file or link the manifest does not list
 *   E_OTA_BUNDLE_HASH         a file whose bytes do not match the manifest's sha256
 *   E_OTA_BUNDLE_MISSING      a listed file absent from the archive
 *   E_OTA_BUNDLE_MANIFEST     no valid manifest as the first entry
 *   E_OTA_BUNDLE_DUPLICATE    the same path twice
 *   E_OTA_BUNDLE_TYPE         another entry type
 *   E_OTA_BUNDLE_HEADER / E_OTA_BUNDLE_TRUNCATED  from the tar reader
 * Files are created exclusively (never through an existing path), fsynced, and the directories
 * fsynced at the end: when `finish()` resolves, the slot content is durable.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, constants, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync, fchmodSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { RidgeError, type ErrorCode } from "../core/index.js";
import { BUNDLE_FORMAT, MANIFEST_MAX_BYTES, MANIFEST_NAME, bundleManifest, type BundleManifest } from "./bundle-manifest.js";
import { TarReader, type TarEntry } from "./tar-codec.js";

function bad(code: ErrorCode, msg: string): RidgeError {
  return new RidgeError(code, `bundle: ${msg}`);
}

/** Normalise an archive path; refuse absolute and `..` paths. "" for the archive root. */
export function safeRelative(p: string): string {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith("\\")) throw bad("E_OTA_BUNDLE_ABSOLUTE", `absolute path "${p}"`);
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.some((x) => x === "..")) throw bad("E_OTA_BUNDLE_DOTDOT", `"${p}" has a '..' component`);
  if (parts.some((x) => x.includes("\\") || x.includes("\0"))) throw bad("E_OTA_BUNDLE_DOTDOT", `"${p}" has a backslash or NUL`);
  return parts.join("/");
}

export interface ExtractOptions {
  /** Refuse bundles whose listed files add up to more than this. */
  maxBytes?: number;
}

export class BundleExtractor {
  private readonly reader = new TarReader();
  private manifest: BundleManifest | undefined;
  private manifestBuf: Buffer[] = [];
  private current: { entry: TarEntry; rel: string; fd?: number; hash?: Hash; isManifest: boolean } | undefined;
  private readonly seen = new Set<string>();
  private readonly dirs = new Set<string>();
  private first = true;
  private ended = false;

  constructor(
    readonly slotDir: string,
    private readonly opts: ExtractOptions = {},
  ) {
    rmSync(slotDir, { recursive: true, force: true });
    mkdirSync(slotDir, { recursive: true });
    this.dirs.add(slotDir);
  }

  get bundleManifest(): BundleManifest | undefined {
    return this.manifest;
  }

  /** Feed archive bytes. Throws RidgeError on the first rule broken; the caller then wipes the slot. */
  push(chunk: Uint8Array): void {
    for (const ev of this.reader.push(chunk)) {
      if (ev.kind === "entry") this.begin(ev.entry);
      else if (ev.kind === "data") this.data(ev.chunk);
      else if (ev.kind === "entry-end") this.end();
      else this.ended = true;
    }
  }

  private notThroughSymlink(rel: string): void {
    const parts = rel.split("/");
    let p = this.slotDir;
    for (let i = 0; i < parts.length - 1; i++) {
      p = join(p, parts[i]!);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        return;
      }
      if (st.isSymbolicLink()) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `"${rel}" goes through the symlink "${parts.slice(0, i + 1).join("/")}"`);
    }
  }

  private mkdirs(rel: string): void {
    if (!rel) return;
    const parts = rel.split("/");
    let p = this.slotDir;
    for (const part of parts) {
      p = join(p, part);
      if (this.dirs.has(p)) continue;
      try {
        mkdirSync(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        if (!lstatSync(p).isDirectory()) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `"${rel}" goes through a non-directory`);
      }
      this.dirs.add(p);
    }
  }

  private begin(entry: TarEntry): void {
    const rel = safeRelative(entry.path);
    if (this.first) {
      this.first = false;
      if (rel !== MANIFEST_NAME || entry.type !== "file") throw bad("E_OTA_BUNDLE_MANIFEST", `the first entry must be ${MANIFEST_NAME}`);
      if (entry.size > MANIFEST_MAX_BYTES) throw bad("E_OTA_BUNDLE_MANIFEST", `the manifest is ${entry.size} bytes`);
      this.current = { entry, rel, isManifest: true };
      return;
    }
    const m = this.manifest!;
    if (rel === "") return;
    if (entry.type === "char" || entry.type === "block" || entry.type === "fifo") throw bad("E_OTA_BUNDLE_DEVICE", `"${rel}" is a device file or FIFO`);
    this.notThroughSymlink(rel);
    if (entry.type === "directory") {
      this.mkdirs(rel);
      return;
    }
    if (this.seen.has(rel) || rel === MANIFEST_NAME) throw bad("E_OTA_BUNDLE_DUPLICATE", `"${rel}" appears twice`);
    this.seen.add(rel);
    this.mkdirs(posix.dirname(rel) === "." ? "" : posix.dirname(rel));
    const dest = join(this.slotDir, rel);
    if (entry.type === "symlink") {
      if (entry.linkname.startsWith("/")) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `symlink "${rel}" points at the absolute path "${entry.linkname}"`);
      const resolved = posix.normalize(posix.join(posix.dirname(rel), entry.linkname));
      if (resolved === ".." || resolved.startsWith("../")) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `symlink "${rel}" → "${entry.linkname}" leaves the slot`);
      if (m.links[rel] !== entry.linkname) throw bad("E_OTA_BUNDLE_UNLISTED", `symlink "${rel}" is not in the manifest`);
      symlinkSync(entry.linkname, dest);
      return;
    }
    if (entry.type === "hardlink") {
      let target: string;
      try {
        target = safeRelative(entry.linkname);
      } catch {
        throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `hard link "${rel}" → "${entry.linkname}" leaves the slot`);
      }
      if (!this.seen.has(target) || !m.files[target]) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `hard link "${rel}" → "${entry.linkname}" names no file extracted into the slot`);
      if (m.links[rel] !== entry.linkname) throw bad("E_OTA_BUNDLE_UNLISTED", `hard link "${rel}" is not in the manifest`);
      this.notThroughSymlink(target);
      linkSync(join(this.slotDir, target), dest);
      return;
    }
    if (entry.type !== "file") throw bad("E_OTA_BUNDLE_TYPE", `"${rel}" has an entry type Ridgeline does not extract`);
    const want = Object.prototype.hasOwnProperty.call(m.files, rel) ? m.files[rel] : undefined;
    if (!want) throw bad("E_OTA_BUNDLE_UNLISTED", `"${rel}" is not in the manifest`);
    if (entry.size > want.size) throw bad("E_OTA_BUNDLE_OVERSIZE", `"${rel}" is ${entry.size} bytes, the manifest says ${want.size}`);
    const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    this.current = { entry, rel, fd, hash: createHash("sha256"), isManifest: false };
  }

  private data(chunk: Uint8Array): void {
    const c = this.current;
    if (!c) throw bad("E_OTA_BUNDLE_TYPE", "data outside a file entry");
    if (c.isManifest) {
      this.manifestBuf.push(Buffer.from(chunk));
      return;
    }
    if (c.fd === undefined) throw bad("E_OTA_BUNDLE_TYPE", `"${c.rel}" carries data`);
    c.hash!.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(c.fd, chunk, off, chunk.length - off);
  }

  private end(): void {
    const c = this.current;
    this.current = undefined;
    if (!c) return;
    if (c.isManifest) {
      let doc: unknown;
      try {
        doc = JSON.parse(Buffer.concat(this.manifestBuf).toString("utf8"));
      } catch {
        throw bad("E_OTA_BUNDLE_MANIFEST", "the manifest is not JSON");
      }
      const r = bundleManifest.safeParse(doc);
      if (!r.success) throw bad("E_OTA_BUNDLE_MANIFEST", `the manifest is not a ${BUNDLE_FORMAT} manifest (${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message})`);
      for (const p of [...Object.keys(r.data.files), ...Object.keys(r.data.links)]) safeRelative(p);
      const total = Object.values(r.data.files).reduce((a, f) => a + f.size, 0);
      if (this.opts.maxBytes !== undefined && total > this.opts.maxBytes) throw bad("E_OTA_BUNDLE_OVERSIZE", `the bundle unpacks to ${total} bytes, more than the ${this.opts.maxBytes} allowed`);
      this.manifest = r.data;
      return;
    }
    if (c.fd === undefined) return;
    const want = this.manifest!.files[c.rel]!;
    try {
      fchmodSync(c.fd, want.mode & 0o755);
      fsyncSync(c.fd);
    } finally {
      closeSync(c.fd);
    }
    if (c.hash!.digest("hex") !== want.sha256) throw bad("E_OTA_BUNDLE_HASH", `"${c.rel}" does not match its sha256 in the manifest`);
  }

  /** After the last byte: every listed file present, everything durable. */
  finish(): BundleManifest {
    this.reader.finish();
    if (!this.ended || !this.manifest) throw bad("E_OTA_BUNDLE_MANIFEST", "no manifest");
    for (const p of Object.keys(this.manifest.files)) if (!this.seen.has(p)) throw bad("E_OTA_BUNDLE_MISSING", `"${p}" is listed but not in the archive`);
    for (const p of Object.keys(this.manifest.links)) if (!this.seen.has(p)) throw bad("E_OTA_BUNDLE_MISSING", `link "${p}" is listed but not in the archive`);
    for (const d of [...this.dirs].sort((a, b) => b.length - a.length)) fsyncDir(d);
    fsyncDir(dirname(this.slotDir));
    return this.manifest;
  }

  /** Close whatever is open after a failure (the caller wipes the slot). */
  abort(): void {
    if (this.current?.fd !== undefined) {
      try {
        closeSync(this.current.fd);
      } catch {
        /* already closed */
      }
    }
    this.current = undefined;
  }
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    /* some filesystems refuse directory fsync */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
