/**
 * Mirrors of a repository: a directory (a USB stick at an offline site, or a local copy) and an
 * HTTP(S) base URL. Both enforce the byte cap the client passes (endless-data attacks): reading
 * stops, and an HTTP socket is destroyed, the moment the cap is passed (E_OTA_TOO_LARGE). Both
 * enforce a deadline per file (slow-retrieval attacks, tuf-spec §"Goals ... slow retrieval"): a
 * file of N bytes must arrive within `graceMs + N / minRateBytesPerS`, measured from the request,
 * whether or not bytes keep trickling in (E_OTA_SLOW). An idle-socket timeout alone does not do
 * it: one byte every 29 s keeps a socket alive forever.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { join, resolve, sep } from "node:path";
import { RidgeError, systemClock, type Clock, type Timer } from "../core/index.js";
import type { RepoFetcher } from "./tuf-client.js";

/** How slowly a mirror may send a file before it is given up on. */
export interface RetrievalLimits {
  /** The lowest average rate over the whole file, in bytes per second. */
  minRateBytesPerS: number;
  /** Time added to every file's deadline (connection set-up, TLS, a slow start). */
  graceMs: number;
  /** A socket silent this long is given up on (E_OTA_FETCH, retried later). */
  idleTimeoutMs: number;
}

/**
 * 1 KiB/s: below what a weak GPRS link carries (about 5 KiB/s), above a trickle. A timestamp
 * (16 KiB cap) gets 46 s, a 6 MiB target 1 h 43 min, a 112 MiB bundle about 32 h.
 */
export const DEFAULT_RETRIEVAL_LIMITS: RetrievalLimits = { minRateBytesPerS: 1024, graceMs: 30_000, idleTimeoutMs: 30_000 };

export interface FetcherOptions {
  limits?: Partial<RetrievalLimits>;
  /** Times the deadline (default: the system clock). */
  clock?: Clock;
}

/** The deadline, in ms from the request, for a file of `bytes` bytes. */
export function retrievalDeadlineMs(limits: RetrievalLimits, bytes: number): number {
  return limits.graceMs + Math.ceil((bytes * 1000) / limits.minRateBytesPerS);
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A running deadline for one file: calls `expired` with E_OTA_SLOW when it passes. */
export interface FileDeadline {
  readonly limitMs: number;
  cancel(): void;
}

export function startDeadline(file: string, bytes: number, limits: RetrievalLimits, clock: Clock, received: () => number, expired: (e: RidgeError) => void): FileDeadline {
  const limitMs = retrievalDeadlineMs(limits, bytes);
  const start = clock.monotonic();
  // Timers hold at most 2^31-1 ms (24.8 days): a longer deadline is waited for in steps.
  let timer: Timer;
  const arm = (ms: number) => (timer = clock.setTimeout(ms > MAX_TIMER_MS ? () => arm(ms - MAX_TIMER_MS) : fire, Math.min(ms, MAX_TIMER_MS)));
  const fire = () => {
    const got = received();
    const elapsedMs = Math.round(clock.monotonic() - start);
    expired(
      new RidgeError(
        "E_OTA_SLOW",
        `${file}: ${got} of ${bytes} bytes after ${elapsedMs} ms; the limit is ${limitMs} ms (${limits.graceMs} ms + ${bytes} bytes at ${limits.minRateBytesPerS} B/s, ota.download.minRate); a slow or stalling mirror`,
        { detail: { file, received: got, expected: bytes, elapsedMs, limitMs, minRateBytesPerS: limits.minRateBytesPerS } },
      ),
    );
  };
  arm(limitMs);
  return { limitMs, cancel: () => timer.cancel() };
}

function tooLarge(path: string, max: number): RidgeError {
  return new RidgeError("E_OTA_TOO_LARGE", `${path}: more than ${max} bytes, the limit for this file (endless data?)`, { detail: { file: path, limit: max } });
}

function limitsOf(o: FetcherOptions): RetrievalLimits {
  return { ...DEFAULT_RETRIEVAL_LIMITS, ...o.limits };
}

export class DirectoryFetcher implements RepoFetcher {
  readonly name: string;
  readonly limits: RetrievalLimits;
  readonly clock: Clock;
  private readonly base: string;
  constructor(dir: string, opts: FetcherOptions = {}) {
    this.base = resolve(dir);
    this.name = `dir:${this.base}`;
    this.limits = limitsOf(opts);
    this.clock = opts.clock ?? systemClock;
  }
  /** The absolute path of a repository file, refusing anything that leaves the directory. */
  resolve(path: string): string {
    const p = resolve(this.base, path);
    if (p !== this.base && !p.startsWith(this.base + sep)) throw new RidgeError("E_OTA_FETCH", `${path} leaves the repository directory`);
    return p;
  }
  async fetch(path: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const p = this.resolve(path);
    if (!existsSync(p)) return undefined;
    const st = statSync(p);
    if (!st.isFile()) return undefined;
    if (st.size > maxBytes) throw tooLarge(path, maxBytes);
    return new Promise((resolveP, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let settled = false;
      const stream = createReadStream(p, { highWaterMark: 64 * 1024 });
      const done = (e: RidgeError | undefined) => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        if (e) {
          stream.destroy();
          reject(e);
        } else resolveP(new Uint8Array(Buffer.concat(chunks)));
      };
      // A file mirror can be slow too (a failing USB stick, a network file system).
      const deadline = startDeadline(path, maxBytes, this.limits, this.clock, () => n, done);
      stream.on("data", (c) => {
        n += (c as Buffer).length;
        if (n > maxBytes) return done(tooLarge(path, maxBytes));
        chunks.push(c as Buffer);
      });
      stream.on("end", () => done(undefined));
      stream.on("error", (e) => done(new RidgeError("E_OTA_FETCH", `${p}: ${e.message}`, { cause: e })));
    });
  }
}

