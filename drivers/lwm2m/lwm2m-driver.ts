/**
 * The LwM2M driver: one Lwm2mServer (one UDP socket), devices mapped from endpoint names, the
 * configured resources observed on every registration, notifications turned into telemetry events
 * with named fields (`/3303/0/5700` → `temperature`), registration changes into state events, and
 * firmware pushes through Object 5. Values a client pushes with Send (LwM2M 1.1 `/dp`) become
 * telemetry events like notifications (meta.path "/dp"), one event per timestamp in the pack.
 *
 * Backpressure (ctx.emit() → false): devices push notifications over UDP and cannot be told to
 * stop, so events are held in a bounded queue (`backpressureQueue`, oldest dropped and counted as
 * lwm2m_backpressure_dropped) and flushed in order once ctx.drained() resolves. Registration
 * handling (Register/Update/De-register, observing) goes on unaffected.
 */
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { systemClock, EmitQueue, RidgeError, asErrorCode, errorMessage, splitHostPort, type Clock, type Driver, type DriverContext, type DriverHealth, type Event } from "../../core/index.js";
import { CONTENT_FORMAT_NUMBER } from "./content-format.js";
import { lwm2mCommand, type Lwm2mCommand, type Lwm2mDeviceConfig, type Lwm2mDeviceType, type Lwm2mDriverConfig } from "./config.js";
import { runFirmwarePush, type FirmwareArtifact, type FirmwareVerifier, type PushStatus } from "./firmware-push.js";
import { Lwm2mServer, type Observation } from "./lwm2m-server.js";
import { OBJECTS, fieldName } from "./object-registry.js";
import { RegistrationStore, type Registration } from "./registration-store.js";
import { isObjectLink, parsePath, type Lwm2mValue, type ResourceValue } from "./value.js";

export interface Lwm2mDriverDeps {
  /** verifies firmware bytes before they are served (the runtime passes the OTA target check); without one every push fails */
  verifyFirmware?: FirmwareVerifier;
  /** overrides ctx.clock (tests) */
  clock?: Clock;
  /** Events held while the pipeline pushes back (default 1000). */
  backpressureQueue?: number;
}

function jsonValue(v: Lwm2mValue): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (isObjectLink(v)) return `${v.objectId}:${v.instanceId}`;
  return v;
}

export class Lwm2mDriver implements Driver {
  readonly name: string;
  private ctx: DriverContext | undefined;
  private server: Lwm2mServer | undefined;
  private store: RegistrationStore | undefined;
  private readonly byEndpoint = new Map<string, Lwm2mDeviceConfig>();
  private readonly byId = new Map<string, Lwm2mDeviceConfig>();
  private readonly observations = new Map<string, Observation[]>();
  private readonly pushes = new Map<string, PushStatus>();
  private seq = 0;
  private bootTag = "";
  private clock: Clock = systemClock;
  private readonly out: EmitQueue;

  constructor(
    readonly config: Lwm2mDriverConfig,
    devices: Lwm2mDeviceConfig[],
    private readonly deps: Lwm2mDriverDeps = {},
  ) {
    this.name = config.name;
    this.out = new EmitQueue({
      capacity: deps.backpressureQueue ?? 1000,
      onRefused: () => this.ctx?.count("lwm2m_backpressure_total", { driver: this.name }),
      onDropped: (n) => this.ctx?.count("lwm2m_backpressure_dropped", { driver: this.name }, n),
    });
    for (const d of devices) {
      this.byEndpoint.set(d.endpoint ?? d.id, d);
      this.byId.set(d.id, d);
      if (d.type !== undefined && !(d.type in config.deviceTypes)) {
        throw new RidgeError("E_CONFIG_REFERENCE", `device ${d.id}: no device type "${d.type}" in driver ${config.name} deviceTypes`);
      }
    }
  }

  /** The running server (Device Management operations for tools and tests). */
  get lwm2m(): Lwm2mServer {
    if (!this.server) throw new RidgeError("E_LWM2M_STOPPED", `LwM2M driver ${this.name} is not running`);
    return this.server;
  }

  deviceIdOf(endpoint: string): string {
    return this.byEndpoint.get(endpoint)?.id ?? endpoint;
  }

  private endpointOf(device: string): string {
    const d = this.byId.get(device);
    return d ? (d.endpoint ?? d.id) : device;
  }

