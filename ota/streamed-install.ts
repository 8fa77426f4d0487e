/**
 * A verified stream of a chunk-indexed target (chunk-index.ts), piece by piece, straight into a
 * sink (the bundle extractor): one pass, no partial file, nothing unverified ever reaches the
 * sink. Every piece is checked before it is handed on — a chunk against its sha256 in the signed
 * index, the glue blob against its own — and the whole target against its TUF length and hashes
 * at the end, as for any download. Chunks the running slot already holds are copied from it;
 * runs of missing pieces are fetched as byte ranges of the target file itself (one request for a
 * fresh install), or chunk by chunk from `targets/chunks/` where the mirror cannot serve ranges.
 *
 * A link lost mid-run is resumed in the same call from the first piece not yet handed on. A power
 * cut is the caller's: the slot is partial and the agent falls back to the resumable `.part` path,
 * seeded by what the slot already holds.
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync } from "node:fs";
import { RidgeError, errorCode, fail, type Clock, type ErrorCode, type Result } from "../core/index.js";
import { chunkPath, indexPath, parseChunkIndex, readRange, type ChunkIndex, type ChunkRef, type Piece } from "./chunk-index.js";
import { findLocalChunks, type DeltaStats } from "./chunked-fetch.js";
import { DirectoryFetcher, HttpFetcher, httpGet, startDeadline } from "./repo-fetchers.js";
import { streamGarbageCollector } from "./memory-pressure.js";
import type { RepoFetcher } from "./tuf-client.js";
import { TargetHasher } from "./target-hasher.js";
import type { TargetFile } from "./tuf-metadata.js";

export interface StreamOptions {
  mirror: RepoFetcher;
  /** Repository path of the whole target (ranges are read from it). */
  path: string;
  name: string;
  file: TargetFile;
  ref: ChunkRef;
  seedDirs: readonly string[];
  algorithms?: readonly string[];
  /** Verified bytes, in order. A throw ends the stream with that error (e.g. a refused bundle). */
  sink(bytes: Uint8Array): void;
  onProgress?(p: { received: number; total: number }): void;
  afterChunk?(received: number): void;
  onDelta?(s: DeltaStats): void;
  /** Link losses resumed within the call before it gives up with E_OTA_FETCH. */
  retries?: number;
  clock?: Clock;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Whether the mirror can serve byte ranges of a file (HTTP, a directory). */
export function servesRanges(m: RepoFetcher): boolean {
  return m instanceof HttpFetcher || m instanceof DirectoryFetcher;
}

/** The mirror answered a range request with the whole file: it does not serve ranges. */
class RangesIgnored extends Error {}

/**
 * Stream `[start, end)` of a repository file to `onData`; E_OTA_SLOW past the mirror's deadline
 * for those bytes. A server that ignores ranges is used from byte 0 only; past that, RangesIgnored
 * (the caller takes chunk files instead of reading, and throwing away, everything before `start`).
 */
