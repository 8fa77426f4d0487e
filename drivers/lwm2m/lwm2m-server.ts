/**
 * The LwM2M server on ONE UDP socket: node-coap's server answers the Registration interface
 * (`/rd`) and serves firmware packages (`/fw/<token>`, block-wise), and a node-coap Agent bound to
 * the same socket sends Device Management and Information Reporting requests, so every request
 * leaves from the port the client registered with (Wakaama, Anjay and Zephyr drop anything else).
 *
 * Every datagram is also classified by our own total codec (codecs/coap-message.ts) so malformed
 * input is counted before node-coap sees it.
 *
 * Ordering: the 2.01 to a Register (2.04 to an Update) is sent before any request to that client —
 * the registration machine's first effect is `acknowledge` and the events that start
 * Write-Attributes/Observe come after it (registration-lifetime.ts). Requests still in flight to
 * a registration that was replaced or ended are abandoned (no retransmissions to a client that
 * re-registered, no stale "observe failed").
 *
 * IPv6: an IPv6 listen host (`[::]:5683`, `[::1]:5683`) opens a udp6 socket; `::` is dual-stack
 * where the OS allows (IPv4 clients appear as `::ffff:a.b.c.d`).
 *
 * Send (OMA-TS-LightweightM2M-Core 1.1 §6.4.3, Information Reporting): a registered client
 * POSTs SenML JSON or CBOR to `/dp`; the values go to `sent` like notifications. A refused Send is
 * answered with an error code, its reason code in the diagnostic payload, and counted as
 * lwm2m_send_rejected_total{reason}.
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { randomBytes } from "node:crypto";
import coap from "coap";
import type { IncomingMessage, OutgoingMessage, ObserveReadStream } from "coap";
import { RidgeError, type Clock, type ErrorCode, type Logger } from "../../core/index.js";
import { decodeCoapMessage, decodeSenmlCbor, decodeSenmlJson, encodeBlockOption, encodeUint, isRequestCode, unknownCriticalOptions } from "../../codecs/index.js";
import { ContentFormat, decodeContent, encodeContent, isSupportedFormat } from "./content-format.js";
import { declaredObjects, parseLinkFormat, type Link } from "./link-format.js";
import { typeOfPath } from "./object-registry.js";
import type { Admission } from "./registration-admission.js";
import { Registrations, type RegistrationEvents, type RegistrationLimits } from "./registrations.js";
import type { Registration, RegistrationStore } from "./registration-store.js";
import { senmlToValues } from "./senml-values.js";
import { parsePath, type ResourceValue, type TypeOf } from "./value.js";

export interface Lwm2mServerOptions {
  host: string;
  port: number;
  clock: Clock;
  log: Logger;
  count(metric: string, labels: Record<string, string>, by?: number): void;
  limits: RegistrationLimits;
  admit(endpoint: string): Admission;
  events: RegistrationEvents;
  store?: RegistrationStore;
  requestTimeoutMs: number;
  /** largest registration payload accepted */
  maxRegistrationBytes: number;
  /** largest Send (/dp) payload accepted */
  maxSendBytes?: number;
  /** values a registered client pushed with Send (LwM2M 1.1 §6.4.3), decoded */
  sent?(reg: Registration, values: ResourceValue[]): void;
  typeOf?: TypeOf;
}

/** A request in flight to one registration, abandoned when that registration is replaced or ends. */
interface InFlight {
  registrationId: string;
  abandon(why: string): void;
}

export interface CoapReply {
  code: string;
  format: number | undefined;
  payload: Buffer;
}

export interface WriteAttributes {
  pmin?: number;
  pmax?: number;
  gt?: number;
  lt?: number;
  st?: number;
}

export interface Observation {
  endpoint: string;
  path: string;
  cancel(): void;
}

const BLOCK_SIZE = 1024;

const FORMAT_BY_NAME: Record<string, number> = {
  "text/plain": 0,
  "application/link-format": 40,
  "application/octet-stream": 42,
  "application/cbor": 60,
  "application/senml+json": 110,
  "application/senml+cbor": 112,
  "application/vnd.oma.lwm2m+tlv": 11542,
  "application/vnd.oma.lwm2m+json": 11543,
};