  async start(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    this.out.open(ctx);
    this.clock = this.deps.clock ?? ctx.clock;
    this.bootTag = this.clock.now().toString(36);
    const { host, port } = splitHostPort(this.config.listen);
    this.store = new RegistrationStore(join(ctx.dataDir, "lwm2m", `${this.name}.db`));
    const limits = this.config.limits;
    this.server = new Lwm2mServer({
      host,
      port,
      clock: this.clock,
      log: ctx.log,
      count: (m, l, by) => ctx.count(m, { driver: this.name, ...l }, by),
      limits: { maxUnknown: limits.maxUnknown, ratePerSecond: limits.registrationsPerSecond, burst: limits.burst, minLifetimeS: limits.minLifetime / 1000, maxLifetimeS: limits.maxLifetime / 1000 },
      admit: (ep) => (this.byEndpoint.has(ep) ? "known" : this.config.acceptUnknown ? "unknown" : "reject"),
      store: this.store,
      requestTimeoutMs: this.config.requestTimeout,
      maxRegistrationBytes: limits.maxRegistrationBytes,
      maxSendBytes: limits.maxSendBytes,
      sent: (reg, values) => this.emitSent(reg.endpoint, values),
      events: {
        online: (reg, how) => this.emitState(reg, { online: true, how }),
        registered: (reg) => void this.observeAll(reg),
        updated: (reg, moved) => {
          if (moved) void this.observeAll(reg);
        },
        offline: (reg, reason) => {
          this.cancelObservations(reg.endpoint);
          this.emitState(reg, { online: false, reason });
        },
      },
    });
    try {
      await this.server.start();
    } catch (e) {
      this.store.close();
      this.store = undefined;
      this.server = undefined;
      this.out.close();
      throw new RidgeError("E_LWM2M_LISTEN", `LwM2M driver ${this.name} cannot listen on udp ${this.config.listen}: ${errorMessage(e)}`, { cause: e });
    }
    // Registrations restored from the store: re-establish observations (the client still has
    // its own, but our tokens are gone).
    for (const reg of this.server.registrations.all()) void this.observeAll(reg);
  }

  async stop(): Promise<void> {
    this.out.close();
    for (const ep of [...this.observations.keys()]) this.cancelObservations(ep, false);
    await this.server?.stop();
    this.store?.close();
    this.server = undefined;
    this.store = undefined;
  }

  health(): DriverHealth {
    if (!this.server) return { up: false, detail: "not started" };
    return { up: true, detail: `${this.server.registrations.size} registered on udp ${this.config.listen}` };
  }

  status(): Record<string, unknown> {
    const s = this.server;
    return {
      listen: this.config.listen,
      registered: s?.registrations.size ?? 0,
      unknownRegistered: s?.registrations.unknownSize ?? 0,
      rejected: s?.registrations.rejected,
      stats: s?.stats,
      observations: s?.observing().length ?? 0,
      pushedBack: this.out.pushedBack,
      held: this.out.size,
      firmware: [...this.pushes.values()],
    };
  }

  private typeOf(endpoint: string): Lwm2mDeviceType | undefined {
    const d = this.byEndpoint.get(endpoint);
    const t = d?.type ?? (d ? undefined : this.config.defaultType);
    return t === undefined ? undefined : this.config.deviceTypes[t];
  }

  private emit(e: Omit<Event, "id">): void {
    if (!this.ctx) return;
    this.out.emit({ id: `${e.device}/${this.bootTag}-${++this.seq}`, ...e });
  }

  private emitState(reg: Registration, payload: Record<string, unknown>): void {
    this.emit({
      ts: this.clock.now(),
      device: this.deviceIdOf(reg.endpoint),
      kind: "state",
      payload: { ...payload, endpoint: reg.endpoint, lifetime: reg.lifetime, binding: reg.binding, lwm2m: reg.version, objects: reg.objects },
      meta: { driver: this.name, endpoint: reg.endpoint },
    });
  }

  private emitValues(endpoint: string, path: string, values: ResourceValue[]): void {
    if (values.length === 0) return;
    const payload: Record<string, unknown> = {};
    for (const v of values) payload[fieldName(v.path)] = jsonValue(v.value);
    const t = values.find((v) => v.time !== undefined)?.time;
    this.emit({ ts: t !== undefined ? Math.round(t * 1000) : this.clock.now(), device: this.deviceIdOf(endpoint), kind: "telemetry", payload, meta: { driver: this.name, endpoint, path } });
  }

  /** A Send pack may carry several times (a series): one event per time, in the pack's order. */
  private emitSent(endpoint: string, values: ResourceValue[]): void {
    const byTime = new Map<number | undefined, ResourceValue[]>();
    for (const v of values) {
      const list = byTime.get(v.time);
      if (list) list.push(v);
      else byTime.set(v.time, [v]);
    }
    for (const list of byTime.values()) this.emitValues(endpoint, "/dp", list);
  }

