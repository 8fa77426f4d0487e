/**
 * POSIX ustar (IEEE Std 1003.1-2001, `pax` format) headers and a streaming reader, over
 * Uint8Array only (no I/O). The reader is total: malformed input ends in a RidgeError with a
 * stable code, never a read past the end. It understands pax extended headers (`x`, path,
 * linkpath, size) and GNU long names (`L`, `K`) so that a hostile archive cannot hide a path in them.
 *
 *   offset size field            offset size field
 *     0    100 name               257    6  magic "ustar\0"
 *   100      8 mode               263    2  version "00"
 *   108      8 uid                265   32  uname
 *   116      8 gid                297   32  gname
 *   124     12 size (octal)       329    8  devmajor
 *   136     12 mtime              337    8  devminor
 *   148      8 chksum             345  155  prefix
 *   156      1 typeflag           500   12  (pad)
 *   157    100 linkname
 */
import { RidgeError, type ErrorCode } from "../core/index.js";

export const BLOCK = 512;

export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "directory" | "fifo" | "other";

export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  size: number;
  linkname: string;
  mtime: number;
}

const TYPES: Record<string, TarEntryType> = { "0": "file", "\0": "file", "7": "file", "1": "hardlink", "2": "symlink", "3": "char", "4": "block", "5": "directory", "6": "fifo" };

function bad(code: ErrorCode, msg: string, offset?: number): RidgeError {
  return new RidgeError(code, `bundle: ${msg}${offset !== undefined ? ` at byte ${offset}` : ""}`);
}

function readString(h: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && h[end] !== 0) end++;
  return new TextDecoder().decode(h.subarray(off, end));
}

function readOctal(h: Uint8Array, off: number, len: number, at: number): number {
  // GNU base-256 for large sizes: high bit of the first byte set.
  if ((h[off]! & 0x80) !== 0) {
    let v = h[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + h[off + i]!;
    if (!Number.isSafeInteger(v)) throw bad("E_OTA_BUNDLE_HEADER", "a numeric field overflows", at);
    return v;
  }
  const s = readString(h, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw bad("E_OTA_BUNDLE_HEADER", `a numeric field is not octal ("${s}")`, at);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw bad("E_OTA_BUNDLE_HEADER", "a numeric field overflows", at);
  return v;
}

function checksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum;
}

function writeString(h: Uint8Array, off: number, len: number, s: string): void {
  const b = new TextEncoder().encode(s);
  if (b.length > len) throw new RidgeError("E_OTA_BUNDLE_NAME", `tar field too long: ${s}`);
  h.set(b, off);
}

function writeOctal(h: Uint8Array, off: number, len: number, v: number): void {
  if (v >= 8 ** (len - 1)) {
    // base-256
    h[off] = 0x80;
    let x = v;
    for (let i = len - 1; i > 0; i--) {
      h[off + i] = x % 256;
      x = Math.floor(x / 256);
    }
    return;
  }
  writeString(h, off, len - 1, v.toString(8).padStart(len - 1, "0"));
}

/** One 512-byte ustar header. Paths over 100 bytes are split into prefix/name at a '/'. */
export function encodeHeader(e: TarEntry): Uint8Array {
  const h = new Uint8Array(BLOCK);
  let name = e.path;
  let prefix = "";
  if (new TextEncoder().encode(name).length > 100) {
    const i = name.lastIndexOf("/", 155);
    if (i <= 0 || new TextEncoder().encode(name.slice(i + 1)).length > 100) throw new RidgeError("E_OTA_BUNDLE_NAME", `path too long for ustar: ${e.path}`);
    prefix = name.slice(0, i);
    name = name.slice(i + 1);
  }
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, e.mode & 0o7777);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, e.size);
  writeOctal(h, 136, 12, Math.floor(e.mtime));
  const flag = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", directory: "5", fifo: "6", other: "0" }[e.type];
  h[156] = flag.charCodeAt(0);
  writeString(h, 157, 100, e.linkname);
  writeString(h, 257, 6, "ustar");
  writeString(h, 263, 2, "00");
  writeString(h, 345, 155, prefix);
  writeString(h, 148, 7, checksum(h).toString(8).padStart(6, "0"));
  h[155] = 0x20;
  return h;
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = new Uint8Array(2 * BLOCK);

