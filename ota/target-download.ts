/**
 * Downloads a target into a partial file next to the slots, hashing as the bytes arrive, resuming
 * with an HTTP Range request after link loss or a restart. What is on disk is trusted only up to
 * the last fsynced length (recorded in `<part>.len`): after a power cut the file is cut back to
 * it and the hash is recomputed over it before resuming, so a torn tail can never reach the slot.
 * Each request has the mirror's deadline for the bytes still missing (slow retrieval): past it
 * the download ends with E_OTA_SLOW, the bytes received so far recorded as durable.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeSync, createReadStream } from "node:fs";
import { RidgeError, errorMessage, fail, type ErrorCode, type Result } from "../core/index.js";
import { DirectoryFetcher, HttpFetcher, httpGet, startDeadline, type FileDeadline } from "./repo-fetchers.js";
import type { RepoFetcher } from "./tuf-client.js";
import { TargetHasher } from "./target-hasher.js";
import { streamGarbageCollector } from "./memory-pressure.js";
import type { TargetFile } from "./tuf-metadata.js";

export interface DownloadProgress {
  received: number;
  total: number;
}

export interface DownloadOptions {
  mirror: RepoFetcher;
  /** Repository path of the target. */
  path: string;
  name: string;
  file: TargetFile;
  part: string;
  onProgress?(p: DownloadProgress): void;
  /** fsync and record the durable length every this many bytes. */
  syncEvery?: number;
  /** Fault injection: called with the bytes written so far after each chunk. */
  afterChunk?(received: number): void;
  timeoutMs?: number;
  /** Hash algorithms to check besides sha256 (default: all listed). */
  algorithms?: readonly string[];
}

