/**
 * The web console's access rules on a real ControlServer (loopback TCP and its Unix socket): no
 * cookie → 401 JSON for the API and the login page for GET /; a wrong token refused and, after a
 * few, rate-limited; the session cookie's flags; a session's POST needs its CSRF header and its own
 * origin; bearer-token clients unchanged; the Unix socket needs nothing; /events streams snapshots.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { request, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { silentLogger } from "../../core/index.js";
import { ControlServer } from "../../runtime/control/server.js";
import { Routes } from "../../runtime/control/routes.js";
import { ConsoleFeed, LOGIN_FAILURES_PER_WINDOW } from "../../runtime/console/index.js";
import { systemClock } from "../../core/index.js";
import { tempDir } from "../../peers/process.js";

const TOKEN = "console-test-token-0123456789";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function http(where: { port: number } | { socketPath: string }, method: string, path: string, o: { headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = "port" in where ? { host: "127.0.0.1", port: where.port } : { socketPath: where.socketPath };
    const req = request({ ...target, method, path, headers: { ...(o.body !== undefined ? { "content-length": String(Buffer.byteLength(o.body)) } : {}), ...o.headers }, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(o.body);
  });
}

async function withServer(fn: (s: { port: number; socketPath: string; actions: string[] }) => Promise<void>): Promise<void> {
  const t = tempDir("ridge-console-auth-");
  const routes = new Routes();
  const actions: string[] = [];
  routes.add("GET", "/status", () => ({ body: { gateway: "console-gw", version: "0.0.0-test", healthy: true, components: {} } }));
  routes.add("POST", "/ota/check", () => {
    actions.push("ota-check");
    return { status: 202, body: { accepted: true } };
  });
  const feed = new ConsoleFeed(systemClock);
  feed.observe("bus", { id: "plc/1", ts: 1, device: "plc", kind: "telemetry", payload: { h0: 100 } });
  const socketPath = join(t.dir, "ridge.sock");
  const server = new ControlServer({ socketPath, http: { listen: "127.0.0.1:0", token: TOKEN, allowRemote: false }, routes, log: silentLogger, console: { feed } });
  try {
    await server.start();
    await fn({ port: server.tcpPort!, socketPath, actions });
  } finally {
    await server.stop();
    t.cleanup();
  }
}

const form = (token: string, extra: Record<string, string> = {}) => ({ headers: { "content-type": "application/x-www-form-urlencoded", ...extra }, body: new URLSearchParams({ token }).toString() });

function cookiesOf(r: Reply): { header: string; session: string; csrf: string; raw: string[] } {
  const raw = r.headers["set-cookie"] ?? [];
  const get = (name: string) => raw.find((c) => c.startsWith(`${name}=`))?.split(";")[0]?.slice(name.length + 1) ?? "";
  const session = get("ridge_session");
  const csrf = get("ridge_csrf");
  return { header: `ridge_session=${session}; ridge_csrf=${csrf}`, session, csrf, raw };
}

async function login(port: number): Promise<ReturnType<typeof cookiesOf>> {
  const r = await http({ port }, "POST", "/login", form(TOKEN));
  assert.is(r.status, 303, r.body);
  return cookiesOf(r);
}

test("no cookie: the API answers 401 JSON, GET / is the login page", () =>
  withServer(async ({ port }) => {
    const api = await http({ port }, "GET", "/status");
    assert.is(api.status, 401);
    assert.match(String(api.headers["content-type"]), /application\/json/);
    assert.is((JSON.parse(api.body) as { error: { code: string } }).error.code, "E_API_UNAUTHORIZED");
    const events = await http({ port }, "GET", "/events");
    assert.is(events.status, 401);
    const page = await http({ port }, "GET", "/");
    assert.is(page.status, 200);
    assert.match(String(page.headers["content-type"]), /text\/html/);
    assert.match(page.body, /<form method="post" action="\/login"/);
    assert.match(String(page.headers["content-security-policy"]), /default-src 'none'/);
    assert.is((await http({ port }, "POST", "/ota/check")).status, 401);
    // the stylesheet the login page needs is public; nothing else of the console is
    assert.is((await http({ port }, "GET", "/console/console.css")).status, 200);
    assert.is((await http({ port }, "GET", "/console.json")).status, 401);
  }));

test("login: the session cookie is HttpOnly, SameSite=Strict, Path=/; the CSRF cookie is readable by the page", () =>
  withServer(async ({ port }) => {
    const r = await http({ port }, "POST", "/login", form(TOKEN));
    assert.is(r.status, 303);
    assert.is(r.headers.location, "/");
    const c = cookiesOf(r);
    const session = c.raw.find((x) => x.startsWith("ridge_session="))!;
    const csrf = c.raw.find((x) => x.startsWith("ridge_csrf="))!;
    const flags = (s: string) => s.split(";").slice(1).map((x) => x.trim());
    assert.ok(flags(session).includes("HttpOnly"), session);
    assert.ok(flags(session).includes("SameSite=Strict"), session);
    assert.ok(flags(session).includes("Path=/"), session);
    assert.ok(c.session.length >= 40, "a 256-bit random session id");
    assert.ok(flags(csrf).includes("SameSite=Strict"), csrf);
    assert.not.ok(flags(csrf).includes("HttpOnly"), "the page reads the CSRF token to echo it");
    assert.is.not(c.csrf, c.session);
    // with the cookie: the API and the console page
    const st = await http({ port }, "GET", "/status", { headers: { cookie: c.header } });
    assert.is(st.status, 200);
    assert.is((JSON.parse(st.body) as { gateway: string }).gateway, "console-gw");
    const page = await http({ port }, "GET", "/", { headers: { cookie: c.header } });
    assert.match(page.body, /id="devices"/);
    // a JSON login answers the CSRF token too
    const j = await http({ port }, "POST", "/login", { headers: { "content-type": "application/json" }, body: JSON.stringify({ token: TOKEN }) });
    assert.is(j.status, 200);
    assert.ok((JSON.parse(j.body) as { csrf: string }).csrf.length > 20);
  }));

test("a wrong token is refused, and after a few the address is rate-limited (even the right token waits)", () =>
  withServer(async ({ port }) => {
    for (let i = 0; i < LOGIN_FAILURES_PER_WINDOW; i++) {
      const r = await http({ port }, "POST", "/login", form(`wrong-token-${i}-0123456789`));
      assert.is(r.status, 401);
      assert.is(r.headers["set-cookie"], undefined);
      assert.match(r.body, /id="login-error"/);
    }
    const limited = await http({ port }, "POST", "/login", form("wrong-token-again-0123456789"));
    assert.is(limited.status, 429);
    assert.ok(Number(limited.headers["retry-after"]) >= 1);
    const right = await http({ port }, "POST", "/login", { headers: { "content-type": "application/json" }, body: JSON.stringify({ token: TOKEN }) });
    assert.is(right.status, 429);
    assert.is((JSON.parse(right.body) as { error: { code: string } }).error.code, "E_API_RATE_LIMITED");
    assert.is(right.headers["set-cookie"], undefined);
    // a wrong bearer token is refused as before; the right one still works (API clients unchanged)
    assert.is((await http({ port }, "GET", "/status", { headers: { authorization: "Bearer not-the-token-0123456789" } })).status, 401);
    assert.is((await http({ port }, "GET", "/status", { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  }));

test("a session's POST needs the CSRF header and its own origin; a bearer client needs neither", () =>
  withServer(async ({ port, actions }) => {
    const c = await login(port);
    const host = `127.0.0.1:${port}`;
    // a cross-site form post carries the cookie only if SameSite allowed it; refused even then
    const noHeader = await http({ port }, "POST", "/ota/check", { headers: { cookie: c.header, origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" }, body: "" });
    assert.is(noHeader.status, 403);
    assert.is((JSON.parse(noHeader.body) as { error: { code: string } }).error.code, "E_API_CSRF");
    const sameOriginNoHeader = await http({ port }, "POST", "/ota/check", { headers: { cookie: c.header, origin: `http://${host}` } });
    assert.is(sameOriginNoHeader.status, 403);
    const wrongHeader = await http({ port }, "POST", "/ota/check", { headers: { cookie: c.header, "x-ridge-csrf": `${c.csrf}x` } });
    assert.is(wrongHeader.status, 403);
    const crossWithHeader = await http({ port }, "POST", "/ota/check", { headers: { cookie: c.header, "x-ridge-csrf": c.csrf, "sec-fetch-site": "cross-site" } });
    assert.is(crossWithHeader.status, 403);
    assert.equal(actions, []);
    const ok = await http({ port }, "POST", "/ota/check", { headers: { cookie: c.header, "x-ridge-csrf": c.csrf, origin: `http://${host}`, "sec-fetch-site": "same-origin" } });
    assert.is(ok.status, 202);
    assert.equal(actions, ["ota-check"]);
    const bearer = await http({ port }, "POST", "/ota/check", { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(bearer.status, 202);
    // login from another site is refused (login CSRF)
    const cross = await http({ port }, "POST", "/login", form(TOKEN, { origin: "http://evil.example" }));
    assert.is(cross.status, 403);
    assert.is(cross.headers["set-cookie"], undefined);
    // logout needs the CSRF header too, then the cookie is worthless
    assert.is((await http({ port }, "POST", "/logout", { headers: { cookie: c.header } })).status, 403);
    const out = await http({ port }, "POST", "/logout", { headers: { cookie: c.header, "x-ridge-csrf": c.csrf } });
    assert.is(out.status, 303);
    assert.ok((out.headers["set-cookie"] ?? []).every((x) => x.includes("Max-Age=0")));
    assert.is((await http({ port }, "GET", "/status", { headers: { cookie: c.header } })).status, 401);
    // a made-up session id is nobody
    assert.is((await http({ port }, "GET", "/status", { headers: { cookie: "ridge_session=made-up" } })).status, 401);
  }));

test("the Unix socket needs nothing: the API, the console page and POSTs without CSRF", () =>
  withServer(async ({ socketPath, actions }) => {
    assert.is((await http({ socketPath }, "GET", "/status")).status, 200);
    const page = await http({ socketPath }, "GET", "/");
    assert.match(page.body, /id="devices"/);
    assert.is((await http({ socketPath }, "POST", "/ota/check")).status, 202);
    assert.equal(actions, ["ota-check"]);
    const snap = JSON.parse((await http({ socketPath }, "GET", "/console.json")).body) as { devices: { device: string; values: Record<string, unknown> }[] };
    assert.equal(snap.devices[0]!.values, { h0: 100 });
  }));

test("GET /events streams status snapshots to a session", () =>
  withServer(async ({ port }) => {
    const c = await login(port);
    const first = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/events", headers: { cookie: c.header, accept: "text/event-stream" } }, (res) => {
        assert.is(res.statusCode, 200);
        assert.match(String(res.headers["content-type"]), /text\/event-stream/);
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buf += d;
          const m = /event: snapshot\ndata: (.*)\n\n/.exec(buf);
          if (m) {
            resolve(m[1]!);
            req.destroy();
          }
        });
      });
      req.on("error", reject);
      req.setTimeout(10_000, () => req.destroy(new Error("no snapshot")));
      req.end();
    });
    const snap = JSON.parse(first) as { status: { gateway: string }; devices: { device: string }[] };
    assert.is(snap.status.gateway, "console-gw");
    assert.is(snap.devices[0]!.device, "plc");
  }));

test.run();
