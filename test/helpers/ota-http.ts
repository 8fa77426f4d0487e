/**
 * A static HTTP server for a repository directory on 127.0.0.1 with a random port, honouring
 * Range requests, with knobs for link loss (cut the connection after N bytes), servers that
 * ignore ranges, and padded (endless) responses. It records every request.
 */
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, normalize } from "node:path";

export interface RepoServer {
  url: string;
  port: number;
  requests: { path: string; range?: string }[];
  /** Cut the next responses for paths containing `match` after `bytes` body bytes (count: how many times). */
  cutAfter(match: string, bytes: number, count?: number): void;
  ignoreRanges: boolean;
  /** Append this many extra bytes to responses for paths containing the key. */
  pad: Map<string, number>;
  close(): Promise<void>;
}

export async function serveRepo(dir: string): Promise<RepoServer> {
  const cuts: { match: string; bytes: number; count: number }[] = [];
  const state: RepoServer = {
    url: "",
    port: 0,
    requests: [],
    cutAfter(match, bytes, count = 1) {
      cuts.push({ match, bytes, count });
    },
    ignoreRanges: false,
    pad: new Map(),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    state.requests.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const extra = [...state.pad.entries()].find(([k]) => path.includes(k))?.[1] ?? 0;
    if (m && !state.ignoreRanges) {
      start = Number(m[1]);
      if (start >= size) {
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { "content-length": size - start + extra, "content-range": `bytes ${start}-${size - 1}/${size}` });
    } else res.writeHead(200, { "content-length": size + extra });
    const cut = cuts.find((c) => c.count > 0 && path.includes(c.match));
    let sent = 0;
    const stream = createReadStream(file, { start, highWaterMark: 64 * 1024 });
    stream.on("data", (c) => {
      const chunk = c as Buffer;
      if (cut && sent + chunk.length > cut.bytes) {
        cut.count--;
        res.write(chunk.subarray(0, Math.max(0, cut.bytes - sent)));
        stream.destroy();
        res.socket?.destroy();
        return;
      }
      sent += chunk.length;
      if (!res.write(chunk)) {
        stream.pause();
        res.once("drain", () => stream.resume());
      }
    });
    stream.on("end", () => {
      if (extra) res.write(Buffer.alloc(extra, 0x41));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  state.port = port;
  state.url = `http://127.0.0.1:${port}/`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** How a trickling server sends one file: `fast` bytes at once, then `bytes` every `everyMs` (0: a stall, socket kept open). */
export interface TricklePlan {
  fast?: number;
  bytes: number;
  everyMs: number;
  /** No content-length and no end: the file's bytes repeated for ever, at full speed (after `fast`, ignoring `bytes`). */
  endless?: boolean;
}

/**
 * A repository server whose chosen files arrive slowly (slow retrieval) or never end (endless
 * data); every other file is served whole. `started` holds when each path was last requested.
 */
export async function serveTrickling(dir: string, plan: (path: string) => TricklePlan | undefined): Promise<{ url: string; started: Map<string, number>; close(): Promise<void> }> {
  const timers = new Set<NodeJS.Timeout>();
  const started = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    started.set(path, performance.now());
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    const body = readFileSync(file);
    const p = plan(path);
    if (!p) return void res.writeHead(200, { "content-length": body.length }).end(body);
    res.writeHead(200, p.endless ? {} : { "content-length": body.length });
    let sent = Math.min(p.fast ?? 0, body.length);
    res.write(body.subarray(0, sent));
    if (p.endless) {
      const more = () => {
        while (!res.destroyed && res.write(body.length ? body : Buffer.alloc(1024, 0x20)));
        if (!res.destroyed) res.once("drain", more);
      };
      return more();
    }
    const t = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(t);
        timers.delete(t);
        if (!res.destroyed) res.end();
        return;
      }
      if (p.bytes === 0) return;
      res.write(body.subarray(sent, sent + p.bytes));
      sent += p.bytes;
    }, p.everyMs);
    timers.add(t);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    started,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
