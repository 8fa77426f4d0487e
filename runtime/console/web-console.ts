/**
 * The local web console on the control port: a login page that trades the bearer token for a
 * session cookie, the console page and its static files, `GET /events` (Server-Sent Events: one
 * snapshot every PUSH_MS), `POST /login` and `POST /logout`. The control server decides who the
 * caller is (Unix socket, bearer token, session, nobody) and hands every request here first.
 *
 * The snapshot is what the components' own routes answer (/status, /pipeline, /ota/state), plus
 * the feed (device readings, last warnings and errors, an hour of samples) and the pipeline graph.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock, Timer } from "../../core/index.js";
import type { ControlRequest, Routes } from "../control/routes.js";
import { consoleAsset } from "./assets.js";
import type { ConsoleFeed } from "./feed.js";
import { CSRF_HEADER, SessionStore, clearedCookies, sessionCookies, type Session } from "./sessions.js";

export const PUSH_MS = 1500;
const LOGIN_BODY_MAX = 4096;
const SHARE_MS = 500;

/** Who is asking, as the control server found out. */
export type Access = { kind: "local" } | { kind: "bearer" } | { kind: "session"; session: Session } | { kind: "none" };

export interface PipelineGraphNode {
  name: string;
  role: "driver" | "source" | "operator" | "sink";
  kind?: string;
  inputs: string[];
}

export interface WebConsoleOptions {
  routes: Routes;
  clock: Clock;
  /** Whether a token typed into the login form is the control token. */
  checkToken: (token: string) => boolean;
  feed?: ConsoleFeed | undefined;
  /** The pipeline's nodes and what each reads from. */
  graph?: (() => PipelineGraphNode[]) | undefined;
  /** The runtime slot this process runs from (a or b), when it runs from one. */
  slot?: string | undefined;
  pushEveryMs?: number | undefined;
}