async function fetchRange(m: HttpFetcher | DirectoryFetcher, path: string, start: number, end: number, onData: (b: Buffer) => void, collect: (n: number) => void, wire: (n: number) => void): Promise<void> {
  let got = 0;
  let slow: RidgeError | undefined;
  const abort = new AbortController();
  const deadline = startDeadline(path, end - start, m.limits, m.clock, () => got, (e) => {
    slow = e;
    abort.abort();
  });
  // what the consumer throws (a refused bundle, a verification failure) is its own error, never a link loss
  let consumer: { e: unknown } | undefined;
  const take = (b: Buffer) => {
    const room = end - start - got;
    if (room <= 0) return false;
    const c = b.length > room ? b.subarray(0, room) : b;
    got += c.length;
    collect(c.length);
    try {
      onData(c);
    } catch (e) {
      consumer = { e };
      throw e;
    }
    return got < end - start;
  };
  try {
    if (m instanceof DirectoryFetcher) {
      for await (const c of createReadStream(m.resolve(path), { start, end: end - 1, highWaterMark: 1 << 20, signal: abort.signal })) {
        wire((c as Buffer).length);
        if (!take(c as Buffer)) break;
      }
    } else {
      const res = await httpGet(m.url(path), { headers: { range: `bytes=${start}-${end - 1}` }, timeoutMs: m.limits.idleTimeoutMs, signal: abort.signal });
      abort.signal.addEventListener("abort", () => res.destroy(), { once: true });
      // Ignored: read from byte 0 when what is thrown away is at most what is wanted (a fresh
      // install's first header), else give the mirror up for ranges.
      let skip = 0;
      if (res.statusCode === 200 && start > 0) {
        if (start > end - start) {
          res.destroy();
          throw new RangesIgnored();
        }
        skip = start;
      }
      if (res.statusCode === 206) {
        const cr = /^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
        if (!cr || Number(cr[1]) !== start) {
          res.destroy();
          throw new RidgeError("E_OTA_FETCH", `${path}: the mirror answered a different range`);
        }
      } else if (res.statusCode !== 200) {
        res.resume();
        if (res.statusCode === 404) throw new RidgeError("E_OTA_TARGET_MISSING", `${path}: not on the mirror (404)`);
        throw new RidgeError("E_OTA_FETCH", `${path}: HTTP ${res.statusCode} for bytes ${start}-${end - 1}`);
      }
      await new Promise<void>((resolve, reject) => {
        let done = false;
        res.on("data", (c: Buffer) => {
          if (done) return;
          wire(c.length); // skipped bytes crossed the link too
          if (skip > 0) {
            if (c.length <= skip) return void (skip -= c.length);
            c = c.subarray(skip);
            skip = 0;
          }
          try {
            if (!take(c)) {
              done = true;
              res.destroy();
              resolve();
            }
          } catch (e) {
            done = true;
            res.destroy();
            reject(e);
          }
        });
        res.on("end", () => resolve());
        res.on("close", () => resolve());
        res.on("error", (e) => reject(new RidgeError("E_OTA_FETCH", `${path}: ${e.message} at byte ${start + got}`)));
      });
    }
  } catch (e) {
    if (consumer) throw consumer.e;
    if (e instanceof RangesIgnored) throw e;
    if (slow) throw slow;
    if (e instanceof RidgeError) throw e;
    throw new RidgeError("E_OTA_FETCH", `${path}: ${(e as Error).message} at byte ${start + got}`, { cause: e });
  } finally {
    deadline.cancel();
  }
  if (slow) throw slow;
  if (got < end - start) throw new RidgeError("E_OTA_FETCH", `${path}: connection lost at byte ${start + got} of ${end}`);
}

/**
 * Stream the target into `sink`. Results: ok; E_OTA_CHUNK_INDEX / E_OTA_CHUNK (the index, glue or
 * a chunk is missing or does not match: the caller downloads the whole file instead); the TUF
 * check's codes. Throws E_OTA_FETCH (link lost more than `retries` times), E_OTA_SLOW, and whatever
 * the sink throws.
 */
