/**
 * Browser sessions of the local console: the bearer token typed into the login form buys a random
 * session id (an HttpOnly, SameSite=Strict cookie) and a CSRF token (a second, script-readable
 * cookie the page echoes in the X-Ridge-CSRF header of every POST: double submit, checked against
 * the session's own copy). Sessions live in memory only: a restart logs everyone out.
 * Failed logins are limited per client address (a fixed window), so the token is not guessable
 * by trying.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../../core/index.js";

export const SESSION_COOKIE = "ridge_session";
export const CSRF_COOKIE = "ridge_csrf";
export const CSRF_HEADER = "x-ridge-csrf";
export const SESSION_IDLE_MS = 8 * 3_600_000;
const MAX_SESSIONS = 64;
export const LOGIN_FAILURES_PER_WINDOW = 5;
export const LOGIN_WINDOW_MS = 60_000;

export interface Session {
  id: string;
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!out.has(k)) out.set(k, part.slice(i + 1).trim());
  }
  return out;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly failures = new Map<string, { windowStart: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    readonly idleMs = SESSION_IDLE_MS,
  ) {}

  create(): Session {
    const now = this.clock.monotonic();
    this.sweep(now);
    // the oldest goes first when a client logs in over and over without logging out
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const s: Session = { id: randomBytes(32).toString("base64url"), csrf: randomBytes(24).toString("base64url"), createdAt: now, expiresAt: now + this.idleMs };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session of this cookie header (its expiry slides), or undefined. */
  fromCookies(cookieHeader: string | undefined): Session | undefined {
    const id = parseCookies(cookieHeader).get(SESSION_COOKIE);
    if (!id) return undefined;
    const s = this.sessions.get(id);
    const now = this.clock.monotonic();
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return undefined;
    }
    s.expiresAt = now + this.idleMs;
    return s;
  }

  /** Double submit: the header equals the CSRF cookie and both equal the session's token. */
  csrfOk(s: Session, header: string | string[] | undefined, cookieHeader: string | undefined): boolean {
    const h = typeof header === "string" ? header : "";
    const c = parseCookies(cookieHeader).get(CSRF_COOKIE) ?? "";
    return h.length > 0 && sameString(h, s.csrf) && sameString(c, s.csrf);
  }

  /** Still there and not expired (an event stream checks before each push). */
  alive(s: Session): boolean {
    return this.sessions.get(s.id) === s && s.expiresAt > this.clock.monotonic();
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Whether `client` may try a login now (fewer than the allowed failures in this window). */
  mayTry(client: string): { ok: true } | { ok: false; retryAfterSec: number } {
    const now = this.clock.monotonic();
    const f = this.failures.get(client);
    if (!f || now - f.windowStart >= LOGIN_WINDOW_MS) return { ok: true };
    if (f.count < LOGIN_FAILURES_PER_WINDOW) return { ok: true };
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((f.windowStart + LOGIN_WINDOW_MS - now) / 1000)) };
  }

  failed(client: string): void {
    const now = this.clock.monotonic();
    const f = this.failures.get(client);
    if (!f || now - f.windowStart >= LOGIN_WINDOW_MS) this.failures.set(client, { windowStart: now, count: 1 });
    else f.count++;
    if (this.failures.size > 1024) for (const [k, v] of this.failures) if (now - v.windowStart >= LOGIN_WINDOW_MS) this.failures.delete(k);
  }

  private sweep(now: number): void {
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}

/** Set-Cookie values for a new session (Path=/, SameSite=Strict; the session id HttpOnly). */
export function sessionCookies(s: Session, maxAgeSec: number): string[] {
  return [`${SESSION_COOKIE}=${s.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSec}`, `${CSRF_COOKIE}=${s.csrf}; SameSite=Strict; Path=/; Max-Age=${maxAgeSec}`];
}

export function clearedCookies(): string[] {
  return [`${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`, `${CSRF_COOKIE}=; SameSite=Strict; Path=/; Max-Age=0`];
}
