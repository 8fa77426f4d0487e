/**
 * Safe extraction of a bundle into a slot directory. Every rule has its own error code:
 *   E_OTA_BUNDLE_ABSOLUTE     an absolute path
 *   E_OTA_BUNDLE_DOTDOT       a `..` component
 *   E_OTA_MANIFEST_PATH       a manifest path (entry, files, links) that is not one normalised
 *                             relative path inside the slot (refused before anything is written)
 *   E_OTA_BUNDLE_LINK_ESCAPE  a symlink or hard link whose target leaves the slot (resolved through
 *                             every link the slot holds, not lexically), or any entry reached
 *                             through a symlink
 *   E_OTA_BUNDLE_LINK_LOOP    a symlink that resolves through more than MAX_LINK_HOPS links
 *   E_OTA_BUNDLE_COLLISION    a path claimed as a directory and as a file or link (either order),
 *                             an entry under a file, or a name the slot reserves
 *   E_OTA_BUNDLE_DEVICE       a character/block device or FIFO
 *   E_OTA_BUNDLE_OVERSIZE     an entry larger than the manifest says (checked from the header,
 *                             before a byte is written)
 *   E_OTA_BUNDLE_UNLISTED     a file or link the manifest does not list
 *   E_OTA_BUNDLE_HASH         a file whose bytes do not match the manifest's sha256
 *   E_OTA_BUNDLE_MISSING      a listed file absent from the archive
 *   E_OTA_BUNDLE_MANIFEST     no valid manifest as the first entry
 *   E_OTA_BUNDLE_DUPLICATE    the same path twice (a file, link or hard link, in any pairing)
 *   E_OTA_BUNDLE_TYPE         another entry type
 *   E_OTA_BUNDLE_HEADER / E_OTA_BUNDLE_TRUNCATED  from the tar reader
 * The extractor keeps a model of what it wrote (every path: directory, file, symlink with its
 * target, hard link), so each decision is taken against what the slot holds, never by asking the
 * file system through a path a link could redirect. Files are created exclusively (O_EXCL,
 * O_NOFOLLOW), fsynced, and the directories fsynced at the end: when `finish()` resolves, the slot
 * content is durable. On any refusal (and on `abort()`) the slot directory is emptied: a refused
 * bundle leaves nothing extracted behind.
 */
