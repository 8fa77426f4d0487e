/**
 * Content-defined chunks of an artifact, for delta downloads. The publisher cuts every file
 * inside a runtime bundle (or the whole artifact, when it is not a tar) with a gear rolling hash:
 * a cut falls where the hash's low bits are zero, so an edit moves only the cuts near it and the
 * chunks of every unchanged file stay the same. What lies between files in a tar (headers,
 * padding) is "glue", shipped as one blob. The device cuts the files of its running slot the same
 * way, copies the chunks it already holds and fetches the rest.
 *
 * The index (JSON) lists the artifact as pieces in order: `["c", length, sha256]` for a chunk,
 * `["g", length]` for the next `length` bytes of the glue blob. It is stored in the repository by
 * its sha256 (`targets/chunks/<sha256>.index`), and the signed target names that hash and length in
 * `custom.chunks`: the targets role signs the index, the index signs every chunk, and the whole
 * target's TUF hashes are checked over the assembled file as for a plain download.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { fail, ok, type ErrorCode, type Result } from "../core/index.js";

export const CHUNK_FORMAT = "ridge-cdc/1";
export const MIN_CHUNK = 16 * 1024;
export const MAX_CHUNK = 256 * 1024;
/** 16 low bits zero: 64 KiB average past the minimum. */
const MASK = 0xffff;

/** 256 fixed pseudo-random 32-bit values (SHA-256 of the byte value): the same on every device. */
const GEAR = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) t[i] = createHash("sha256").update(`ridge-gear-${i}`).digest().readUInt32BE(0);
  return t;
})();

/**
 * Cuts a byte stream into chunks; feed it in any slices, it calls `emit` with each chunk's length
 * as its end is found (the caller keeps the bytes). Boundaries depend only on the content.
 */
export class Chunker {
  private h = 0;
  private n = 0;
  constructor(private readonly emit: (length: number) => void) {}
  push(b: Uint8Array): void {
    const gear = GEAR;
    let h = this.h;
    let n = this.n;
    for (let i = 0; i < b.length; i++) {
      h = ((h << 1) + gear[b[i]!]!) >>> 0;
      n++;
      if ((n >= MIN_CHUNK && (h & MASK) === 0) || n >= MAX_CHUNK) {
        this.emit(n);
        n = 0;
        h = 0;
      }
    }
    this.h = h;
    this.n = n;
  }
  /** The last chunk (if any bytes are left). */
  end(): void {
    if (this.n > 0) this.emit(this.n);
    this.n = 0;
    this.h = 0;
  }
}

export type Piece = ["c", number, string] | ["g", number];

export interface ChunkIndex {
  format: typeof CHUNK_FORMAT;
  length: number;
  glue: { sha256: string; length: number };
  pieces: Piece[];
}

/** What the signed target says of its index (`custom.chunks`). */
export interface ChunkRef {
  format: typeof CHUNK_FORMAT;
  sha256: string;
  length: number;
  /** The publisher extracted this bundle with every check (file hashes included) before signing. */
  bundleChecked?: true;
}

const HEX64 = /^[0-9a-f]{64}$/;

export function chunkPath(sha256: string): string {
  return `targets/chunks/${sha256}`;
}

export function indexPath(ref: ChunkRef): string {
  return `targets/chunks/${ref.sha256}.index`;
}

/** `custom.chunks` when it is a chunk reference this device understands, else undefined (full download). */
export function parseChunkRef(v: unknown): ChunkRef | undefined {
  if (!v || typeof v !== "object") return undefined;
  const r = v as Record<string, unknown>;
  if (r.format !== CHUNK_FORMAT || typeof r.sha256 !== "string" || !HEX64.test(r.sha256)) return undefined;
  if (typeof r.length !== "number" || !Number.isSafeInteger(r.length) || r.length <= 0 || r.length > 64 * 1024 * 1024) return undefined;
  return { format: CHUNK_FORMAT, sha256: r.sha256, length: r.length, ...(r.bundleChecked === true ? { bundleChecked: true as const } : {}) };
}

/** A downloaded index, checked against its reference and the target's length. */
export function parseChunkIndex(bytes: Uint8Array, ref: ChunkRef, targetLength: number): Result<ChunkIndex, ErrorCode> {
  const bad = (why: string) => fail("E_OTA_CHUNK_INDEX", `chunk index ${ref.sha256.slice(0, 12)}…: ${why}`);
  if (bytes.length !== ref.length) return bad(`${bytes.length} bytes, the signed target says ${ref.length}`);
  if (createHash("sha256").update(bytes).digest("hex") !== ref.sha256) return bad("its sha256 is not the signed one");
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    return bad("not JSON");
  }
  const o = j as Partial<ChunkIndex>;
  if (!o || o.format !== CHUNK_FORMAT || o.length !== targetLength || !o.glue || !HEX64.test(String(o.glue.sha256)) || !Number.isSafeInteger(o.glue.length) || !Array.isArray(o.pieces))
    return bad(`not a ${CHUNK_FORMAT} index of a ${targetLength}-byte target`);
  let total = 0;
  let glue = 0;
  for (const p of o.pieces as unknown[]) {
    if (!Array.isArray(p)) return bad("a piece is not a list");
    const [kind, len, sha] = p as unknown[];
    if (typeof len !== "number" || !Number.isSafeInteger(len) || len <= 0 || len > MAX_CHUNK * 4) return bad(`a piece of length ${String(len)}`);
    if (kind === "c") {
      if (typeof sha !== "string" || !HEX64.test(sha) || p.length !== 3) return bad("a chunk without its sha256");
    } else if (kind === "g") {
      if (p.length !== 2) return bad("a glue piece with extra fields");
      glue += len;
    } else return bad(`a piece of kind ${JSON.stringify(kind)}`);
    total += len;
  }
  if (total !== targetLength) return bad(`its pieces add up to ${total} bytes, the target has ${targetLength}`);
  if (glue !== o.glue.length) return bad(`its glue pieces add up to ${glue} bytes, the blob has ${o.glue.length}`);
  return ok(o as ChunkIndex);
}