function parsePax(data: Uint8Array, at: number): Record<string, string> {
  // pax records: "%d %s=%s\n", the length counting the whole record.
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    let j = i;
    while (j < data.length && data[j] !== 0x20) j++;
    const len = Number(new TextDecoder().decode(data.subarray(i, j)));
    if (!Number.isSafeInteger(len) || len <= j - i || i + len > data.length) throw bad("E_OTA_BUNDLE_HEADER", "malformed pax record", at);
    const rec = new TextDecoder().decode(data.subarray(j + 1, i + len - 1));
    const eq = rec.indexOf("=");
    if (eq < 0) throw bad("E_OTA_BUNDLE_HEADER", "malformed pax record", at);
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

export type TarEvent = { kind: "entry"; entry: TarEntry; offset: number } | { kind: "data"; chunk: Uint8Array } | { kind: "entry-end" } | { kind: "end" };

const META_MAX = 64 * 1024;

/**
 * A push parser: feed chunks of any size, get events. `data` events carry the entry's content
 * (sub-arrays of the input, valid until the next push). After the end-of-archive blocks, further
 * bytes are ignored; `finish()` throws E_OTA_BUNDLE_TRUNCATED if the archive stopped early.
 */
export class TarReader {
  private state: "header" | "data" | "pad" | "meta" | "done" = "header";
  private header = new Uint8Array(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private pad = 0;
  private offset = 0;
  private zeroBlocks = 0;
  private meta: { type: string; buf: Uint8Array; fill: number } | undefined;
  private pax: Record<string, string> = {};
  private gnuName: string | undefined;
  private gnuLink: string | undefined;

  push(chunk: Uint8Array): TarEvent[] {
    const out: TarEvent[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.state === "done") return out;
      if (this.state === "header") {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        this.offset += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader(out);
        }
      } else if (this.state === "data" || this.state === "meta") {
        const n = Math.min(this.remaining, chunk.length - i);
        const part = chunk.subarray(i, i + n);
        if (this.state === "data") out.push({ kind: "data", chunk: part });
        else {
          this.meta!.buf.set(part, this.meta!.fill);
          this.meta!.fill += n;
        }
        this.remaining -= n;
        i += n;
        this.offset += n;
        if (this.remaining === 0) this.afterContent(out);
      } else {
        const n = Math.min(this.pad, chunk.length - i);
        this.pad -= n;
        i += n;
        this.offset += n;
        if (this.pad === 0) this.state = "header";
      }
    }
    return out;
  }

  private afterContent(out: TarEvent[]): void {
    if (this.state === "meta") {
      const m = this.meta!;
      this.meta = undefined;
      if (m.type === "x") this.pax = parsePax(m.buf, this.offset);
      else if (m.type === "L") this.gnuName = readString(m.buf, 0, m.buf.length);
      else if (m.type === "K") this.gnuLink = readString(m.buf, 0, m.buf.length);
    } else out.push({ kind: "entry-end" });
    this.state = this.pad > 0 ? "pad" : "header";
  }

  private onHeader(out: TarEvent[]): void {
    const h = this.header;
    const at = this.offset - BLOCK;
    if (h.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) {
        this.state = "done";
        out.push({ kind: "end" });
      }
      return;
    }
    if (this.zeroBlocks) throw bad("E_OTA_BUNDLE_HEADER", "a lone zero block inside the archive", at);
    const stored = readOctal(h, 148, 8, at);
    if (stored !== checksum(h)) throw bad("E_OTA_BUNDLE_HEADER", "header checksum mismatch", at);
    const flag = String.fromCharCode(h[156]!);
    let size = readOctal(h, 124, 12, at);
    if (flag === "x" || flag === "L" || flag === "K" || flag === "g") {
      if (size > META_MAX) throw bad("E_OTA_BUNDLE_HEADER", `an extended header of ${size} bytes`, at);
      this.meta = { type: flag, buf: new Uint8Array(size), fill: 0 };
      this.remaining = size;
      this.pad = padding(size);
      this.state = size > 0 ? "meta" : "header";
      if (size === 0) this.afterContent(out);
      return;
    }
    const magic = readString(h, 257, 6);
    const prefix = magic.startsWith("ustar") ? readString(h, 345, 155) : "";
    let path = this.gnuName ?? (prefix ? `${prefix}/${readString(h, 0, 100)}` : readString(h, 0, 100));
    let linkname = this.gnuLink ?? readString(h, 157, 100);
    if (this.pax.path !== undefined) path = this.pax.path;
    if (this.pax.linkpath !== undefined) linkname = this.pax.linkpath;
    if (this.pax.size !== undefined) {
      if (!/^\d+$/.test(this.pax.size)) throw bad("E_OTA_BUNDLE_HEADER", "pax size is not a number", at);
      size = Number(this.pax.size);
    }
    this.pax = {};
    this.gnuName = undefined;
    this.gnuLink = undefined;
    const type = TYPES[flag] ?? "other";
    if (type !== "file") size = type === "other" ? size : 0;
    const entry: TarEntry = { path, type, mode: readOctal(h, 100, 8, at), size, linkname, mtime: readOctal(h, 136, 12, at) };
    out.push({ kind: "entry", entry, offset: at });
    this.remaining = size;
    this.pad = padding(size);
    if (size > 0) this.state = "data";
    else {
      out.push({ kind: "entry-end" });
      this.state = "header";
    }
  }

  /** Call at end of input. */
  finish(): void {
    if (this.state !== "done") throw bad("E_OTA_BUNDLE_TRUNCATED", "the archive ends before its end-of-archive blocks", this.offset);
  }
}