export function durableLength(part: string): number {
  try {
    const n = Number(readFileSync(`${part}.len`, "utf8"));
    return Number.isSafeInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

export function recordLength(part: string, n: number): void {
  const tmp = `${part}.len.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, String(n));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, `${part}.len`);
}

/** Beside the partial file while a target is streamed straight into its slot (ota/streamed-install.ts). */
export function streamMark(part: string): string {
  return `${part}.streaming`;
}

export function discardPartial(part: string): void {
  rmSync(part, { force: true });
  rmSync(`${part}.len`, { force: true });
  rmSync(streamMark(part), { force: true });
}

/** Re-hash the durable prefix of a partial download (after a restart). */
async function resumeHasher(opts: DownloadOptions): Promise<TargetHasher> {
  const h = new TargetHasher(opts.name, opts.file, opts.algorithms);
  if (!existsSync(opts.part)) return h;
  const keep = Math.min(durableLength(opts.part), statSync(opts.part).size, opts.file.length);
  truncateSync(opts.part, keep);
  if (keep > 0) for await (const c of createReadStream(opts.part, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h;
}

/**
 * Writes a partial file from `pos` on: every `syncEvery` bytes (and at `sync()`) it is fsynced and
 * its length recorded as durable, so what a restart trusts was on the disk. Shared by the whole
 * download and the chunked assembly (chunked-fetch.ts).
 */
export class PartWriter {
  private sinceSync = 0;
  constructor(
    private readonly fd: number,
    private readonly part: string,
    public pos: number,
    private readonly syncEvery = 8 * 1024 * 1024,
  ) {}
  write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off, this.pos + off);
    this.pos += b.length;
    this.sinceSync += b.length;
    if (this.sinceSync >= this.syncEvery) this.sync();
  }
  sync(): void {
    fsyncSync(this.fd);
    recordLength(this.part, this.pos);
    this.sinceSync = 0;
  }
}

/**
 * Bring the partial file to the full signed length and check it. Resolves with the check;
 * rejects with E_OTA_FETCH for transient failures (the caller retries later; bytes kept).
 */
export async function downloadTarget(opts: DownloadOptions): Promise<Result<void, ErrorCode>> {
  let hasher = await resumeHasher(opts);
  if (hasher.received === opts.file.length) return hasher.finish();
  const fd = openSync(opts.part, existsSync(opts.part) ? "r+" : "w");
  const w = new PartWriter(fd, opts.part, hasher.received, opts.syncEvery);
  const collect = streamGarbageCollector();
  const write = (chunk: Uint8Array): boolean => {
    collect(chunk.length);
    if (!hasher.update(chunk)) return false;
    w.write(chunk);
    opts.onProgress?.({ received: w.pos, total: opts.file.length });
    opts.afterChunk?.(w.pos);
    return true;
  };
  // The deadline for the bytes still missing (HTTP and directory mirrors; any other fetcher
  // applies its own in fetch()). When it passes, the transfer is aborted and `slow` decides.
  let slow: RidgeError | undefined;
  let deadline: FileDeadline | undefined;
  const abort = new AbortController();
  const from = w.pos;
  try {
    const m = opts.mirror;
    if (m instanceof HttpFetcher || m instanceof DirectoryFetcher)
      deadline = startDeadline(opts.path, opts.file.length - w.pos, m.limits, m.clock, () => w.pos - from, (e) => {
        slow = e;
        abort.abort();
      });
    if (m instanceof HttpFetcher) {
      const res = await httpGet(m.url(opts.path), { headers: w.pos > 0 ? { range: `bytes=${w.pos}-` } : {}, timeoutMs: opts.timeoutMs ?? m.limits.idleTimeoutMs, signal: abort.signal });
      abort.signal.addEventListener("abort", () => res.destroy(), { once: true });
      if (res.statusCode === 404) {
        res.resume();
        return fail("E_OTA_TARGET_MISSING", `${opts.path}: not on the mirror (404)`);
      }
      if (res.statusCode === 200 && w.pos > 0) {
        // the server ignored the range: start over
        hasher = new TargetHasher(opts.name, opts.file, opts.algorithms);
        w.pos = 0;
        truncateSync(opts.part, 0);
      } else if (res.statusCode === 206) {
        const cr = /^bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
        if (!cr || Number(cr[1]) !== w.pos) {
          res.destroy();
          throw new RidgeError("E_OTA_FETCH", `${opts.path}: the mirror answered a different range`);
        }
      } else if (res.statusCode === 416 && w.pos >= opts.file.length) {
        res.resume();
      } else if (res.statusCode !== 200) {
        res.resume();
        throw new RidgeError("E_OTA_FETCH", `${opts.path}: HTTP ${res.statusCode}`);
      }
      await new Promise<void>((resolve, reject) => {
        let over = false;
        res.on("data", (c: Buffer) => {
          if (over) return;
          try {
            if (!write(c)) {
              over = true;
              resolve();
              res.destroy();
            }
          } catch (e) {
            res.destroy();
            reject(e);
          }
        });
        res.on("end", () => resolve());
        res.on("close", () => (res.complete ? resolve() : reject(new RidgeError("E_OTA_FETCH", `${opts.path}: connection lost at byte ${w.pos}`))));
        res.on("aborted", () => reject(new RidgeError("E_OTA_FETCH", `${opts.path}: connection lost at byte ${w.pos}`)));
        res.on("error", (e) => reject(new RidgeError("E_OTA_FETCH", `${opts.path}: ${e.message} at byte ${w.pos}`)));
      });
      if (!res.complete && hasher.received < opts.file.length) throw new RidgeError("E_OTA_FETCH", `${opts.path}: connection lost at byte ${w.pos}`);
    } else if (m instanceof DirectoryFetcher) {
      const src = m.resolve(opts.path);
      if (!existsSync(src)) return fail("E_OTA_TARGET_MISSING", `${opts.path}: not in the repository directory`);
      for await (const c of createReadStream(src, { start: w.pos, highWaterMark: 1 << 20, signal: abort.signal })) if (!write(c as Buffer)) break;
    } else {
      const all = await m.fetch(opts.path, opts.file.length + 1);
      if (!all) return fail("E_OTA_TARGET_MISSING", `${opts.path}: not on the mirror`);
      write(all.subarray(w.pos));
    }
    w.sync();
  } catch (e) {
    try {
      w.sync();
    } catch {
      /* best effort */
    }
    // Past the deadline whatever the abort made of the transfer: the mirror was too slow.
    if (slow) return fail("E_OTA_SLOW", slow.message);
    if (e instanceof RidgeError) throw e;
    throw new RidgeError("E_OTA_FETCH", `${opts.path}: ${errorMessage(e)}`, { cause: e });
  } finally {
    deadline?.cancel();
    closeSync(fd);
  }
  const check = hasher.finish();
  if (!check.ok && check.code === "E_OTA_LENGTH" && hasher.received < opts.file.length) throw new RidgeError("E_OTA_FETCH", `${opts.path}: ended at byte ${hasher.received} of ${opts.file.length}`);
  return check;
}