function formatOf(h: unknown): number | undefined {
  if (typeof h === "number") return h;
  if (typeof h === "string") return FORMAT_BY_NAME[h.split(";")[0]!.trim()] ?? (/^\d+$/.test(h) ? Number(h) : undefined);
  if (Buffer.isBuffer(h)) {
    let v = 0;
    for (const b of h) v = v * 256 + b;
    return v;
  }
  return undefined;
}

export class Lwm2mServer {
  readonly registrations: Registrations;
  private socket: Socket | undefined;
  private server: coap.Server | undefined;
  private agent: coap.Agent | undefined;
  private readonly observations = new Map<string, { stream?: ObserveReadStream; cancelled: boolean }>();
  private readonly firmware = new Map<string, Uint8Array>();
  private readonly typeOf: TypeOf;
  readonly stats = { datagrams: 0, malformed: 0, requests: 0, registrations: 0, rejected: 0, notifications: 0, badContent: 0, timeouts: 0, firmwareBlocks: 0, sends: 0, sendsRejected: 0, abandoned: 0 };
  /** requests in flight by endpoint */
  private readonly inFlight = new Map<string, Set<InFlight>>();
  private lastMalformedLog = -Infinity;
  /** requests (by source and message id) that carried an unknown critical option, seen by our codec */
  private readonly badOptions = new Map<string, true>();

  constructor(private readonly opts: Lwm2mServerOptions) {
    this.typeOf = opts.typeOf ?? typeOfPath;
    const ev = opts.events;
    const events: RegistrationEvents = {
      online: (reg, how) => ev.online(reg, how),
      registered: (reg, isNew) => {
        this.abandon(reg.endpoint, (f) => f.registrationId !== reg.id, "the endpoint registered again");
        ev.registered(reg, isNew);
      },
      updated: (reg, moved) => {
        if (moved) this.abandon(reg.endpoint, () => true, "the client moved to another address");
        ev.updated(reg, moved);
      },
      offline: (reg, reason) => {
        this.abandon(reg.endpoint, (f) => f.registrationId === reg.id, `the registration ended (${reason})`);
        ev.offline(reg, reason);
      },
    };
    this.registrations = new Registrations(opts.clock, opts.limits, opts.admit, events, () => randomBytes(6).toString("hex"), opts.store);
  }

  async start(): Promise<{ address: string; port: number }> {
    const type = isIPv6(this.opts.host) ? "udp6" : "udp4";
    // ipv6Only false: `::` takes IPv4 too where the OS allows (dual-stack)
    const socket = type === "udp6" ? createSocket({ type, ipv6Only: false }) : createSocket({ type });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.on("error", (e) => this.opts.log.warn({ err: e.message }, "lwm2m socket error"));
    socket.on("message", (msg, rinfo) => {
      this.stats.datagrams++;
      const d = decodeCoapMessage(msg);
      if (d.ok) {
        if (isRequestCode(d.value.code) && unknownCriticalOptions(d.value).length > 0) {
          this.badOptions.set(`${rinfo.address}:${rinfo.port}:${d.value.messageId}`, true);
          if (this.badOptions.size > 256) this.badOptions.delete(this.badOptions.keys().next().value!);
        }
      } else {
        this.stats.malformed++;
        this.opts.count("lwm2m_malformed_total", { code: d.code });
        const now = this.opts.clock.monotonic();
        if (now - this.lastMalformedLog > 10_000) {
          this.lastMalformedLog = now;
          this.opts.log.warn({ code: d.code, offset: d.offset, total: this.stats.malformed }, `malformed CoAP datagram: ${d.reason}`);
        }
      }
    });
    this.socket = socket;
    const server = coap.createServer({ type }, (req, res) => this.onRequest(req, res));
    server.on("error", (e: Error) => this.opts.log.warn({ err: e.message }, "lwm2m server error"));
    server.listen(socket);
    this.server = server;
    const agent = new coap.Agent({ socket });
    agent.on("error", (e: Error) => this.opts.log.warn({ err: e.message }, "lwm2m agent error"));
    this.agent = agent;
    this.registrations.restore();
    return this.address();
  }

  address(): { address: string; port: number } {
    const a = this.socket?.address();
    return { address: a?.address ?? this.opts.host, port: a?.port ?? this.opts.port };
  }

