/**
 * A test LwM2M client in its own process, built on the `coap` package: one UDP socket for its
 * CoAP server (requests from the LwM2M server) and its agent (Register/Update/De-register and
 * firmware downloads), like a real client. Controlled by JSON lines on stdin, reports JSON lines
 * on stdout.
 *
 *   node --import tsx test/helpers/lwm2m-client-process.ts --server 127.0.0.1:5683 --ep dev-1 \
 *        [--lt 60] [--format senml-json|senml-cbor|tlv|lwm2m-json] [--port 0]
 *   stdin:  {"cmd":"register"} {"cmd":"update","lt":30} {"cmd":"deregister"}
 *           {"cmd":"set","path":"/3303/0/5700","value":22.5}   (notifies observers)
 *           {"cmd":"swarm", ...} (see swarm mode in lwm2m-client.ts)  {"cmd":"exit"}
 *   stdout: {"event":"ready","port":N} {"event":"registered","location":"/rd/x"} {"event":"request",...}
 *           {"event":"downloaded","length":N,"sha256":"..."} {"event":"updated-firmware"} ...
 */
import { createSocket } from "node:dgram";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import coap from "coap";
import type { IncomingMessage, OutgoingMessage } from "coap";
import { CONTENT_FORMAT_NUMBER, ContentFormat, decodeContent, encodeContent, type ContentFormatName } from "../../drivers/lwm2m/content-format.js";
import { typeOfPath, OBJECTS } from "../../drivers/lwm2m/object-registry.js";
import { formatLinkFormat } from "../../drivers/lwm2m/link-format.js";
import type { Lwm2mValue, ResourceValue } from "../../drivers/lwm2m/value.js";
import { encodeUint } from "../../codecs/index.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const [serverHost, serverPortS] = (args.get("server") ?? "127.0.0.1:5683").split(":") as [string, string];
const serverPort = Number(serverPortS);
const ep = args.get("ep") ?? "test-client";
let lifetime = Number(args.get("lt") ?? 60);
const format = CONTENT_FORMAT_NUMBER[(args.get("format") ?? "senml-json") as ContentFormatName] ?? ContentFormat.senmlJson;

const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");

// ---- the object tree ----
const values = new Map<string, Lwm2mValue>([
  ["/3/0/0", "Ridgeline Test"],
  ["/3/0/1", "T-1000"],
  ["/3/0/3", "1.0.0"],
  ["/3/0/9", 87],
  ["/3/0/13", 1700000000],
  ["/3303/0/5700", 21.5],
  ["/3303/0/5701", "Cel"],
  ["/3304/0/5700", 40],
  ["/3311/0/5850", false],
  ["/3311/0/5851", 0],
  ["/5/0/1", ""],
  ["/5/0/3", 0],
  ["/5/0/5", 0],
]);
const executable = new Set(["/3/0/4", "/5/0/2", "/3303/0/5605"]);
const attributes = new Map<string, Record<string, string>>();

function instances(): string[] {
  return [...new Set([...values.keys()].map((p) => p.split("/").slice(0, 3).join("/")))].sort();
}

function under(path: string): ResourceValue[] {
  const prefix = path === "/" ? "/" : path + "/";
  return [...values.entries()].filter(([p]) => p === path || p.startsWith(prefix)).map(([p, v]) => ({ path: p, value: v }));
}

function registrationPayload(): string {
  return formatLinkFormat([{ target: "/", attrs: { rt: "oma.lwm2m", ct: "60 110 112 11542 11543" } }, ...instances().map((t) => ({ target: t, attrs: {} }))]);
}

// ---- one socket: server + agent ----
const socket = createSocket("udp4");
await new Promise<void>((r) => socket.bind(Number(args.get("port") ?? 0), "127.0.0.1", () => r()));
const agent = new coap.Agent({ socket });
const server = coap.createServer({ type: "udp4" }, (req, res) => handle(req, res));
server.listen(socket);
let location = "";

const observers = new Map<string, OutgoingMessage[]>();

function send(method: "POST" | "DELETE", pathname: string, query: string, payload?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = agent.request({ host: serverHost, port: serverPort, method, pathname, query, confirmable: true });
    if (payload !== undefined) req.setOption("Content-Format", Buffer.from(encodeUint(ContentFormat.linkFormat)));
    req.on("response", resolve);
    req.on("error", reject);
    req.end(payload);
  });
}

