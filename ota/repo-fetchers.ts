/**
 * Mirrors of a repository: a directory (a USB stick at an offline site, or a local copy) and an
 * HTTP(S) base URL. Both enforce the byte cap the client passes (endless-data attacks): HTTP stops
 * reading, and destroys the socket, the moment the cap is passed.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { join, resolve, sep } from "node:path";
import { RidgeError } from "../core/index.js";
import type { RepoFetcher } from "./tuf-client.js";

function tooLarge(path: string, max: number): RidgeError {
  return new RidgeError("E_OTA_TOO_LARGE", `${path}: more than ${max} bytes (endless data?)`);
}

export class DirectoryFetcher implements RepoFetcher {
  readonly name: string;
  private readonly base: string;
  constructor(dir: string) {
    this.base = resolve(dir);
    this.name = `dir:${this.base}`;
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
    if (!statSync(p).isFile()) return undefined;
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of createReadStream(p, { highWaterMark: 64 * 1024 })) {
      n += (c as Buffer).length;
      if (n > maxBytes) throw tooLarge(path, maxBytes);
      chunks.push(c as Buffer);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }
}

export interface HttpGetOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One GET, resolving with the response (the caller reads or destroys it). */
export function httpGet(url: URL, opts: HttpGetOptions = {}): Promise<IncomingMessage> {
  return new Promise((resolveP, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method: "GET", headers: opts.headers ?? {}, timeout: opts.timeoutMs ?? 30_000 }, resolveP);
    req.on("timeout", () => req.destroy(new RidgeError("E_OTA_FETCH", `${url.href}: no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on("error", (e) => reject(e instanceof RidgeError ? e : new RidgeError("E_OTA_FETCH", `${url.href}: ${e.message}`, { cause: e })));
    req.end();
  });
}

export class HttpFetcher implements RepoFetcher {
  readonly name: string;
  readonly base: URL;
  constructor(
    base: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.base = new URL(base.endsWith("/") ? base : `${base}/`);
    this.name = this.base.href;
  }
  url(path: string): URL {
    return new URL(path, this.base);
  }
  async fetch(path: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const url = this.url(path);
    const res = await httpGet(url, { timeoutMs: this.timeoutMs });
    if (res.statusCode === 404 || res.statusCode === 403) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) {
      res.resume();
      throw new RidgeError("E_OTA_FETCH", `${url.href}: HTTP ${res.statusCode}`);
    }
    const declared = Number(res.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.destroy();
      throw tooLarge(path, maxBytes);
    }
    return new Promise((resolveP, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (c: Buffer) => {
        n += c.length;
        if (n > maxBytes) {
          res.destroy();
          reject(tooLarge(path, maxBytes));
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => resolveP(new Uint8Array(Buffer.concat(chunks))));
      res.on("error", (e) => reject(new RidgeError("E_OTA_FETCH", `${url.href}: ${e.message}`)));
      res.on("aborted", () => reject(new RidgeError("E_OTA_FETCH", `${url.href}: connection closed mid-body`)));
    });
  }
}

/** A mirror for a repository location as configured: http(s) URL, file: URL or a directory path. */
export function fetcherFor(location: string): RepoFetcher {
  if (/^https?:\/\//.test(location)) return new HttpFetcher(location);
  if (location.startsWith("file:")) return new DirectoryFetcher(new URL(location).pathname);
  return new DirectoryFetcher(join(location));
}