export interface HttpGetOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Aborts the request (and its response) when it fires. */
  signal?: AbortSignal;
}

/** One GET, resolving with the response (the caller reads or destroys it). */
export function httpGet(url: URL, opts: HttpGetOptions = {}): Promise<IncomingMessage> {
  return new Promise((resolveP, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      { method: "GET", headers: opts.headers ?? {}, timeout: opts.timeoutMs ?? 30_000, ...(opts.signal ? { signal: opts.signal } : {}) },
      resolveP,
    );
    req.on("timeout", () => req.destroy(new RidgeError("E_OTA_FETCH", `${url.href}: no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on("error", (e) => reject(e instanceof RidgeError ? e : new RidgeError("E_OTA_FETCH", `${url.href}: ${e.message}`, { cause: e })));
    req.end();
  });
}

export class HttpFetcher implements RepoFetcher {
  readonly name: string;
  readonly base: URL;
  readonly limits: RetrievalLimits;
  readonly clock: Clock;
  constructor(base: string, opts: FetcherOptions = {}) {
    this.base = new URL(base.endsWith("/") ? base : `${base}/`);
    this.name = this.base.href;
    this.limits = limitsOf(opts);
    this.clock = opts.clock ?? systemClock;
  }
  url(path: string): URL {
    return new URL(path, this.base);
  }
  fetch(path: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const url = this.url(path);
    return new Promise((resolveP, reject) => {
      const abort = new AbortController();
      const chunks: Buffer[] = [];
      let n = 0;
      let settled = false;
      let res: IncomingMessage | undefined;
      const done = (e: RidgeError | undefined, value?: Uint8Array) => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        if (e) {
          res?.destroy();
          abort.abort();
          reject(e);
        } else resolveP(value);
      };
      // From the request on: a server that never answers its headers is as slow as one that trickles.
      const deadline = startDeadline(path, maxBytes, this.limits, this.clock, () => n, done);
      httpGet(url, { timeoutMs: this.limits.idleTimeoutMs, signal: abort.signal }).then(
        (r) => {
          res = r;
          if (settled) return void r.destroy();
          if (r.statusCode === 404 || r.statusCode === 403) {
            r.resume();
            return done(undefined, undefined);
          }
          if (r.statusCode !== 200) {
            r.resume();
            return done(new RidgeError("E_OTA_FETCH", `${url.href}: HTTP ${r.statusCode}`));
          }
          const declared = Number(r.headers["content-length"] ?? NaN);
          if (Number.isFinite(declared) && declared > maxBytes) return done(tooLarge(path, maxBytes));
          r.on("data", (c: Buffer) => {
            n += c.length;
            // Endless data: stop at the cap, whatever the server does next.
            if (n > maxBytes) return done(tooLarge(path, maxBytes));
            chunks.push(c);
          });
          r.on("end", () => done(undefined, new Uint8Array(Buffer.concat(chunks))));
          r.on("error", (e) => done(new RidgeError("E_OTA_FETCH", `${url.href}: ${e.message} after ${n} bytes`)));
          r.on("aborted", () => done(new RidgeError("E_OTA_FETCH", `${url.href}: connection closed mid-body after ${n} bytes`)));
          r.on("close", () => done(new RidgeError("E_OTA_FETCH", `${url.href}: connection closed mid-body after ${n} bytes`)));
        },
        (e: unknown) => done(e instanceof RidgeError ? e : new RidgeError("E_OTA_FETCH", `${url.href}: ${String(e)}`)),
      );
    });
  }
}

/** A mirror for a repository location as configured: http(s) URL, file: URL or a directory path. */
export function fetcherFor(location: string, opts: FetcherOptions = {}): RepoFetcher {
  if (/^https?:\/\//.test(location)) return new HttpFetcher(location, opts);
  if (location.startsWith("file:")) return new DirectoryFetcher(new URL(location).pathname, opts);
  return new DirectoryFetcher(join(location), opts);
}