  private async observeAll(reg: Registration): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.cancelObservations(reg.endpoint, false);
    const type = this.typeOf(reg.endpoint);
    const dev = this.byEndpoint.get(reg.endpoint);
    const paths = [...new Set([...(type?.observe ?? []), ...(dev?.observe ?? [])])];
    const accept = type?.accept ? CONTENT_FORMAT_NUMBER[type.accept] : undefined;
    const list: Observation[] = [];
    this.observations.set(reg.endpoint, list);
    // a newer Register/Update started its own round, or this registration ended
    const stale = () => server.registrations.get(reg.id) === undefined || this.observations.get(reg.endpoint) !== list;
    for (const path of paths) {
      if (stale()) return;
      try {
        if (type?.attributes) await server.writeAttributes(reg.endpoint, path, type.attributes).catch((e: unknown) => this.ctx?.log.debug({ endpoint: reg.endpoint, path, err: errorMessage(e) }, "write-attributes refused"));
        if (stale()) return;
        const o = await server.observe(reg.endpoint, path, (values) => this.emitValues(reg.endpoint, path, values), accept === undefined ? {} : { accept });
        if (this.observations.get(reg.endpoint) === list) list.push(o);
        else o.cancel();
      } catch (e) {
        if (stale()) {
          // superseded (the client registered again or moved): the new round observes; not a failure
          this.ctx?.log.debug({ endpoint: reg.endpoint, path, err: errorMessage(e) }, "observe superseded");
          return;
        }
        this.ctx?.count("lwm2m_observe_failures_total", { driver: this.name, endpoint: reg.endpoint });
        this.ctx?.log.warn({ endpoint: reg.endpoint, path, err: errorMessage(e) }, "observe failed");
      }
    }
  }

  private cancelObservations(endpoint: string, tellDevice = true): void {
    const list = this.observations.get(endpoint);
    this.observations.delete(endpoint);
    for (const o of list ?? []) if (tellDevice) o.cancel();
  }

  /** Resolve a point (an LwM2M path or an event field name) on a registered device to a path. */
  private resolvePoint(reg: Registration, point: string): string {
    const named = this.byEndpoint.get(reg.endpoint)?.points?.find((p) => p.name === point);
    if (named) return named.path;
    if (parsePath(point)?.length && point.startsWith("/")) return point;
    for (const inst of reg.objects) {
      const ids = parsePath(inst);
      if (!ids || ids.length !== 2) continue;
      for (const rid of Object.keys(OBJECTS[ids[0]!]?.resources ?? {})) {
        const p = `${inst}/${rid}`;
        if (fieldName(p) === point) return p;
      }
    }
    throw new RidgeError("E_LWM2M_POINT", `device ${this.deviceIdOf(reg.endpoint)} has no point "${point}" (use an LwM2M path like /3311/0/5850 or a field name)`);
  }

  /**
   * Commands from the twin: `point` is an LwM2M path or a field name; `firmware` with a
   * FirmwareArtifact value starts a push.
   */
  async write(device: string, point: string, value: unknown): Promise<void> {
    const endpoint = this.endpointOf(device);
    if (point === "firmware") {
      const s = await this.pushFirmware(device, value as FirmwareArtifact);
      if (s.phase !== "succeeded") throw new RidgeError(asErrorCode(s.code, "E_LWM2M_FIRMWARE"), `firmware push to ${device} failed: ${s.reason ?? "unknown"}`);
      return;
    }
    if (value !== null && typeof value === "object" && "op" in value) {
      await this.command(device, point, value);
      return;
    }
    const reg = this.lwm2m.registrations.byEndpoint(endpoint);
    if (!reg) throw new RidgeError("E_LWM2M_NOT_REGISTERED", `device ${device} (endpoint ${endpoint}) is not registered`);
    const path = this.resolvePoint(reg, point);
    if (typeof value !== "number" && typeof value !== "string" && typeof value !== "boolean") {
      throw new RidgeError("E_LWM2M_VALUE", `point ${point} on ${device}: value must be a number, string or boolean`);
    }
    await this.lwm2m.write(endpoint, path, [{ path, value }]);
  }

  /**
   * A command with an explicit operation (`{"op": "execute"|"read"|"write"|"discover"|
   * "write-attributes"|"observe"|"cancel", "path"?: …}`); `point` (a path, a configured point name
   * or a field name) is the target when the command has no `path`. Read values are also emitted
   * as a telemetry event (meta.path), so they reach the cloud like notifications.
   */
  async command(device: string, point: string, raw: unknown): Promise<{ op: Lwm2mCommand["op"]; path: string; values?: Record<string, unknown>; links?: { target: string; attrs: Record<string, unknown> }[] }> {
    const parsed = lwm2mCommand.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RidgeError("E_LWM2M_COMMAND", `command to ${device}: ${issue ? `${issue.path.join(".") || "op"}: ${issue.message}` : "invalid"} (expected {"op": "read"|"write"|"execute"|"discover"|"write-attributes"|"observe"|"cancel", "path"?: "/3/0/4", …})`);
    }
    const cmd = parsed.data;
    const endpoint = this.endpointOf(device);
    const server = this.lwm2m;
    const reg = server.registrations.byEndpoint(endpoint);
    if (!reg) throw new RidgeError("E_LWM2M_NOT_REGISTERED", `device ${device} (endpoint ${endpoint}) is not registered`);
    const path = cmd.path ?? (point === "" ? "" : this.resolvePoint(reg, point));
    if (!path) throw new RidgeError("E_LWM2M_COMMAND", `command ${cmd.op} to ${device} names no path`);
    switch (cmd.op) {
      case "read": {
        const values = await server.read(endpoint, path);
        this.emitValues(endpoint, path, values);
        return { op: cmd.op, path, values: Object.fromEntries(values.map((v) => [v.path, jsonValue(v.value)])) };
      }
      case "write":
        await server.write(endpoint, path, [{ path, value: cmd.value }], { partial: cmd.partial });
        return { op: cmd.op, path };
      case "execute":
        await server.execute(endpoint, path, cmd.args);
        return { op: cmd.op, path };
      case "discover":
        return { op: cmd.op, path, links: (await server.discover(endpoint, path)).map((l) => ({ target: l.target, attrs: { ...l.attrs } })) };
      case "write-attributes":
        await server.writeAttributes(endpoint, path, cmd.attributes);
        return { op: cmd.op, path };
      case "observe": {
        const o = await server.observe(endpoint, path, (values) => this.emitValues(endpoint, path, values));
        const list = this.observations.get(endpoint) ?? [];
        this.observations.set(endpoint, [...list.filter((x) => x.path !== path), o]);
        return { op: cmd.op, path };
      }
      case "cancel": {
        const list = this.observations.get(endpoint) ?? [];
        for (const o of list.filter((x) => x.path === path)) o.cancel();
        this.observations.set(endpoint, list.filter((x) => x.path !== path));
        return { op: cmd.op, path };
      }
    }
  }

  private advertiseHost(): string {
    if (this.config.advertise) return this.config.advertise;
    const { host } = splitHostPort(this.config.listen);
    if (host !== "0.0.0.0" && host !== "::") return host;
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
    return "127.0.0.1";
  }

  /** Push firmware to a device through Object 5; resolves with the final status (also emitted as an event). */
  async pushFirmware(device: string, artifact: FirmwareArtifact): Promise<PushStatus> {
    const server = this.lwm2m;
    const endpoint = this.endpointOf(device);
    const existing = this.pushes.get(device);
    if (existing && existing.phase !== "succeeded" && existing.phase !== "failed") throw new RidgeError("E_LWM2M_FIRMWARE_BUSY", `a firmware push to ${device} is already running`);
    const status: PushStatus = { endpoint, device, phase: "verifying", startedAt: this.clock.now(), ...(artifact.version ? { version: artifact.version } : {}) };
    this.pushes.set(device, status);
    const host = this.advertiseHost();
    const { port } = server.address();
    const final = await runFirmwarePush(
      status,
      artifact,
      {
        serve: (bytes) => {
          const s = server.serveFirmware(bytes);
          return { uri: `coap://${host.includes(":") ? `[${host}]` : host}:${port}${s.path}`, withdraw: s.withdraw };
        },
        writeText: (path, v) => server.write(endpoint, path, [{ path, value: v }]),
        readInt: async (path) => {
          const v = (await server.read(endpoint, path)).find((x) => x.path === path)?.value;
          if (typeof v !== "number") throw new RidgeError("E_LWM2M_CONTENT", `${path} is not an integer`);
          return v;
        },
        execute: (path) => server.execute(endpoint, path),
      },
      this.deps.verifyFirmware,
      this.clock,
      { timeoutMs: this.config.firmware.timeout, pollEveryMs: this.config.firmware.pollEvery },
      (s) => {
        if (s.phase === "succeeded" || s.phase === "failed") this.ctx?.count("lwm2m_firmware_pushes_total", { driver: this.name, result: s.phase });
      },
    );
    this.emit({ ts: this.clock.now(), device, kind: "state", payload: { firmware: { ...final } }, meta: { driver: this.name, endpoint } });
    return final;
  }
}