import { createHash, type Hash } from "node:crypto";
import { closeSync, constants, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, writeSync, fchmodSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { RidgeError, type ErrorCode } from "../core/index.js";
import { BUNDLE_FORMAT, MANIFEST_MAX_BYTES, MANIFEST_NAME, RESERVED_SLOT_NAMES, bundleManifest, manifestPathProblem, slotPathProblem, type BundleManifest } from "./bundle-manifest.js";
import { TarReader, type TarEntry } from "./tar-codec.js";

/** Linux's MAXSYMLINKS: more links than this in one resolution is ELOOP for the kernel too. */
export const MAX_LINK_HOPS = 40;

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

/** What the slot holds at a path. */
type Node = { kind: "dir" } | { kind: "file" } | { kind: "hardlink" } | { kind: "symlink"; target: string };

const KIND_NAME = { dir: "a directory", file: "a file", hardlink: "a hard link", symlink: "a symlink" } as const;

/** Where a symlink leads, resolved through the links the slot holds: inside (a path, or dangling), or out. */
type Resolution = { ok: true } | { ok: false; code: "E_OTA_BUNDLE_LINK_ESCAPE" | "E_OTA_BUNDLE_LINK_LOOP"; why: string };

export interface ExtractOptions {
  /** Refuse bundles whose listed files add up to more than this. */
  maxBytes?: number;
  /**
   * Skip re-hashing each file against the manifest: only for bytes that each passed a signed chunk
   * index whose publisher extracted the same bundle with every check (`custom.chunks.bundleChecked`,
   * ota/tuf-repository.ts), so the hashes were checked once, before signing. Sizes are still exact.
   */
  fileHashesCheckedAtPublish?: boolean;
}

export class BundleExtractor {
  private readonly reader = new TarReader();
  private manifest: BundleManifest | undefined;
  private manifestBuf: Buffer[] = [];
  private current: { entry: TarEntry; rel: string; fd?: number; hash?: Hash; isManifest: boolean } | undefined;
  /** Every path extracted so far ("" is the slot itself). */
  private readonly nodes = new Map<string, Node>([["", { kind: "dir" }]]);
  private first = true;
  private ended = false;
  private failure: unknown;

  constructor(
    readonly slotDir: string,
    private readonly opts: ExtractOptions = {},
  ) {
    rmSync(slotDir, { recursive: true, force: true });
    mkdirSync(slotDir, { recursive: true });
  }

  get bundleManifest(): BundleManifest | undefined {
    return this.manifest;
  }

  /** Feed archive bytes. Throws RidgeError on the first rule broken, after emptying the slot. */
  push(chunk: Uint8Array): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      for (const ev of this.reader.push(chunk)) {
        if (ev.kind === "entry") this.begin(ev.entry);
        else if (ev.kind === "data") this.data(ev.chunk);
        else if (ev.kind === "entry-end") this.end();
        else this.ended = true;
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): never {
    this.failure = e;
    this.abort();
    throw e;
  }

  /** Every parent of `rel` must be a directory (or not exist yet): nothing is written through a link or under a file. */
  private parentsAreDirs(rel: string): void {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      const n = this.nodes.get(p);
      if (!n || n.kind === "dir") continue;
      if (n.kind === "symlink") throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `"${rel}" goes through the symlink "${p}"`);
      throw bad("E_OTA_BUNDLE_COLLISION", `"${rel}" goes through "${p}", which is ${KIND_NAME[n.kind]}, not a directory`);
    }
  }

  private mkdirs(rel: string): void {
    if (!rel) return;
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (this.nodes.has(p)) continue;
      const abs = join(this.slotDir, p);
      mkdirSync(abs);
      // The model says nothing is there; the disk must agree (no path of ours was redirected).
      if (!lstatSync(abs).isDirectory()) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `"${rel}" goes through a non-directory`);
      this.nodes.set(p, { kind: "dir" });
    }
  }

  /**
   * Resolve the symlink at `link` through what the slot holds, as the kernel would: a `..` from
   * the slot itself is an escape; a link met on the way is followed (at most MAX_LINK_HOPS); a
   * path that does not exist (yet) or a file used as a directory ends the walk, since the kernel
   * would stop there too (ENOENT, ENOTDIR) — `finish()` resolves every link again once all exist.
   */
  private resolveLink(link: string): Resolution {
    const n = this.nodes.get(link);
    if (n?.kind !== "symlink") return { ok: true };
    const stack = link.split("/").slice(0, -1);
    const todo = n.target.split("/").reverse();
    let hops = 1;
    while (todo.length) {
      const part = todo.pop()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (stack.length === 0) return { ok: false, code: "E_OTA_BUNDLE_LINK_ESCAPE", why: "climbs out of the slot" };
        stack.pop();
        continue;
      }
      if (part.startsWith("/")) return { ok: false, code: "E_OTA_BUNDLE_LINK_ESCAPE", why: "reaches an absolute path" };
      stack.push(part);
      const at = this.nodes.get(stack.join("/"));
      if (!at) return { ok: true };
      if (at.kind === "symlink") {
        if (++hops > MAX_LINK_HOPS) return { ok: false, code: "E_OTA_BUNDLE_LINK_LOOP", why: `passes through more than ${MAX_LINK_HOPS} links` };
        if (at.target.startsWith("/")) return { ok: false, code: "E_OTA_BUNDLE_LINK_ESCAPE", why: `goes through "${stack.join("/")}", which points at an absolute path` };
        stack.pop();
        for (const q of at.target.split("/").reverse()) todo.push(q);
        continue;
      }
      if (at.kind !== "dir" && todo.length) return { ok: true };
    }
    return { ok: true };
  }

  private checkLink(link: string): void {
    const r = this.resolveLink(link);
    if (!r.ok) {
      const n = this.nodes.get(link) as { target: string };
      throw bad(r.code, `symlink "${link}" → "${n.target}" ${r.why} (resolved through the links the slot holds)`);
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
    if (rel === MANIFEST_NAME && entry.type !== "directory") throw bad("E_OTA_BUNDLE_DUPLICATE", `"${rel}" appears twice`);
    if (RESERVED_SLOT_NAMES.has(rel)) throw bad("E_OTA_BUNDLE_COLLISION", `${entry.type} "${rel}": the slot reserves that name for itself`);
    this.parentsAreDirs(rel);
    const had = this.nodes.get(rel);
    if (entry.type === "directory") {
      if (had && had.kind !== "dir") throw bad("E_OTA_BUNDLE_COLLISION", `directory "${rel}": ${KIND_NAME[had.kind]} of that name is already in the slot`);
      this.mkdirs(rel);
      return;
    }
    if (had?.kind === "dir") throw bad("E_OTA_BUNDLE_COLLISION", `${entry.type} "${rel}": a directory of that name is already in the slot`);
    if (had) throw bad("E_OTA_BUNDLE_DUPLICATE", `"${rel}" appears twice (${KIND_NAME[had.kind]}, then ${entry.type === "file" ? "a file" : entry.type === "symlink" ? "a symlink" : entry.type === "hardlink" ? "a hard link" : `a ${entry.type}`})`);
    this.mkdirs(posix.dirname(rel) === "." ? "" : posix.dirname(rel));
    const dest = join(this.slotDir, rel);
    if (entry.type === "symlink") {
      if (entry.linkname.startsWith("/")) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `symlink "${rel}" points at the absolute path "${entry.linkname}"`);
      const resolved = posix.normalize(posix.join(posix.dirname(rel), entry.linkname));
      if (resolved === ".." || resolved.startsWith("../")) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `symlink "${rel}" → "${entry.linkname}" leaves the slot`);
      if (m.links[rel] !== entry.linkname) throw bad("E_OTA_BUNDLE_UNLISTED", `symlink "${rel}" is not in the manifest`);
      this.nodes.set(rel, { kind: "symlink", target: entry.linkname });
      this.checkLink(rel);
      symlinkSync(entry.linkname, dest);
      return;
    }
    if (entry.type === "hardlink") {
      const target = entry.linkname;
      if (slotPathProblem(target) !== undefined) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `hard link "${rel}" → "${target}" is not a path inside the slot`);
      const t = this.nodes.get(target);
      if ((t?.kind !== "file" && t?.kind !== "hardlink") || !Object.prototype.hasOwnProperty.call(m.files, target)) throw bad("E_OTA_BUNDLE_LINK_ESCAPE", `hard link "${rel}" → "${target}" names no file extracted into the slot`);
      if (m.links[rel] !== target) throw bad("E_OTA_BUNDLE_UNLISTED", `hard link "${rel}" is not in the manifest`);
      this.parentsAreDirs(target);
      this.nodes.set(rel, { kind: "hardlink" });
      linkSync(join(this.slotDir, target), dest);
      return;
    }
    if (entry.type !== "file") throw bad("E_OTA_BUNDLE_TYPE", `"${rel}" has an entry type Ridgeline does not extract`);
    const want = Object.prototype.hasOwnProperty.call(m.files, rel) ? m.files[rel] : undefined;
    if (!want) throw bad("E_OTA_BUNDLE_UNLISTED", `"${rel}" is not in the manifest`);
    if (entry.size > want.size) throw bad("E_OTA_BUNDLE_OVERSIZE", `"${rel}" is ${entry.size} bytes, the manifest says ${want.size}`);
    const trusted = this.opts.fileHashesCheckedAtPublish === true;
    if (trusted && entry.size !== want.size) throw bad("E_OTA_BUNDLE_HASH", `"${rel}" is ${entry.size} bytes, the manifest says ${want.size}`);
    this.nodes.set(rel, { kind: "file" });
    const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    this.current = { entry, rel, fd, ...(trusted ? {} : { hash: createHash("sha256") }), isManifest: false };
  }

  private data(chunk: Uint8Array): void {
    const c = this.current;
    if (!c) throw bad("E_OTA_BUNDLE_TYPE", "data outside a file entry");
    if (c.isManifest) {
      this.manifestBuf.push(Buffer.from(chunk));
      return;
    }
    if (c.fd === undefined) throw bad("E_OTA_BUNDLE_TYPE", `"${c.rel}" carries data`);
    c.hash?.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(c.fd, chunk, off, chunk.length - off);
  }

  private end(): void {
    const c = this.current;
    if (!c) return;
    if (c.isManifest) {
      this.current = undefined;
      let doc: unknown;
      try {
        doc = JSON.parse(Buffer.concat(this.manifestBuf).toString("utf8"));
      } catch {
        throw bad("E_OTA_BUNDLE_MANIFEST", "the manifest is not JSON");
      }
      const r = bundleManifest.safeParse(doc);
      if (!r.success) throw bad("E_OTA_BUNDLE_MANIFEST", `the manifest is not a ${BUNDLE_FORMAT} manifest (${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message})`);
      const p = manifestPathProblem(r.data, MANIFEST_NAME);
      if (p) throw new RidgeError(p.code, `bundle: ${p.reason}`);
      const total = Object.values(r.data.files).reduce((a, f) => a + f.size, 0);
      if (this.opts.maxBytes !== undefined && total > this.opts.maxBytes) throw bad("E_OTA_BUNDLE_OVERSIZE", `the bundle unpacks to ${total} bytes, more than the ${this.opts.maxBytes} allowed`);
      this.manifest = r.data;
      return;
    }
    if (c.fd === undefined) {
      this.current = undefined;
      return;
    }
    const want = this.manifest!.files[c.rel]!;
    try {
      fchmodSync(c.fd, want.mode & 0o755);
      fsyncSync(c.fd);
    } finally {
      closeSync(c.fd);
      this.current = undefined;
    }
    if (c.hash && c.hash.digest("hex") !== want.sha256) throw bad("E_OTA_BUNDLE_HASH", `"${c.rel}" does not match its sha256 in the manifest`);
  }

  /** After the last byte: every listed file present, every link resolved inside, everything durable. Throws after emptying the slot. */
  finish(): BundleManifest {
    if (this.failure !== undefined) throw this.failure;
    try {
      this.reader.finish();
      if (!this.ended || !this.manifest) throw bad("E_OTA_BUNDLE_MANIFEST", "no manifest");
      for (const p of Object.keys(this.manifest.files)) if (this.nodes.get(p)?.kind !== "file") throw bad("E_OTA_BUNDLE_MISSING", `"${p}" is listed but not in the archive`);
      for (const p of Object.keys(this.manifest.links)) {
        const k = this.nodes.get(p)?.kind;
        if (k !== "symlink" && k !== "hardlink") throw bad("E_OTA_BUNDLE_MISSING", `link "${p}" is listed but not in the archive`);
      }
      // A link that was dangling when written may lead elsewhere now that every entry is there.
      for (const [p, n] of this.nodes) if (n.kind === "symlink") this.checkLink(p);
      const dirs = [...this.nodes].filter(([, n]) => n.kind === "dir").map(([p]) => join(this.slotDir, p));
      for (const d of dirs.sort((a, b) => b.length - a.length)) fsyncDir(d);
      fsyncDir(dirname(this.slotDir));
      return this.manifest;
    } catch (e) {
      this.fail(e);
    }
  }

  /** Close whatever is open and empty the slot (after a refusal, or when the caller refuses the bundle itself). */
  abort(): void {
    if (this.current?.fd !== undefined) {
      try {
        closeSync(this.current.fd);
      } catch {
        /* already closed */
      }
    }
    this.current = undefined;
    emptyDir(this.slotDir);
  }
}

/** Remove everything inside `dir` (links themselves, never what they point at), keeping `dir`. */
export function emptyDir(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) rmSync(join(dir, n), { recursive: true, force: true });
  fsyncDir(dir);
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
