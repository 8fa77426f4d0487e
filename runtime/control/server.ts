/**
 * The control API: HTTP over a Unix socket (`<data>/ridge.sock`, mode 0600: who can open it is
 * who the file system says), and optionally over loopback TCP with a bearer token or a browser
 * session of the web console (runtime/console: the login form trades the token for an HttpOnly,
 * SameSite=Strict cookie; every POST of a session also carries its CSRF token in X-Ridge-CSRF).
 * Routes are registered by components in `Routes`.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { chmodSync, existsSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { RidgeError, errorCode, errorMessage, splitHostPort, systemClock, type Clock, type Logger } from "../../core/index.js";
import type { Component } from "../component.js";
import { WebConsole, crossSite, type Access, type ConsoleFeed, type PipelineGraphNode } from "../console/index.js";
import type { ControlConfig } from "./config.js";
import type { ControlRequest, Routes } from "./routes.js";

const MAX_BODY = 8 * 1024 * 1024;

export interface ControlServerOptions {
  socketPath: string;
  http: ControlConfig["http"];
  routes: Routes;
  log: Logger;
  clock?: Clock;
  /** What the web console shows beyond the routes: device readings, log lines, samples, the pipeline graph. */
  console?: { feed?: ConsoleFeed; graph?: () => PipelineGraphNode[]; slot?: string | undefined };
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
  readonly console: WebConsole;

  constructor(private readonly opts: ControlServerOptions) {
    const token = opts.http?.token;
    this.console = new WebConsole({
      routes: opts.routes,
      clock: opts.clock ?? systemClock,
      checkToken: (t) => token !== undefined && sameToken(t, token),
      feed: opts.console?.feed,
      graph: opts.console?.graph,
      slot: opts.console?.slot,
    });
  }

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
    this.opts.console?.feed?.start();
    if (this.opts.http) {
      const { host, port } = splitHostPort(this.opts.http.listen);
      this.tcp = createServer((req, res) => void this.handle(req, res, true));
      await listen(this.tcp, { host, port });
      this.tcpPort = (this.tcp.address() as { port: number }).port;
    }
  }

  async stop(): Promise<void> {
    this.console.close();
    this.opts.console?.feed?.stop();
    await Promise.all([this.unix, this.tcp].map((s) => (s ? closeServer(s) : undefined)));
    rmSync(this.opts.socketPath, { force: true });
  }

  health() {
    return { up: this.unix?.listening ?? false };
  }

  status() {
    return { socket: this.opts.socketPath, ...(this.tcpPort !== undefined ? { http: `${splitHostPort(this.opts.http!.listen).host}:${this.tcpPort}` } : {}) };
  }

  /** The Unix socket needs nothing; TCP needs the bearer token (a wrong one is refused outright) or a live session cookie. */
  private access(req: IncomingMessage, needsToken: boolean): Access | "bad-token" {
    if (!needsToken) return { kind: "local" };
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      return token && sameToken(token, this.opts.http!.token) ? { kind: "bearer" } : "bad-token";
    }
    const session = this.console.sessions.fromCookies(req.headers.cookie);
    return session ? { kind: "session", session } : { kind: "none" };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, needsToken: boolean): Promise<void> {
    const url = new URL(req.url ?? "/", "http://ridge");
    const method = req.method ?? "GET";
    const access = this.access(req, needsToken);
    if (access === "bad-token") {
      unauthorized(res);
      return;
    }
    // A browser session's POST (or PUT, DELETE) proves it comes from the console page: the CSRF
    // token in a header (double submit), and no other site as its origin. Logging in is a token check itself.
    if (access.kind === "session" && method !== "GET" && method !== "HEAD" && !(method === "POST" && url.pathname === "/login")) {
      if (crossSite(req) || !this.console.sessions.csrfOk(access.session, req.headers["x-ridge-csrf"], req.headers.cookie)) {
        res.writeHead(403, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "E_API_CSRF", message: "a console POST needs the X-Ridge-CSRF header of its session; reload the page" } }));
        return;
      }
    }
    if (access.kind !== "none" || WebConsole.isPublic(method, url.pathname)) {
      try {
        if (await this.console.handle(req, res, url, access)) return;
      } catch (e) {
        this.opts.log.warn({ code: errorCode(e), err: errorMessage(e), path: url.pathname }, "web console request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "E_INTERNAL", message: errorMessage(e) } }));
        return;
      }
    }
    if (access.kind === "none") {
      unauthorized(res);
      return;
    }
    const handler = this.opts.routes.match(req.method ?? "GET", url.pathname);
    if (!handler) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "E_API_NOT_FOUND", message: notFoundMessage(this.opts.routes, req.method ?? "GET", url.pathname) } }));
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
      if (status >= 400 && creq.method !== "GET") logRejected(this.opts.log, creq.method, url.pathname, status, r.body);
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

/** What a route prefix needs in the config when none of its routes is registered. */
const FEATURES: Record<string, { what: string; section: string }> = {
  attest: { what: "attestation", section: "attest" },
  ota: { what: "OTA", section: "ota" },
};

/** A 404 that says why: a feature off in the config, rather than `no route POST /attest/quote`. */
export function notFoundMessage(routes: Routes, method: string, path: string): string {
  const first = path.split("/")[1] ?? "";
  const f = FEATURES[first];
  if (f && !routes.paths().some((p) => p.split(" ")[1]!.startsWith(`/${first}/`)))
    return `${f.what} is off on this gateway: its config has no \`${f.section}:\` section (add one and restart the gateway to serve ${method} ${path})`;
  return `no route ${method} ${path}`;
}

/** A request the gateway refused (a pipeline reload with config errors, say): in the log, not only in the reply. */
function logRejected(log: Logger, method: string, path: string, status: number, body: unknown): void {
  const b = (body ?? {}) as { errors?: { code?: string; path?: string; message?: string; line?: number }[]; error?: { code?: string; message?: string } };
  const first = b.errors?.[0] ?? b.error;
  log.warn(
    {
      method,
      path,
      status,
      ...(b.errors ? { errors: b.errors.length } : {}),
      ...(first?.code ? { code: first.code } : {}),
      ...(first?.message ? { err: first.message } : {}),
      ...(b.errors?.[0]?.path ? { at: `${b.errors[0].path}${b.errors[0].line ? ` (line ${b.errors[0].line})` : ""}` } : {}),
    },
    path === "/pipeline/reload" ? "pipeline reload rejected; the running pipeline is unchanged" : "control API request rejected",
  );
}

function unauthorized(res: ServerResponse): void {
  res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="ridgeline"' });
  res.end(JSON.stringify({ error: { code: "E_API_UNAUTHORIZED", message: "a valid bearer token (or a console session) is required" } }));
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
