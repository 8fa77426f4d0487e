/**
 * The `http` source: devices or local apps POST events as JSON (one object or a list) or NDJSON.
 * Bearer token required; body bounded (413); any bad event rejects the whole request with 400 and
 * the reason (index and field), so a client never has to guess what was taken; 429 with
 * Retry-After when the pipeline pushes back; 202 with the count when taken.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { fail, ok, splitHostPort, type Event, type Result } from "../../core/index.js";
import type { HttpSourceConfig } from "./config.js";

/** What a POST to an http source gives: events, or why the body is refused (answered 400). */
export type EventCheck<T> = Result<T, "E_PIPELINE_HTTP_EVENT">;

/** Validate one event from outside: never throws. */
export function checkEvent(v: unknown): EventCheck<Event> {
  if (!v || typeof v !== "object" || Array.isArray(v)) return fail("E_PIPELINE_HTTP_EVENT", "an event is a JSON object");
  const o = v as Record<string, unknown>;
  if (typeof o.id !== "string" || o.id.length === 0 || o.id.length > 256) return fail("E_PIPELINE_HTTP_EVENT", "id must be a string of 1 to 256 characters");
  if (typeof o.ts !== "number" || !Number.isFinite(o.ts)) return fail("E_PIPELINE_HTTP_EVENT", "ts must be a number (ms since the epoch)");
  if (typeof o.device !== "string" || o.device.length === 0 || o.device.length > 256) return fail("E_PIPELINE_HTTP_EVENT", "device must be a string of 1 to 256 characters");
  if (typeof o.kind !== "string" || o.kind.length === 0 || o.kind.length > 64) return fail("E_PIPELINE_HTTP_EVENT", "kind must be a string of 1 to 64 characters");
  if (!o.payload || typeof o.payload !== "object" || Array.isArray(o.payload)) return fail("E_PIPELINE_HTTP_EVENT", "payload must be a JSON object");
  const e: Event = { id: o.id, ts: o.ts, device: o.device, kind: o.kind, payload: o.payload as Record<string, unknown> };
  if (o.meta !== undefined) {
    if (!o.meta || typeof o.meta !== "object" || Array.isArray(o.meta) || !Object.values(o.meta).every((x) => typeof x === "string")) return fail("E_PIPELINE_HTTP_EVENT", "meta must be an object of strings");
    e.meta = o.meta as Record<string, string>;
  }
  return ok(e);
}

/** Parse a body as JSON (object or list) or NDJSON; never throws. */
export function parseEvents(body: string, contentType: string): EventCheck<Event[]> {
  let items: unknown[];
  const ndjson = contentType.includes("ndjson") || contentType.includes("jsonl");
  if (ndjson) {
    items = [];
    const lines = body.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!.trim();
      if (!l) continue;
      try {
        items.push(JSON.parse(l));
      } catch {
        return fail("E_PIPELINE_HTTP_EVENT", `line ${i + 1} is not JSON`);
      }
    }
  } else {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      return fail("E_PIPELINE_HTTP_EVENT", "the body is not JSON (send application/json, or application/x-ndjson for one event per line)");
    }
    items = Array.isArray(v) ? v : [v];
  }
  const events: Event[] = [];
  for (let i = 0; i < items.length; i++) {
    const r = checkEvent(items[i]);
    if (!r.ok) return fail("E_PIPELINE_HTTP_EVENT", `event ${i}: ${r.reason}`);
    events.push(r.value);
  }
  return ok(events);
}

export interface HttpSourceTarget {
  accepting(): boolean;
  ingest(events: Event[]): void;
}

export class HttpSource {
  private server: Server | undefined;
  port = 0;
  constructor(
    readonly name: string,
    readonly config: HttpSourceConfig,
    private target: HttpSourceTarget,
  ) {}

  retarget(t: HttpSourceTarget): void {
    this.target = t;
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.config.listen);
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private reply(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? "";
    const want = Buffer.from(`Bearer ${this.config.token}`);
    const got = Buffer.from(h);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== this.config.path) return this.reply(res, 404, { error: `POST events to ${this.config.path}` });
    if (req.method !== "POST") return this.reply(res, 405, { error: "use POST" }, { allow: "POST" });
    if (!this.authorized(req)) return this.reply(res, 401, { error: "missing or wrong bearer token" }, { "www-authenticate": "Bearer" });
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > this.config.maxBody) {
      req.resume();
      return this.reply(res, 413, { error: `body above ${this.config.maxBody} bytes` }, { connection: "close" });
    }
    if (!this.target.accepting()) {
      req.resume();
      return this.reply(res, 429, { error: "the pipeline is pushing back; retry later" }, { "retry-after": String(this.config.retryAfter) });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > this.config.maxBody) {
        tooBig = true;
        break;
      }
      chunks.push(c);
    }
    if (tooBig) {
      this.reply(res, 413, { error: `body above ${this.config.maxBody} bytes` }, { connection: "close" });
      req.destroy();
      return;
    }
    const r = parseEvents(Buffer.concat(chunks).toString("utf8"), String(req.headers["content-type"] ?? ""));
    if (!r.ok) return this.reply(res, 400, { error: r.reason });
    if (!this.target.accepting()) return this.reply(res, 429, { error: "the pipeline is pushing back; retry later" }, { "retry-after": String(this.config.retryAfter) });
    this.target.ingest(r.value);
    this.reply(res, 202, { accepted: r.value.length });
  }
}