function reply(res: OutgoingMessage, code: string, payload?: Buffer | string, cf?: number): void {
  res.code = code;
  if (cf !== undefined) res.setOption("Content-Format", Buffer.from(encodeUint(cf)));
  res.end(payload);
}

function encodeFor(path: string, accept: number | undefined): { cf: number; body: Buffer } | undefined {
  const vs = under(path);
  if (vs.length === 0) return undefined;
  const depth = path.split("/").filter(Boolean).length;
  let cf = accept ?? (depth >= 3 ? ContentFormat.text : format);
  if (cf === ContentFormat.text && depth < 3) cf = format;
  if (depth >= 3 && accept === undefined && format !== ContentFormat.senmlJson) cf = format;
  return { cf, body: Buffer.from(encodeContent(cf, vs, path, typeOfPath)) };
}

function notify(path: string): void {
  for (const [p, list] of observers) {
    if (!(path === p || path.startsWith(p + "/"))) continue;
    for (const res of list) {
      const e = encodeFor(p, undefined);
      if (e) {
        res.setOption("Content-Format", Buffer.from(encodeUint(e.cf)));
        res.write(e.body);
      }
    }
  }
}

async function download(uri: string): Promise<void> {
  values.set("/5/0/3", 1);
  const u = new URL(uri);
  const req = agent.request({ host: u.hostname, port: Number(u.port), method: "GET", pathname: u.pathname, confirmable: true });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.on("response", resolve);
    req.on("error", reject);
    req.end();
  }).catch((e: Error) => {
    out({ event: "download-error", error: e.message });
    return undefined;
  });
  if (!res || res.code !== "2.05") {
    out({ event: "download-failed", code: res?.code });
    values.set("/5/0/3", 0);
    values.set("/5/0/5", res?.code === "4.04" ? 7 : 4);
    return;
  }
  const sha256 = createHash("sha256").update(res.payload).digest("hex");
  out({ event: "downloaded", length: res.payload.length, sha256 });
  values.set("/5/0/3", 2);
}

