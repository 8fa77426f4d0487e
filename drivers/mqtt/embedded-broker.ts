/**
 * The embedded broker for devices on site: aedes behind a plain TCP listener and, optionally, a
 * TLS listener (client certificates: the CN names the device). Every connection passes a frame
 * meter that closes it as soon as a packet header announces more than `limits.maxPacket`.
 *
 * Security: a device authenticates with its username and password (scrypt hash in config) or its
 * client certificate; it may publish only on its own mapped topics (plus `acl.publish`) and
 * subscribe only to its own command topic (plus `acl.subscribe`). A denied PUBLISH closes the
 * connection (MQTT 3.1.1 §3.3.5 allows it); a denied SUBSCRIBE gets the failure return code 0x80.
 *
 * Backpressure: aedes reads a client's next batch only after `published` has called back, so
 * holding that callback until the pipeline drains stops reading that client's socket.
 */
import { Aedes, type AedesPublishPacket, type Client, type Subscription } from "aedes";
import { createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { RidgeError, splitHostPort, type Clock } from "../../core/index.js";
import type { BadInputReporter } from "./bad-input.js";
import type { MqttDriverConfig } from "./config.js";
import { MqttFrameMeter } from "./frame-meter.js";
import { verifyPassword } from "./password-hash.js";
import { TokenBuckets } from "./rate-limiter.js";
import { filterCovers, topicMatches } from "./topic-pattern.js";

/** Who a connected client is. `device` is undefined for anonymous clients. */
export interface ClientIdentity {
  device?: string;
  via: "password" | "certificate" | "anonymous";
}

/** What the broker needs to know about devices and topics (provided by the driver). */
export interface BrokerPolicy {
  /** The device for an MQTT username, or undefined when nobody has that username. */
  deviceForUsername(username: string): string | undefined;
  /** The scrypt hash a username must match, or undefined. */
  passwordHashFor(username: string): string | undefined;
  isDevice(id: string): boolean;
  /** Topic filters a client may publish on / subscribe to. */
  publishFilters(identity: ClientIdentity): string[];
  subscribeFilters(identity: ClientIdentity): string[];
  /** A message that passed the ACL; returns false under backpressure. */
  onMessage(topic: string, payload: Uint8Array, identity: ClientIdentity): boolean;
  drained(): Promise<void>;
}

class MeteredConnection extends Duplex {
  constructor(
    readonly socket: Socket,
    maxPacket: number,
    onReject: (reason: "oversize" | "malformed", size?: number) => void,
  ) {
    super({ allowHalfOpen: false });
    const meter = new MqttFrameMeter(maxPacket);
    socket.on("data", (chunk: Buffer) => {
      const v = meter.feed(chunk);
      if (!v.ok) {
        onReject(v.reason, v.size);
        socket.destroy();
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (e) => this.destroy(e));
    socket.on("close", () => this.destroy());
  }
  override _read(): void {
    this.socket.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.send(chunk, cb);
  }
  private send(chunk: Buffer, cb: (e?: Error | null) => void): void {
    if (this.socket.destroyed) return cb();
    if (this.socket.write(chunk)) cb();
    else this.socket.once("drain", () => cb());
  }
  /** mqtt-packet corks the stream while it writes one packet in pieces: send them as one segment. */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.send(Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }
  override _final(cb: (e?: Error | null) => void): void {
    this.socket.end(() => cb());
  }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

/** Topics remembered per client as allowed (authorizePublish). */
const PASSED_TOPICS = 16;

function authError(message: string, returnCode: 4 | 5): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

export class EmbeddedBroker {
  private aedes: Aedes | undefined;
  private servers: (Server | TlsServer)[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly identities = new WeakMap<Client, ClientIdentity>();
  private readonly certDevice = new WeakMap<Duplex, string | null>();
  private readonly publishAcl = new WeakMap<Client, { id: ClientIdentity; filters: string[]; passed: Set<string> }>();
  private readonly buckets: TokenBuckets;
  private listening = false;
  readonly addresses: { plain?: { host: string; port: number }; tls?: { host: string; port: number } } = {};

  constructor(
    private readonly config: MqttDriverConfig,
    private readonly policy: BrokerPolicy,
    private readonly bad: BadInputReporter,
    clock: Clock,
  ) {
    this.buckets = new TokenBuckets(config.limits.messagesPerSecond, config.limits.burst, () => clock.monotonic());
  }

  get up(): boolean {
    return this.listening;
  }
  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async start(): Promise<void> {
    const c = this.config;
    const aedes = new Aedes({
      id: `ridge-${c.name}`,
      connectTimeout: c.limits.connectTimeout,
      maxClientsIdLength: 128,
      authenticate: (client, username, password, done) => void this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, cb) => this.authorizePublish(client, packet.topic, cb),
      authorizeSubscribe: (client, sub, cb) => this.authorizeSubscribe(client, sub, cb),
      published: (packet, client, cb) => this.published(packet, client, cb),
    });
    await aedes.listen();
    aedes.on("clientDisconnect", (client) => this.buckets.forget(client.id));
    aedes.on("clientError", () => {
      /* protocol errors close that client only; counted where we can attribute them */
    });
    aedes.on("connectionError", (client, err) => this.bad.report(this.deviceOf(client) ?? "unknown", "protocol", { error: err.message }));
    this.aedes = aedes;

    const plain = createServer((socket) => this.accept(socket));
    await this.listen(plain, c.listen, "plain");
    if (c.tls) {
      const tls = createTlsServer(
        {
          cert: readFileSync(c.tls.cert),
          key: readFileSync(c.tls.key),
          ...(c.tls.ca ? { ca: readFileSync(c.tls.ca) } : {}),
          requestCert: c.tls.requireClientCert || c.tls.ca !== undefined,
          rejectUnauthorized: c.tls.requireClientCert,
        },
        (socket) => this.accept(socket),
      );
      tls.on("tlsClientError", () => this.bad.report("unknown", "auth_failed", { via: "tls" }));
      await this.listen(tls, c.tls.listen, "tls");
    }
    this.listening = true;
  }

  private listen(server: Server | TlsServer, address: string, which: "plain" | "tls"): Promise<void> {
    const { host, port } = splitHostPort(address);
    server.maxConnections = this.config.limits.maxConnections;
    server.on("drop", () => this.bad.report("unknown", "max_connections", { listener: which }));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(new RidgeError(e.code === "EADDRINUSE" ? "E_MQTT_LISTEN_IN_USE" : "E_MQTT_LISTEN", `mqtt ${this.config.name}: cannot listen on ${address} (${which}): ${e.message}`, { cause: e })),
      );
      server.listen(port, host, () => {
        const a = server.address();
        if (a && typeof a === "object") this.addresses[which] = { host: a.address, port: a.port };
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    const aedes = this.aedes;
    if (!aedes) return void socket.destroy();
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    const conn = new MeteredConnection(socket, this.config.limits.maxPacket, (reason, size) =>
      this.bad.report(this.deviceOf(client) ?? "unknown", reason, { size, limit: this.config.limits.maxPacket }),
    );
    const tlsSock = socket as TLSSocket;
    if (typeof tlsSock.getPeerCertificate === "function") {
      const cn = tlsSock.authorized ? tlsSock.getPeerCertificate()?.subject?.CN : undefined;
      this.certDevice.set(conn, typeof cn === "string" ? cn : null);
    }
    const client = aedes.handle(conn);
  }

  private deviceOf(client: Client | null | undefined): string | undefined {
    const d = client ? this.identities.get(client)?.device : undefined;
    return d !== undefined && this.policy.isDevice(d) ? d : undefined;
  }

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): Promise<void> {
    const cn = this.certDevice.get(client.conn as Duplex);
    if (cn && this.policy.isDevice(cn) && (username === undefined || username === cn)) {
      this.identities.set(client, { device: cn, via: "certificate" });
      return done(null, true);
    }
    if (username !== undefined && username !== "") {
      const hash = this.policy.passwordHashFor(username);
      const ok = hash !== undefined && password !== undefined && (await verifyPassword(password.toString("utf8"), hash));
      if (!ok) {
        const dev = this.policy.deviceForUsername(username);
        this.bad.report(dev ?? "unknown", "auth_failed", { username: username.slice(0, 64), clientId: client.id.slice(0, 64) });
        return done(authError("bad username or password", 4), false);
      }
      this.identities.set(client, { device: this.policy.deviceForUsername(username) ?? username, via: "password" });
      return done(null, true);
    }
    if (this.config.allowAnonymous) {
      this.identities.set(client, { via: "anonymous" });
      return done(null, true);
    }
    this.bad.report("unknown", "auth_failed", { clientId: client.id.slice(0, 64), why: "no credentials" });
    done(authError("credentials required", 5), false);
  }

  private authorizePublish(client: Client | null, topic: string, cb: (e?: Error | null) => void): void {
    if (!client) return cb(null); // a will published by aedes itself
    const id = this.identities.get(client) ?? { via: "anonymous" as const };
    if (this.allowedTopic(client, id, topic)) return cb(null);
    this.bad.report(this.deviceOf(client) ?? "unknown", "acl_denied", { op: "publish", topic: topic.slice(0, 200), clientId: client.id.slice(0, 64) });
    cb(new Error(`publish to ${topic} is not allowed`));
  }

  /**
   * A client's publish filters depend only on who it is, and a device publishes on the same few
   * topics over and over: the filters are built once per connection and the last topics that
   * passed are remembered (a few, so a client cycling through topics cannot grow the set).
   */
  private allowedTopic(client: Client, id: ClientIdentity, topic: string): boolean {
    let acl = this.publishAcl.get(client);
    if (!acl || acl.id !== id) {
      acl = { id, filters: this.policy.publishFilters(id), passed: new Set() };
      this.publishAcl.set(client, acl);
    }
    if (acl.passed.has(topic)) return true;
    if (topic.startsWith("$") || !acl.filters.some((f) => topicMatches(f, topic))) return false;
    if (acl.passed.size >= PASSED_TOPICS) acl.passed.clear();
    acl.passed.add(topic);
    return true;
  }

  private authorizeSubscribe(client: Client, sub: Subscription, cb: (e: Error | null, s?: Subscription | null) => void): void {
    const id = this.identities.get(client) ?? { via: "anonymous" as const };
    if (this.policy.subscribeFilters(id).some((f) => filterCovers(f, sub.topic))) return cb(null, sub);
    this.bad.report(this.deviceOf(client) ?? "unknown", "acl_denied", { op: "subscribe", topic: sub.topic.slice(0, 200), clientId: client.id.slice(0, 64) });
    cb(null, null); // SUBACK 0x80 for this filter; the connection stays
  }

  private published(packet: AedesPublishPacket, client: Client | null, cb: (e?: Error | null) => void): void {
    if (!client || packet.topic.startsWith("$")) return cb();
    const id = this.identities.get(client) ?? { via: "anonymous" as const };
    if (!this.buckets.take(client.id)) {
      this.bad.report(this.deviceOf(client) ?? "unknown", "rate_limited", { clientId: client.id.slice(0, 64) });
      return cb();
    }
    const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
    let more = true;
    try {
      more = this.policy.onMessage(packet.topic, payload, id);
    } catch {
      more = true; // the driver reports its own failures; never let one message break the broker
    }
    if (more) return cb();
    // aedes also reads on every 'readable' event, so holding cb alone is not enough: pause the
    // client (its parser stops taking batches) and resume once the pipeline has drained.
    const pausable = client as Client & { pause?: () => void; resume?: () => void };
    pausable.pause?.();
    const go = (): void => {
      cb();
      if (!client.closed) pausable.resume?.();
    };
    this.policy.drained().then(go, go);
  }

  /** Publish to devices (commands). */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1 | 2, retain = false): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new RidgeError("E_MQTT_NOT_STARTED", `mqtt ${this.config.name}: broker not started`));
    return new Promise((resolve, reject) =>
      aedes.publish({ cmd: "publish", topic, payload: Buffer.from(payload), qos, retain, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  async stop(): Promise<void> {
    this.listening = false;
    const servers = this.servers;
    this.servers = [];
    const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(closed);
    const aedes = this.aedes;
    this.aedes = undefined;
    if (aedes) await new Promise<void>((r) => aedes.close(() => r()));
  }
}