/** The byte ranges of file contents inside a ustar/pax archive; undefined when `f` is not one. */
function tarFileRanges(read: (pos: number, len: number) => Uint8Array, size: number): [number, number][] | undefined {
  const out: [number, number][] = [];
  let pos = 0;
  while (pos + 512 <= size) {
    const h = read(pos, 512);
    if (h.every((b) => b === 0)) return out;
    if (Buffer.from(h.subarray(257, 262)).toString("latin1") !== "ustar") return undefined;
    const sizeField = Buffer.from(h.subarray(124, 136)).toString("latin1").replace(/\0.*$/, "").trim();
    if (!/^[0-7]*$/.test(sizeField)) return undefined;
    const n = sizeField === "" ? 0 : parseInt(sizeField, 8);
    const type = String.fromCharCode(h[156]!);
    if ((type === "0" || type === "\0") && n > 0) out.push([pos + 512, n]);
    pos += 512 + Math.ceil(n / 512) * 512;
  }
  return pos <= size ? out : undefined;
}

export interface BuiltIndex {
  index: ChunkIndex;
  /** Every chunk's sha256 with where it lies in the artifact. */
  chunks: Map<string, { offset: number; length: number }>;
  /** The glue pieces' ranges, in order. */
  glueRanges: [number, number][];
}

/** `len` bytes of an open file from `pos` (fewer at its end). */
export function readRange(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return b.subarray(0, got);
}

/** Build the index of an artifact on disk (a runtime bundle, or any file). */
export function buildChunkIndex(file: string, size: number): BuiltIndex {
  const fd = openSync(file, "r");
  try {
    const read = (pos: number, len: number) => readRange(fd, pos, len);
    const ranges = tarFileRanges(read, size) ?? [[0, size]];
    const pieces: Piece[] = [];
    const chunks = new Map<string, { offset: number; length: number }>();
    const glueRanges: [number, number][] = [];
    const glue = createHash("sha256");
    let glueLength = 0;
    const addGlue = (from: number, to: number) => {
      for (let p = from; p < to; p += MAX_CHUNK) {
        const len = Math.min(MAX_CHUNK, to - p);
        glue.update(read(p, len));
        pieces.push(["g", len]);
        glueRanges.push([p, len]);
        glueLength += len;
      }
    };
    let pos = 0;
    for (const [start, len] of ranges) {
      addGlue(pos, start);
      chunkRange(read, start, len, (off, n, sha) => {
        pieces.push(["c", n, sha]);
        if (!chunks.has(sha)) chunks.set(sha, { offset: off, length: n });
      });
      pos = start + len;
    }
    addGlue(pos, size);
    return { index: { format: CHUNK_FORMAT, length: size, glue: { sha256: glue.digest("hex"), length: glueLength }, pieces }, chunks, glueRanges };
  } finally {
    closeSync(fd);
  }
}

/** Cut `len` bytes from `start` into chunks; calls `each(offset, length, sha256)` in order. */
export function chunkRange(read: (pos: number, len: number) => Uint8Array, start: number, len: number, each: (offset: number, length: number, sha256: string) => void): void {
  const STEP = 1 << 20;
  let cutFrom = start;
  let hash = createHash("sha256");
  let pending: Uint8Array[] = [];
  const chunker = new Chunker((n) => {
    // the chunk ends n bytes after cutFrom; its bytes are in `pending` (and the current slice)
    let need = n;
    const parts: Uint8Array[] = [];
    while (need > 0) {
      const b = pending[0]!;
      if (b.length <= need) {
        parts.push(b);
        need -= b.length;
        pending.shift();
      } else {
        parts.push(b.subarray(0, need));
        pending[0] = b.subarray(need);
        need = 0;
      }
    }
    for (const p of parts) hash.update(p);
    each(cutFrom, n, hash.digest("hex"));
    hash = createHash("sha256");
    cutFrom += n;
  });
  for (let p = start; p < start + len; p += STEP) {
    const b = read(p, Math.min(STEP, start + len - p));
    pending.push(b);
    chunker.push(b);
  }
  chunker.end();
  pending = [];
}