const PAGE_HEADERS: Record<string, string> = {
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

function apiError(code: string, message: string) {
  return { error: { code, message } };
}

/**
 * A request from another site. Browsers say so in Sec-Fetch-Site (same-origin, or none for a
 * typed address, is fine); one without it is judged by its Origin against the Host it asked for.
 * Clients that are not browsers send neither.
 */
export function crossSite(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string") return site !== "same-origin" && site !== "none";
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

export class WebConsole {
  readonly sessions: SessionStore;
  private readonly streams = new Set<{ stop(): void }>();
  private shared: { at: number; p: Promise<Record<string, unknown>> } | undefined;

  constructor(private readonly o: WebConsoleOptions) {
    this.sessions = new SessionStore(o.clock);
  }

  /** Paths the console answers for a caller nobody vouched for yet. */
  static isPublic(method: string, path: string): boolean {
    return (method === "GET" && (path === "/" || path === "/login" || path === "/favicon.ico" || path.startsWith("/console/"))) || (method === "POST" && path === "/login");
  }

  /** Answers the console's own paths; false for anything else (the API routes). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, access: Access): Promise<boolean> {
    const method = req.method ?? "GET";
    const path = url.pathname;
    const signedIn = access.kind !== "none";
    if (method === "GET" && path.startsWith("/console/")) {
      const a = consoleAsset(path.slice("/console/".length));
      if (!a || path.endsWith(".html")) return false;
      res.writeHead(200, { "content-type": a.contentType, "cache-control": "no-cache", "x-content-type-options": "nosniff" });
      res.end(a.body);
      return true;
    }
    if (method === "GET" && path === "/favicon.ico") {
      res.writeHead(204, { "cache-control": "max-age=86400" });
      res.end();
      return true;
    }
    if (method === "GET" && path === "/") {
      this.page(res, signedIn ? "index.html" : "login.html", 200);
      return true;
    }
    if (method === "GET" && path === "/login") {
      this.page(res, "login.html", 200);
      return true;
    }
    if (method === "POST" && path === "/login") {
      await this.login(req, res);
      return true;
    }
    if (method === "POST" && path === "/logout") {
      if (access.kind === "session") this.sessions.end(access.session.id);
      res.writeHead(303, { location: "/", "set-cookie": clearedCookies(), "cache-control": "no-store" });
      res.end();
      return true;
    }
    if (method === "GET" && path === "/events" && signedIn) {
      this.events(req, res, access);
      return true;
    }
    if (method === "GET" && path === "/console.json" && signedIn) {
      sendJson(res, 200, await this.snapshot());
      return true;
    }
    return false;
  }

  private page(res: ServerResponse, name: string, status: number, replace?: Record<string, string>): void {
    const a = consoleAsset(name);
    if (!a) {
      sendJson(res, 500, apiError("E_INTERNAL", `console asset ${name} missing`));
      return;
    }
    let body = a.body.toString("utf8");
    for (const [k, v] of Object.entries(replace ?? {})) body = body.replace(k, v);
    res.writeHead(status, { "content-type": a.contentType, ...PAGE_HEADERS });
    res.end(body);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = !(req.headers["content-type"] ?? "").includes("json");
    const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      if (form) {
        res.setHeader("cache-control", "no-store");
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        this.page(res, "login.html", status, { "<!--error-->": `<p class="error" id="login-error">${message}</p>` });
      } else sendJson(res, status, apiError(code, message), headers);
    };
    // Login CSRF: another site must not sign a browser into this gateway either.
    if (crossSite(req)) return refuse(403, "E_API_CSRF", "a login from another site is refused");
    const client = req.socket.remoteAddress ?? "?";
    const may = this.sessions.mayTry(client);
    if (!may.ok) return refuse(429, "E_API_RATE_LIMITED", `too many failed logins; try again in ${may.retryAfterSec} s`, { "retry-after": String(may.retryAfterSec) });
    let text: string;
    try {
      text = await readSmallBody(req, LOGIN_BODY_MAX);
    } catch {
      return refuse(413, "E_API_TOO_LARGE", "login body too large");
    }
    let token = "";
    if (form) token = new URLSearchParams(text).get("token") ?? "";
    else {
      try {
        const v = JSON.parse(text) as { token?: unknown };
        token = typeof v.token === "string" ? v.token : "";
      } catch {
        token = "";
      }
    }
    if (!token || !this.o.checkToken(token)) {
      this.sessions.failed(client);
      return refuse(401, "E_API_UNAUTHORIZED", "that is not the control token");
    }
    const s = this.sessions.create();
    const cookies = sessionCookies(s, Math.floor(this.sessions.idleMs / 1000));
    if (form) {
      res.writeHead(303, { location: "/", "set-cookie": cookies, "cache-control": "no-store" });
      res.end();
    } else sendJson(res, 200, { ok: true, csrf: s.csrf }, { "set-cookie": cookies });
  }

  private events(req: IncomingMessage, res: ServerResponse, access: Access): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    res.write(`retry: 2000\n\n`);
    let timer: Timer | undefined;
    let closed = false;
    const stream = {
      stop: () => {
        closed = true;
        timer?.cancel();
        this.streams.delete(stream);
        if (!res.writableEnded) res.end();
      },
    };
    this.streams.add(stream);
    const push = async () => {
      if (closed) return;
      // a session logged out (or expired) ends its streams
      if (access.kind === "session" && !this.sessions.alive(access.session)) return stream.stop();
      try {
        const snap = await this.snapshot();
        if (!closed) res.write(`event: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
      } catch {
        /* the next push tries again */
      }
      if (!closed) timer = this.o.clock.setTimeout(() => void push(), this.o.pushEveryMs ?? PUSH_MS);
    };
    req.on("close", () => stream.stop());
    void push();
  }

  /** Ends every event stream (the control server is stopping). */
  close(): void {
    for (const s of [...this.streams]) s.stop();
  }

  private async call(path: string): Promise<unknown> {
    const h = this.o.routes.match("GET", path);
    if (!h) return undefined;
    const req: ControlRequest = { method: "GET", path, query: new URLSearchParams(), headers: {}, body: async () => Buffer.alloc(0), json: async () => ({}) };
    try {
      return (await h(req)).body;
    } catch (e) {
      return { error: { message: e instanceof Error ? e.message : String(e) } };
    }
  }

  /** One snapshot serves every stream that asks within SHARE_MS (several tabs, several people). */
  snapshot(): Promise<Record<string, unknown>> {
    const now = this.o.clock.monotonic();
    if (this.shared && now - this.shared.at < SHARE_MS) return this.shared.p;
    const p = this.build();
    this.shared = { at: now, p };
    return p;
  }

  private async build(): Promise<Record<string, unknown>> {
    const [status, pipeline, ota] = await Promise.all([this.call("/status"), this.call("/pipeline"), this.call("/ota/state")]);
    const otaActive = ota && typeof ota === "object" && "active" in ota ? (ota as { active?: unknown }).active : undefined;
    return {
      at: this.o.clock.now(),
      slot: typeof otaActive === "string" ? otaActive : (this.o.slot ?? null),
      status: status ?? null,
      pipeline: pipeline ?? null,
      graph: this.o.graph?.() ?? [],
      ota: ota ?? null,
      ...(this.o.feed ? this.o.feed.snapshot() : { devices: [], logs: [], history: [], ingested: 0 }),
    };
  }
}

function readSmallBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > max) {
        reject(new Error("too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export { CSRF_HEADER };
