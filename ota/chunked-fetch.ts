/**
 * A delta download: the target assembled into its partial file from the chunks the running slot
 * already holds and the ones fetched from the repository (chunk-index.ts). Every chunk is checked
 * against the signed index before it is written; the whole file is hashed as it grows and checked
 * against the target's TUF length and hashes at the end, exactly as a plain download.
 *
 * Resumable like target-download.ts: the durable length (`<part>.len`) is recorded at piece ends;
 * after a power cut the file is cut back to the last piece that ended at or before it.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, lstatSync, openSync, readdirSync, statSync, truncateSync, createReadStream } from "node:fs";
import { join } from "node:path";
import { fail, type ErrorCode, type Result } from "../core/index.js";
import { chunkPath, chunkRange, indexPath, parseChunkIndex, readRange, type ChunkRef } from "./chunk-index.js";
import { PartWriter, durableLength, type DownloadOptions } from "./target-download.js";
import { TargetHasher } from "./target-hasher.js";

export interface DeltaStats {
  /** Bytes fetched from the mirror: index, glue, chunks. */
  fetched: number;
  /** Bytes copied from the running slot. */
  local: number;
  total: number;
}

export interface ChunkedFetchOptions extends DownloadOptions {
  ref: ChunkRef;
  seedDirs: readonly string[];
  onDelta?(s: DeltaStats): void;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Regular files under `dir` (symlinks not followed), depth-first, sorted. */
function* filesUnder(dir: string, depth = 0): Generator<string> {
  if (depth > 64) return;
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) yield* filesUnder(p, depth + 1);
    else if (st.isFile() && st.size > 0) yield p;
  }
}

/** Where each wanted chunk lies in the seed directories (cut the same way the publisher cut). */
export function findLocalChunks(seedDirs: readonly string[], wanted: Map<string, number>): Map<string, { file: string; offset: number; length: number }> {
  const found = new Map<string, { file: string; offset: number; length: number }>();
  for (const dir of seedDirs)
    for (const file of filesUnder(dir)) {
      if (found.size === wanted.size) return found;
      let fd: number;
      try {
        fd = openSync(file, "r");
      } catch {
        continue;
      }
      try {
        chunkRange((p, l) => readRange(fd, p, l), 0, statSync(file).size, (offset, length, sha) => {
          if (wanted.get(sha) === length && !found.has(sha)) found.set(sha, { file, offset, length });
        });
      } finally {
        closeSync(fd);
      }
    }
  return found;
}

/**
 * Bring the partial file to the full target from local and fetched chunks. A missing or broken
 * index answers E_OTA_CHUNK_INDEX (the caller downloads the whole file instead, resuming from
 * what was assembled); a chunk that does not match the index, E_OTA_CHUNK. Transient mirror
 * failures throw E_OTA_FETCH as a plain download does (bytes kept, resumed later).
 */
export async function chunkedFetch(opts: ChunkedFetchOptions): Promise<Result<void, ErrorCode>> {
  const m = opts.mirror;
  const stats: DeltaStats = { fetched: 0, local: 0, total: opts.file.length };
  const raw = await m.fetch(indexPath(opts.ref), opts.ref.length);
  if (!raw) return fail("E_OTA_CHUNK_INDEX", `${indexPath(opts.ref)}: not on the mirror`);
  stats.fetched += raw.length;
  const parsed = parseChunkIndex(raw, opts.ref, opts.file.length);
  if (!parsed.ok) return parsed;
  const index = parsed.value;

  // Resume: cut back to the last piece that ended at or before the durable length.
  const durable = existsSync(opts.part) ? Math.min(durableLength(opts.part), statSync(opts.part).size) : 0;
  let start = 0;
  let first = 0;
  let glueAt = 0;
  while (first < index.pieces.length && start + index.pieces[first]![1] <= durable) {
    const p = index.pieces[first]!;
    if (p[0] === "g") glueAt += p[1];
    start += p[1];
    first++;
  }
  const hasher = new TargetHasher(opts.name, opts.file, opts.algorithms);
  if (existsSync(opts.part)) {
    truncateSync(opts.part, start);
    if (start > 0) for await (const c of createReadStream(opts.part, { highWaterMark: 1 << 20 })) hasher.update(c as Buffer);
  }
  const rest = index.pieces.slice(first);
  const wanted = new Map<string, number>();
  let glueNeeded = false;
  for (const p of rest) {
    if (p[0] === "c") wanted.set(p[2], p[1]);
    else glueNeeded = true;
  }
  const local = findLocalChunks(opts.seedDirs, wanted);
  let glue: Uint8Array | undefined;
  if (glueNeeded) {
    glue = await m.fetch(chunkPath(index.glue.sha256), index.glue.length);
    if (!glue) return fail("E_OTA_CHUNK_INDEX", `${chunkPath(index.glue.sha256)}: the glue blob is not on the mirror`);
    stats.fetched += glue.length;
    if (glue.length !== index.glue.length || sha256(glue) !== index.glue.sha256) return fail("E_OTA_CHUNK", `${chunkPath(index.glue.sha256)}: the glue blob does not match the signed index`);
  }

  const fd = openSync(opts.part, existsSync(opts.part) ? "r+" : "w");
  const w = new PartWriter(fd, opts.part, start, opts.syncEvery);
  try {
    for (const p of rest) {
      let bytes: Uint8Array | undefined;
      if (p[0] === "g") {
        bytes = glue!.subarray(glueAt, glueAt + p[1]);
        glueAt += p[1];
      } else {
        const at = local.get(p[2]);
        if (at) {
          const lfd = openSync(at.file, "r");
          try {
            bytes = readRange(lfd, at.offset, at.length);
          } finally {
            closeSync(lfd);
          }
          if (sha256(bytes) === p[2]) stats.local += bytes.length;
          else bytes = undefined; // the slot file changed under us: fetch it
        }
        if (!bytes) {
          bytes = await m.fetch(chunkPath(p[2]), p[1]);
          if (!bytes) return fail("E_OTA_CHUNK", `${chunkPath(p[2])}: a chunk of ${opts.name} is not on the mirror`);
          stats.fetched += bytes.length;
          if (bytes.length !== p[1] || sha256(bytes) !== p[2]) return fail("E_OTA_CHUNK", `${chunkPath(p[2])}: the chunk does not match the signed index (${bytes.length} bytes)`);
        }
      }
      if (!hasher.update(bytes)) break;
      w.write(bytes);
      opts.onProgress?.({ received: w.pos, total: opts.file.length });
      opts.afterChunk?.(w.pos);
    }
  } finally {
    // what was written is durable from here, whatever ended the loop (a link lost mid-chunk: resumed later)
    try {
      w.sync();
    } finally {
      closeSync(fd);
    }
  }
  opts.onDelta?.(stats);
  return hasher.finish();
}