  async stop(): Promise<void> {
    this.abandon(undefined, () => true, "the LwM2M server stopped");
    for (const o of this.observations.values()) {
      o.cancelled = true;
      o.stream?.close(false);
    }
    this.observations.clear();
    this.registrations.close();
    this.server?.close();
    this.agent?.close();
    const s = this.socket;
    this.socket = undefined;
    this.server = undefined;
    this.agent = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  // ---- Registration interface (server side) ----

  private onRequest(req: IncomingMessage, res: OutgoingMessage): void {
    this.stats.requests++;
    try {
      this.route(req, res);
    } catch (e) {
      this.opts.log.error({ err: e instanceof Error ? e.message : String(e) }, "lwm2m request handler failed");
      this.reply(res, "5.00");
    }
  }

  private reply(res: OutgoingMessage, code: string, payload?: Buffer | string): void {
    res.code = code;
    res.end(payload);
  }

  private route(req: IncomingMessage, res: OutgoingMessage): void {
    const method = req.method;
    if (!["GET", "POST", "PUT", "DELETE"].includes(method)) return this.reply(res, "4.05");
    // RFC 7252 §5.4.1: unrecognised critical options in a request → 4.02 Bad Option.
    // (node-coap names options it knows from other registries, so our own codec decides)
    const key = `${req.rsinfo.address}:${req.rsinfo.port}:${req._packet.messageId ?? -1}`;
    if (this.badOptions.has(key)) {
      this.badOptions.delete(key);
      return this.reply(res, "4.02");
    }
    const url = new URL(req.url, "coap://gateway");
    const segs = url.pathname.split("/").filter((s) => s.length > 0).map((s) => decodeURIComponent(s));
    if (segs[0] === "rd") {
      if (segs.length === 1 && method === "POST") return this.onRegister(req, res, url.searchParams);
      if (segs.length === 2 && method === "POST") return this.onUpdate(req, res, segs[1]!, url.searchParams);
      if (segs.length === 2 && method === "DELETE") return this.onDeregister(res, segs[1]!);
      return this.reply(res, "4.05");
    }
    if (segs[0] === "dp" && segs.length === 1) return method === "POST" ? this.onSend(req, res) : this.reply(res, "4.05");
    if (segs[0] === "fw" && segs.length === 2 && method === "GET") {
      const body = this.firmware.get(segs[1]!);
      if (!body) return this.reply(res, "4.04");
      this.stats.firmwareBlocks++;
      res.setOption("Content-Format", Buffer.from(encodeUint(ContentFormat.opaque)));
      return this.reply(res, "2.05", Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    }
    return this.reply(res, "4.04");
  }

  private parseLinks(req: IncomingMessage): { links: Link[]; objects: string[]; rootPath: string } | string {
    const payload = req.payload ?? Buffer.alloc(0);
    if (payload.length > this.opts.maxRegistrationBytes) return `registration payload of ${payload.length} bytes > ${this.opts.maxRegistrationBytes}`;
    const parsed = parseLinkFormat(payload.toString("utf8"));
    if (!parsed.ok) return `bad link format: ${parsed.reason}`;
    const root = parsed.value.find((l) => l.attrs.rt === "oma.lwm2m");
    const rootPath = root && root.target !== "/" ? root.target.replace(/\/$/, "") : "";
    return { links: parsed.value, objects: declaredObjects(parsed.value, rootPath || "/"), rootPath };
  }

  private onRegister(req: IncomingMessage, res: OutgoingMessage, q: URLSearchParams): void {
    const ep = q.get("ep");
    const lt = q.get("lt");
    if (!ep || ep.length > 128 || (lt !== null && !/^\d{1,10}$/.test(lt))) {
      this.opts.count("lwm2m_registrations_rejected_total", { reason: "bad-request" });
      return this.reply(res, "4.00", "ep required (<= 128 chars), lt must be an integer");
    }
    const links = this.parseLinks(req);
    if (typeof links === "string") {
      this.opts.count("lwm2m_registrations_rejected_total", { reason: "bad-payload" });
      return this.reply(res, "4.00", links);
    }
    const out = this.registrations.register(
      {
      endpoint: ep,
      address: req.rsinfo.address,
      port: req.rsinfo.port,
      lifetime: lt === null ? 86400 : Number(lt),
      binding: q.get("b") ?? "U",
      version: q.get("lwm2m") ?? "1.0",
      ...links,
      },
      // the machine's first effect: answered before anything is sent to the client
      (reg) => {
        this.stats.registrations++;
        this.opts.count("lwm2m_registrations_total", {});
        res.setOption("Location-Path", [Buffer.from("rd"), Buffer.from(reg.id)]);
        this.reply(res, "2.01");
      },
    );
    if (!out.ok) {
      this.stats.rejected++;
      this.opts.count("lwm2m_registrations_rejected_total", { reason: out.code });
      // RFC 8516 4.29 Too Many Requests for the rate limit, 5.03 when full, 4.03 when not allowed
      return this.reply(res, out.code === "E_LWM2M_RATE_LIMITED" ? "4.29" : out.code === "E_LWM2M_REGISTRATION_CAP" ? "5.03" : "4.03");
    }
  }

  private onUpdate(req: IncomingMessage, res: OutgoingMessage, id: string, q: URLSearchParams): void {
    const lt = q.get("lt");
    if (lt !== null && !/^\d{1,10}$/.test(lt)) return this.reply(res, "4.00");
    let links: { links: Link[]; objects: string[] } | undefined;
    if (req.payload && req.payload.length > 0) {
      const l = this.parseLinks(req);
      if (typeof l === "string") return this.reply(res, "4.00", l);
      links = { links: l.links, objects: l.objects };
    }
    const b = q.get("b");
    const reg = this.registrations.update(
      id,
      {
        address: req.rsinfo.address,
        port: req.rsinfo.port,
        ...(lt !== null ? { lifetime: Number(lt) } : {}),
        ...(b !== null ? { binding: b } : {}),
        ...(links ?? {}),
      },
      () => this.reply(res, "2.04"),
    );
    if (!reg) this.reply(res, "4.04");
  }

  // ---- Send (LwM2M 1.1 §6.4.3): client-initiated reporting to /dp ----

  private refuseSend(res: OutgoingMessage, coapCode: string, code: ErrorCode, reason: string, endpoint?: string): void {
    this.stats.sendsRejected++;
    this.opts.count("lwm2m_send_rejected_total", { reason: code });
    const now = this.opts.clock.monotonic();
    if (now - this.lastMalformedLog > 10_000) {
      this.lastMalformedLog = now;
      this.opts.log.warn({ code, endpoint, total: this.stats.sendsRejected }, `LwM2M Send refused: ${reason}`);
    }
    // RFC 7252 §5.5.2: a diagnostic payload, here "<code>: <reason>"
    this.reply(res, coapCode, `${code}: ${reason}`.slice(0, 200));
  }

  private registrationAt(address: string, port: number): Registration | undefined {
    for (const r of this.registrations.all()) if (r.port === port && r.address === address) return r;
    return undefined;
  }

  private onSend(req: IncomingMessage, res: OutgoingMessage): void {
    const reg = this.registrationAt(req.rsinfo.address, req.rsinfo.port);
    if (!reg) return this.refuseSend(res, "4.03", "E_LWM2M_SEND_NOT_REGISTERED", `no registration from ${req.rsinfo.address} port ${req.rsinfo.port}: register first`);
    const payload = req.payload ?? Buffer.alloc(0);
    const max = this.opts.maxSendBytes ?? 16_384;
    if (payload.length > max) return this.refuseSend(res, "4.13", "E_LWM2M_SEND_TOO_LARGE", `payload of ${payload.length} bytes > ${max}`, reg.endpoint);
    const format = formatOf(req.headers["Content-Format"]);
    // §6.4.3: Send carries SenML JSON or SenML CBOR (one pack, names are full paths)
    if (format !== ContentFormat.senmlJson && format !== ContentFormat.senmlCbor) {
      return this.refuseSend(res, "4.15", "E_LWM2M_SEND_FORMAT", `content format ${format ?? "(none)"} is not SenML JSON (110) or SenML CBOR (112)`, reg.endpoint);
    }
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    const pack = format === ContentFormat.senmlJson ? decodeSenmlJson(bytes) : decodeSenmlCbor(bytes);
    const values = pack.ok ? senmlToValues(pack.value, this.typeOf, Math.floor(this.opts.clock.now() / 1000)) : pack;
    if (!values.ok) return this.refuseSend(res, "4.00", values.code, values.reason, reg.endpoint);
    if (values.value.length === 0) return this.refuseSend(res, "4.00", "E_SENML_VALUE", "the pack carries no value", reg.endpoint);
    this.stats.sends++;
    this.opts.count("lwm2m_sends_total", {});
    this.reply(res, "2.04");
    this.opts.sent?.(reg, values.value);
  }

  private onDeregister(res: OutgoingMessage, id: string): void {
    this.reply(res, this.registrations.deregister(id) ? "2.02" : "4.04");
  }

  // ---- firmware packages served at a Package URI ----

  /** Serve verified bytes at `/fw/<token>`; returns the path. */
  serveFirmware(bytes: Uint8Array): { path: string; withdraw(): void } {
    const token = randomBytes(8).toString("hex");
    this.firmware.set(token, bytes);
    return { path: `/fw/${token}`, withdraw: () => void this.firmware.delete(token) };
  }

  // ---- Device Management & Service Enablement, Information Reporting (client side) ----

  private target(endpoint: string): Registration {
    const reg = this.registrations.byEndpoint(endpoint);
    if (!reg) throw new RidgeError("E_LWM2M_NOT_REGISTERED", `LwM2M endpoint ${endpoint} is not registered`);
    return reg;
  }

  /** One CoAP request from the server socket to a registered client. */
  request(endpoint: string, method: "GET" | "PUT" | "POST" | "DELETE", path: string, o: { query?: string; payload?: Uint8Array; format?: number; accept?: number } = {}): Promise<CoapReply> {
    const reg = this.target(endpoint);
    const agent = this.agent;
    if (!agent) return Promise.reject(new RidgeError("E_LWM2M_STOPPED", "LwM2M server is not running"));
    return new Promise<CoapReply>((resolve, reject) => {
      const req = agent.request({ host: reg.address, port: reg.port, method, pathname: reg.rootPath + path, confirmable: true, ...(o.query ? { query: o.query } : {}) });
      const done = this.track(endpoint, reg.id, (why) => {
        timer.cancel();
        (req as unknown as { sender?: { reset(): void } }).sender?.reset();
        reject(new RidgeError("E_LWM2M_NOT_REGISTERED", `${method} ${path} to ${endpoint} abandoned: ${why}`));
      });
      if (o.format !== undefined) req.setOption("Content-Format", Buffer.from(encodeUint(o.format)));
      if (o.accept !== undefined) req.setOption("Accept", Buffer.from(encodeUint(o.accept)));
      // RFC 7959 §2.5: a body larger than one block goes out block-wise (node-coap's agent runs
      // the Block1 exchange once the option is present).
      if (o.payload && o.payload.length > BLOCK_SIZE) req.setOption("Block1", Buffer.from(encodeBlockOption({ num: 0, more: false, size: BLOCK_SIZE }))); // node-coap reads the SZX from this first byte
      const timer = this.opts.clock.setTimeout(() => {
        done();
        this.stats.timeouts++;
        this.opts.count("lwm2m_request_timeouts_total", { endpoint });
        (req as unknown as { sender?: { reset(): void } }).sender?.reset();
        reject(new RidgeError("E_LWM2M_TIMEOUT", `${method} ${path} to ${endpoint} got no answer in ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      req.on("response", (res: IncomingMessage) => {
        done();
        timer.cancel();
        resolve({ code: res.code, format: formatOf(res.headers["Content-Format"]), payload: res.payload });
      });
      req.on("error", (e: Error) => {
        done();
        timer.cancel();
        reject(new RidgeError("E_LWM2M_TRANSPORT", `${method} ${path} to ${endpoint}: ${e.message}`));
      });
      req.end(o.payload ? Buffer.from(o.payload) : undefined);
    });
  }

  private expect(r: CoapReply, ok: string[], what: string, endpoint: string): CoapReply {
    if (!ok.includes(r.code)) throw new RidgeError("E_LWM2M_RESPONSE", `${what} on ${endpoint} answered ${r.code}`, { detail: { code: r.code, payload: r.payload.toString("utf8").slice(0, 200) } });
    return r;
  }

  decode(r: CoapReply, path: string): ResourceValue[] {
    if (r.format !== undefined && !isSupportedFormat(r.format)) {
      this.stats.badContent++;
      throw new RidgeError("E_LWM2M_CONTENT_FORMAT", `unsupported content format ${r.format} for ${path}`);
    }
    const d = decodeContent(r.format, r.payload, path, this.typeOf, Math.floor(this.opts.clock.now() / 1000));
    if (!d.ok) {
      this.stats.badContent++;
      throw new RidgeError("E_LWM2M_CONTENT", `cannot decode ${path}: ${d.reason}`);
    }
    return d.value;
  }

  async read(endpoint: string, path: string, o: { accept?: number } = {}): Promise<ResourceValue[]> {
    const r = this.expect(await this.request(endpoint, "GET", path, o), ["2.05"], `Read ${path}`, endpoint);
    return this.decode(r, path);
  }

  /** Pick a write format the client accepts: its `ct` list (1.1+), else TLV (mandatory in 1.0). */
  writeFormat(endpoint: string, path: string, values: ResourceValue[]): number {
    const reg = this.target(endpoint);
    const ids = parsePath(path) ?? [];
    if (ids.length >= 3 && values.length === 1 && values[0]!.path === path) {
      return values[0]!.value instanceof Uint8Array ? ContentFormat.opaque : ContentFormat.text;
    }
    const root = reg.links.find((l) => l.attrs.rt === "oma.lwm2m" || l.target === "/");
    const ct = typeof root?.attrs.ct === "string" ? root.attrs.ct.split(/[\s,]+/).map(Number) : [];
    if (ct.includes(ContentFormat.senmlCbor)) return ContentFormat.senmlCbor;
    if (ct.includes(ContentFormat.senmlJson)) return ContentFormat.senmlJson;
    if (ct.includes(ContentFormat.tlv) || reg.version === "1.0" || ct.length === 0) return ContentFormat.tlv;
    return ContentFormat.lwm2mJson;
  }

  async write(endpoint: string, path: string, values: ResourceValue[], o: { partial?: boolean; format?: number } = {}): Promise<void> {
    const format = o.format ?? this.writeFormat(endpoint, path, values);
    const payload = encodeContent(format, values, path, this.typeOf);
    this.expect(await this.request(endpoint, o.partial ? "POST" : "PUT", path, { payload, format }), ["2.04"], `Write ${path}`, endpoint);
  }

  async execute(endpoint: string, path: string, args?: string): Promise<void> {
    this.expect(await this.request(endpoint, "POST", path, args ? { payload: new TextEncoder().encode(args), format: ContentFormat.text } : {}), ["2.04"], `Execute ${path}`, endpoint);
  }

  async discover(endpoint: string, path: string): Promise<Link[]> {
    const r = this.expect(await this.request(endpoint, "GET", path, { accept: ContentFormat.linkFormat }), ["2.05"], `Discover ${path}`, endpoint);
    const l = parseLinkFormat(r.payload.toString("utf8"));
    if (!l.ok) throw new RidgeError("E_LWM2M_CONTENT", `Discover ${path}: ${l.reason}`);
    return l.value;
  }

  async writeAttributes(endpoint: string, path: string, attrs: WriteAttributes): Promise<void> {
    const query = Object.entries(attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v as number}`)
      .join("&");
    this.expect(await this.request(endpoint, "PUT", path, { query }), ["2.04"], `Write-Attributes ${path}`, endpoint);
  }

  async create(endpoint: string, objectPath: string, values: ResourceValue[]): Promise<void> {
    const format = this.writeFormat(endpoint, objectPath + "/0", values) === ContentFormat.text ? ContentFormat.tlv : this.writeFormat(endpoint, objectPath + "/0", values);
    const base = values[0] ? "/" + (parsePath(values[0].path) ?? []).slice(0, 2).join("/") : objectPath;
    const payload = encodeContent(format, values, base, this.typeOf);
    this.expect(await this.request(endpoint, "POST", objectPath, { payload, format }), ["2.01"], `Create ${objectPath}`, endpoint);
  }

  async delete(endpoint: string, path: string): Promise<void> {
    this.expect(await this.request(endpoint, "DELETE", path), ["2.02"], `Delete ${path}`, endpoint);
  }

  /**
   * Observe a path; `onValues` gets every notification decoded. Resolves once the first response
   * arrived (it carries the current value, delivered to `onValues` too).
   */
  observe(endpoint: string, path: string, onValues: (values: ResourceValue[]) => void, o: { accept?: number } = {}): Promise<Observation> {
    const reg = this.target(endpoint);
    const agent = this.agent;
    if (!agent) return Promise.reject(new RidgeError("E_LWM2M_STOPPED", "LwM2M server is not running"));
    const key = `${endpoint} ${path}`;
    this.observations.get(key)?.stream?.close(false);
    const entry: { stream?: ObserveReadStream; cancelled: boolean } = { cancelled: false };
    this.observations.set(key, entry);
    const cancel = () => {
      if (entry.cancelled) return;
      entry.cancelled = true;
      // Cancel Observation (RFC 7641 §3.6): GET with Observe=1 and the same token.
      entry.stream?.close(true);
      if (this.observations.get(key) === entry) this.observations.delete(key);
    };
    return new Promise<Observation>((resolve, reject) => {
      const req = agent.request({ host: reg.address, port: reg.port, method: "GET", pathname: reg.rootPath + path, observe: true, confirmable: true });
      if (o.accept !== undefined) req.setOption("Accept", Buffer.from(encodeUint(o.accept)));
      const done = this.track(endpoint, reg.id, (why) => {
        timer.cancel();
        (req as unknown as { sender?: { reset(): void } }).sender?.reset();
        if (this.observations.get(key) === entry) this.observations.delete(key);
        entry.cancelled = true;
        reject(new RidgeError("E_LWM2M_NOT_REGISTERED", `Observe ${path} on ${endpoint} abandoned: ${why}`));
      });
      const timer = this.opts.clock.setTimeout(() => {
        done();
        this.stats.timeouts++;
        (req as unknown as { sender?: { reset(): void } }).sender?.reset();
        if (this.observations.get(key) === entry) this.observations.delete(key);
        reject(new RidgeError("E_LWM2M_TIMEOUT", `Observe ${path} on ${endpoint} got no answer in ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      req.on("error", (e: Error) => {
        done();
        timer.cancel();
        reject(new RidgeError("E_LWM2M_TRANSPORT", `Observe ${path} on ${endpoint}: ${e.message}`));
      });
      req.on("response", (res: IncomingMessage) => {
        done();
        timer.cancel();
        if (!res.code.startsWith("2.")) {
          if (this.observations.get(key) === entry) this.observations.delete(key);
          reject(new RidgeError("E_LWM2M_RESPONSE", `Observe ${path} on ${endpoint} answered ${res.code}`, { detail: { code: res.code } }));
          return;
        }
        const stream = "append" in res ? (res as ObserveReadStream) : undefined;
        const deliver = (payload: Buffer, headers: IncomingMessage["headers"]) => {
          if (entry.cancelled) return;
          this.stats.notifications++;
          try {
            onValues(this.decode({ code: "2.05", format: formatOf(headers["Content-Format"]), payload }, path));
          } catch (e) {
            this.opts.count("lwm2m_bad_notifications_total", { endpoint });
            this.opts.log.debug({ endpoint, path, err: e instanceof Error ? e.message : String(e) }, "undecodable notification");
          }
        };
        if (stream) {
          entry.stream = stream;
          stream.on("data", (payload: Buffer) => deliver(payload, stream.headers));
          stream.on("error", () => undefined);
        } else deliver(res.payload, res.headers);
        resolve({ endpoint, path, cancel });
      });
      req.end();
    });
  }

  /** Record a request in flight; the returned function forgets it (answered, failed or timed out). */
  private track(endpoint: string, registrationId: string, abandon: (why: string) => void): () => void {
    let set = this.inFlight.get(endpoint);
    if (!set) this.inFlight.set(endpoint, (set = new Set()));
    const f: InFlight = { registrationId, abandon };
    set.add(f);
    return () => {
      set.delete(f);
      if (set.size === 0 && this.inFlight.get(endpoint) === set) this.inFlight.delete(endpoint);
    };
  }

  /** Abandon requests in flight to an endpoint (all endpoints when undefined) that match. */
  private abandon(endpoint: string | undefined, which: (f: InFlight) => boolean, why: string): void {
    const sets = endpoint === undefined ? [...this.inFlight.values()] : [this.inFlight.get(endpoint)].filter((x) => x !== undefined);
    for (const set of sets) {
      for (const f of [...set]) {
        if (!which(f)) continue;
        set.delete(f);
        this.stats.abandoned++;
        f.abandon(why);
      }
    }
    for (const [ep, set] of this.inFlight) if (set.size === 0) this.inFlight.delete(ep);
  }

  observing(): string[] {
    return [...this.observations.keys()];
  }
}
