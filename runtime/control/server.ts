/**
 * The control API: HTTP over a Unix socket (`<data>/ridge.sock`, mode 0600: who can open it is
 * who the file system says), and optionally over loopback TCP with a bearer token. Routes are
 * registered by components in `Routes`.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { chmodSync, existsSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { RidgeError, errorCode, errorMessage, splitHostPort, type Logger } from "../../core/index.js";
import type { Component } from "../component.js";
import type { ControlConfig } from "./config.js";
import type { ControlRequest, Routes } from "./routes.js";

const MAX_BODY = 8 * 1024 * 1024;

export interface ControlServerOptions {
  socketPath: string;
  http: ControlConfig["http"];
  routes: Routes;
  log: Logger;
}

function sameToken(a: string, b: string): boolean {
  // Hash both so the comparison is constant-time whatever the lengths.
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

export class ControlServer implements Component {
  readonly name = "control";
  private unix: Server | undefined;
  private tcp: Server | undefined;
  tcpPort: number | undefined;

  constructor(private readonly opts: ControlServerOptions) {}

  async start(): Promise<void> {
    const { socketPath } = this.opts;
    // A socket left by a killed gateway: nothing listens there any more (start refuses if one does).
    if (existsSync(socketPath)) rmSync(socketPath, { force: true });
    this.unix = createServer((req, res) => void this.handle(req, res, false));
    const oldMask = process.umask(0o177);
    try {
      await listen(this.unix, { path: socketPath });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(socketPath, 0o600);
    if (this.opts.http) {
      const { host, port } = splitHostPort(this.opts.http.listen);
      this.tcp = createServer((req, res) => void this.handle(req, res, true));
      await listen(this.tcp, { host, port });
      this.tcpPort = (this.tcp.address() as { port: number }).port;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.unix, this.tcp].map((s) => (s ? closeServer(s) : undefined)));
    rmSync(this.opts.socketPath, { force: true });
  }

  health() {
    return { up: this.unix?.listening ?? false };
  }

  status() {
    return { socket: this.opts.socketPath, ...(this.tcpPort !== undefined ? { http: `${splitHostPort(this.opts.http!.listen).host}:${this.tcpPort}` } : {}) };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, needsToken: boolean): Promise<void> {
    const url = new URL(req.url ?? "/", "http://ridge");
    if (needsToken) {
      const auth = req.headers.authorization ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      if (!token || !sameToken(token, this.opts.http!.token)) {
        res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="ridgeline"' });
        res.end(JSON.stringify({ error: { code: "E_API_UNAUTHORIZED", message: "a valid bearer token is required" } }));
        return;
      }
    }
    const handler = this.opts.routes.match(req.method ?? "GET", url.pathname);
    if (!handler) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "E_API_NOT_FOUND", message: `no route ${req.method} ${url.pathname}` } }));
      return;
    }
    let bodyP: Promise<Buffer> | undefined;
    const body = () =>
      (bodyP ??= new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let n = 0;
        req.on("data", (c: Buffer) => {
          n += c.length;
          if (n > MAX_BODY) {
            reject(new RidgeError("E_API_TOO_LARGE", `request body over ${MAX_BODY} bytes`));
            req.destroy();
          } else chunks.push(c);
        });
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
      }));
    const creq: ControlRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      async json() {
        const b = await body();
        try {
          return b.length ? (JSON.parse(b.toString("utf8")) as unknown) : {};
        } catch (e) {
          throw new RidgeError("E_API_BAD_JSON", `request body is not JSON: ${errorMessage(e)}`);
        }
      },
    };
    try {
      const r = await handler(creq);
      const status = r.status ?? 200;
      const isText = typeof r.body === "string" || Buffer.isBuffer(r.body);
      const ct = r.contentType ?? (isText ? "text/plain; charset=utf-8" : "application/json");
      res.writeHead(status, { "content-type": ct, ...r.headers });
      res.end(r.body === undefined ? undefined : isText ? (r.body as string | Buffer) : JSON.stringify(r.body));
    } catch (e) {
      const status = e instanceof RidgeError ? (e.code === "E_API_TOO_LARGE" ? 413 : e.category === "peer" || e.category === "config" ? 400 : 500) : 500;
      if (status === 500) this.opts.log.warn({ code: errorCode(e), err: errorMessage(e), path: url.pathname }, "control API handler failed");
      if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: e instanceof RidgeError ? e.toJSON() : { code: "E_INTERNAL", message: errorMessage(e) } }));
    }
  }
}

function listen(server: Server, where: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new RidgeError(e.code === "EADDRINUSE" ? "E_CONTROL_ADDR_IN_USE" : "E_CONTROL_LISTEN", `control API cannot listen on ${"path" in where ? where.path : `${where.host}:${where.port}`}: ${e.message}`, { cause: e })),
    );
    server.listen(where, () => resolve());
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}