export async function streamVerified(o: StreamOptions): Promise<Result<void, ErrorCode>> {
  const m = o.mirror;
  const stats: DeltaStats = { fetched: 0, local: 0, total: o.file.length };
  const raw = await m.fetch(indexPath(o.ref), o.ref.length);
  if (!raw) return fail("E_OTA_CHUNK_INDEX", `${indexPath(o.ref)}: not on the mirror`);
  stats.fetched += raw.length;
  const parsed = parseChunkIndex(raw, o.ref, o.file.length);
  if (!parsed.ok) return parsed;
  const index: ChunkIndex = parsed.value;
  const wanted = new Map<string, number>();
  for (const p of index.pieces) if (p[0] === "c") wanted.set(p[2], p[1]);
  const local = findLocalChunks(o.seedDirs, wanted);
  let glue: Uint8Array | undefined;
  if (index.glue.length > 0) {
    glue = await m.fetch(chunkPath(index.glue.sha256), index.glue.length);
    if (!glue) return fail("E_OTA_CHUNK_INDEX", `${chunkPath(index.glue.sha256)}: the glue blob is not on the mirror`);
    stats.fetched += glue.length;
    if (glue.length !== index.glue.length || sha256(glue) !== index.glue.sha256) return fail("E_OTA_CHUNK", `${chunkPath(index.glue.sha256)}: the glue blob does not match the signed index`);
  }
  const hasher = new TargetHasher(o.name, o.file, o.algorithms);
  let pos = 0;
  const emit = (b: Uint8Array) => {
    if (!hasher.update(b)) throw new RidgeError("E_OTA_TOO_LARGE", `${o.name}: more than the signed ${o.file.length} bytes`);
    o.sink(b);
    pos += b.length;
    o.onProgress?.({ received: pos, total: o.file.length });
    o.afterChunk?.(pos);
  };
  const readLocal = (sha: string): Uint8Array | undefined => {
    const at = local.get(sha);
    if (!at) return undefined;
    const fd = openSync(at.file, "r");
    try {
      const b = readRange(fd, at.offset, at.length);
      return sha256(b) === sha ? b : undefined; // the slot file changed under us: fetch it instead
    } finally {
      closeSync(fd);
    }
  };
  const pieces = index.pieces;
  let glueAt = 0;
  let i = 0;
  let offset = 0;
  let losses = 0;
  let ranges = servesRanges(m);
  const collect = streamGarbageCollector();
  while (i < pieces.length) {
    const p = pieces[i]!;
    if (p[0] === "g") {
      emit(glue!.subarray(glueAt, glueAt + p[1]));
      glueAt += p[1];
      offset += p[1];
      i++;
      continue;
    }
    const have = readLocal(p[2]);
    if (have) {
      stats.local += have.length;
      emit(have);
      offset += p[1];
      i++;
      continue;
    }
    if (!ranges) {
      const b = await m.fetch(chunkPath(p[2]), p[1]);
      if (!b) return fail("E_OTA_CHUNK", `${chunkPath(p[2])}: a chunk of ${o.name} is not on the mirror`);
      stats.fetched += b.length;
      if (b.length !== p[1] || sha256(b) !== p[2]) return fail("E_OTA_CHUNK", `${chunkPath(p[2])}: the chunk does not match the signed index`);
      emit(b);
      offset += p[1];
      i++;
      continue;
    }
    // a run of pieces the slot lacks (glue inside it comes with the run): one range request
    let j = i;
    let end = offset;
    while (j < pieces.length && (pieces[j]![0] === "g" || !local.has((pieces[j] as ["c", number, string])[2]))) end += pieces[j++]![1];
    const run: Piece[] = pieces.slice(i, j);
    let k = 0;
    // a piece's parts are hashed as they come (no copy into one buffer) and handed on once it checks
    let buf: Buffer[] = [];
    let bufLen = 0;
    let h = createHash("sha256");
    let bad: Result<void, ErrorCode> | undefined;
    try {
      await fetchRange(m as HttpFetcher | DirectoryFetcher, o.path, offset, end, (c) => {
        while (c.length > 0 && k < run.length) {
          const q = run[k]!;
          const need = q[1] - bufLen;
          const part = c.length > need ? c.subarray(0, need) : c;
          if (q[0] === "c") h.update(part);
          buf.push(part);
          bufLen += part.length;
          c = c.subarray(part.length);
          if (bufLen < q[1]) continue;
          // a chunk against its signed sha256; glue against the verified blob (which is what is handed on)
          let ok: boolean;
          if (q[0] === "c") ok = h.digest("hex") === q[2];
          else {
            ok = true;
            let at = glueAt;
            for (const b of buf) {
              if (Buffer.compare(b, glue!.subarray(at, at + b.length)) !== 0) ok = false;
              at += b.length;
            }
          }
          if (!ok) {
            const why = `${o.path}: bytes ${offset}-${offset + q[1] - 1} do not match the signed chunk index`;
            bad = fail("E_OTA_CHUNK", why);
            throw new RidgeError("E_OTA_CHUNK", why);
          }
          if (q[0] === "g") {
            emit(glue!.subarray(glueAt, glueAt + q[1]));
            glueAt += q[1];
          } else for (const b of buf) emit(b);
          offset += q[1];
          buf = [];
          bufLen = 0;
          h = createHash("sha256");
          k++;
        }
      }, collect, (n) => (stats.fetched += n));
    } catch (e) {
      if (bad) return bad;
      if (e instanceof RangesIgnored) {
        ranges = false; // from here on, chunk by chunk from targets/chunks/
        continue;
      }
      if (errorCode(e) !== "E_OTA_FETCH" || ++losses > (o.retries ?? 5)) throw e;
      // resumed from the first piece not yet handed on
      if (o.clock) await o.clock.sleep(Math.min(10_000, 250 * 2 ** losses));
    }
    i += k;
  }
  o.onDelta?.(stats);
  return hasher.finish();
}