function handle(req: IncomingMessage, res: OutgoingMessage): void {
  const url = new URL(req.url, "coap://client");
  const path = url.pathname.replace(/\/$/, "") || "/";
  const cfH = req.headers["Content-Format"];
  const acceptH = req.headers.Accept;
  const num = (h: unknown) => (typeof h === "number" ? h : typeof h === "string" ? ({ "application/link-format": 40, "text/plain": 0, "application/senml+json": 110, "application/senml+cbor": 112, "application/vnd.oma.lwm2m+tlv": 11542, "application/vnd.oma.lwm2m+json": 11543, "application/octet-stream": 42 } as Record<string, number>)[h] : undefined);
  const observe = req.headers.Observe;
  out({ event: "request", method: req.method, path, query: url.search, observe: observe ?? null, format: num(cfH) ?? null, port: req.rsinfo.port });
  const ids = path.split("/").filter(Boolean);
  if (req.method === "GET") {
    if (num(acceptH) === ContentFormat.linkFormat) {
      const links = instances()
        .filter((i) => i === path || i.startsWith(path + "/") || path.startsWith(i))
        .flatMap((i) => [{ target: i, attrs: {} as Record<string, string | true> }, ...Object.keys(OBJECTS[Number(i.split("/")[1])]?.resources ?? {}).filter((r) => values.has(`${i}/${r}`)).map((r) => ({ target: `${i}/${r}`, attrs: (attributes.get(`${i}/${r}`) ?? {}) as Record<string, string | true> }))]);
      return reply(res, "2.05", formatLinkFormat(links), ContentFormat.linkFormat);
    }
    const e = encodeFor(path, num(acceptH));
    if (!e) return reply(res, "4.04");
    if (observe === 0) {
      const list = observers.get(path) ?? [];
      list.push(res);
      observers.set(path, list);
      res.on("finish", () => observers.set(path, (observers.get(path) ?? []).filter((r) => r !== res)));
      res.setOption("Content-Format", Buffer.from(encodeUint(e.cf)));
      res.write(e.body);
      return;
    }
    if (observe === 1) {
      for (const r of observers.get(path) ?? []) r.end();
      observers.delete(path);
      out({ event: "observe-cancelled", path });
    }
    return reply(res, "2.05", e.body, e.cf);
  }
  if (req.method === "PUT" && url.search && (!req.payload || req.payload.length === 0)) {
    attributes.set(path, Object.fromEntries(url.searchParams.entries()));
    out({ event: "attributes", path, attrs: Object.fromEntries(url.searchParams.entries()) });
    return reply(res, "2.04");
  }
  if ((req.method === "PUT" || req.method === "POST") && executable.has(path)) {
    out({ event: "executed", path, args: req.payload?.toString() ?? "" });
    reply(res, "2.04");
    if (path === "/5/0/2") {
      if (values.get("/5/0/3") !== 2) return;
      values.set("/5/0/3", 3);
      setTimeout(() => {
        values.set("/5/0/3", 0);
        values.set("/5/0/5", 1);
        values.set("/3/0/3", "2.0.0");
        out({ event: "updated-firmware" });
      }, 100);
    }
    return;
  }
  if (req.method === "PUT" || (req.method === "POST" && ids.length >= 2)) {
    const f = num(cfH);
    const d = decodeContent(f, new Uint8Array(req.payload), path, typeOfPath);
    if (!d.ok) {
      out({ event: "bad-write", reason: d.reason });
      return reply(res, "4.00", d.reason);
    }
    if (req.method === "PUT" && ids.length === 2) for (const k of [...values.keys()]) if (k.startsWith(path + "/") && typeOfPath(k) !== "none") values.delete(k);
    for (const v of d.value) values.set(v.path, v.value);
    out({ event: "written", path, format: f ?? null, values: d.value.map((v) => [v.path, v.value instanceof Uint8Array ? "bytes" : v.value]) });
    reply(res, "2.04");
    if (path === "/5/0/1" && typeof values.get("/5/0/1") === "string" && values.get("/5/0/1")) void download(String(values.get("/5/0/1")));
    for (const v of d.value) notify(v.path);
    return;
  }
  if (req.method === "POST" && ids.length === 1) {
    const d = decodeContent(num(cfH), new Uint8Array(req.payload), `/${ids[0]}/0`, typeOfPath);
    if (!d.ok) return reply(res, "4.00", d.reason);
    let inst = 0;
    while (values.has(`/${ids[0]}/${inst}/5700`) || instances().includes(`/${ids[0]}/${inst}`)) inst++;
    for (const v of d.value) values.set(v.path.replace(/^\/(\d+)\/\d+/, `/$1/${inst}`), v.value);
    out({ event: "created", path: `/${ids[0]}/${inst}` });
    res.setOption("Location-Path", [Buffer.from(ids[0]!), Buffer.from(String(inst))]);
    return reply(res, "2.01");
  }
  if (req.method === "DELETE" && ids.length === 2) {
    const had = under(path).length > 0;
    for (const k of [...values.keys()]) if (k.startsWith(path + "/")) values.delete(k);
    out({ event: "deleted", path });
    return reply(res, had ? "2.02" : "4.04");
  }
  reply(res, "4.05");
}

async function command(c: Record<string, unknown>): Promise<void> {
  switch (c.cmd) {
    case "register": {
      const r = await send("POST", "/rd", `ep=${ep}&lt=${lifetime}&lwm2m=1.1&b=U`, registrationPayload());
      const loc = (r._packet.options ?? []).filter((o) => o.name === "Location-Path").map((o) => (o.value as Buffer).toString());
      location = "/" + loc.join("/");
      out({ event: r.code === "2.01" ? "registered" : "register-failed", code: r.code, location });
      break;
    }
    case "update": {
      if (typeof c.lt === "number") lifetime = c.lt;
      const r = await send("POST", location, typeof c.lt === "number" ? `lt=${c.lt}` : "");
      out({ event: "update", code: r.code });
      break;
    }
    case "deregister": {
      const r = await send("DELETE", location, "");
      out({ event: "deregistered", code: r.code });
      break;
    }
    case "set":
      values.set(String(c.path), c.value as Lwm2mValue);
      notify(String(c.path));
      out({ event: "set", path: c.path });
      break;
    case "exit":
      process.exit(0);
  }
}

out({ event: "ready", port: socket.address().port });
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  command(c).catch((e: unknown) => out({ event: "error", cmd: c.cmd, error: e instanceof Error ? e.message : String(e) }));
});
rl.on("close", () => process.exit(0));
