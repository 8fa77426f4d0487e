/**
 * One Modbus bus as a Driver: the link (a serial port reopened when it vanishes, or a TCP
 * connection reconnected when it drops), the master session (RTU framing with one request in
 * flight, on the serial line or tunnelled over TCP; or Modbus TCP with MBAP framing and up to
 * `maxInFlight` requests on the wire), the poll scheduler (groups, coalesced reads) and the register map.
 * Each poll of a group becomes one telemetry Event `{ pointName: value, ... }` with id
 * `${device}/${boot}-${seq}`: `boot` is a counter persisted in the data directory, so ids stay
 * unique across restarts without trusting the wall clock (gateways often boot without RTC).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RidgeError, errorCode, errorMessage, type Driver, type DriverContext, type DriverHealth } from "../../core/index.js";
import { modbusDeviceConfig, modbusDriverConfig, type ModbusDeviceConfig, type ModbusDriverConfig, type ModbusPointConfig } from "./config.js";
import { MasterSession, newCounters, type ModbusMaster, type SlaveCounters } from "./master-session.js";
import type { Request } from "./pdu.js";
import { PollScheduler, type PollGroup } from "./poll-scheduler.js";
import { blockRequest, extractValues, planReads, type ReadBlock } from "./read-plan.js";
import { encodeRegisters, removeScale, type RawValue } from "./register-map.js";
import { silenceMs } from "./rtu-framer.js";
import { ReconnectingPort, openSerialPort, type LinkEvents, type PortOpener } from "./serial-transport.js";
import { TcpMasterSession } from "./tcp-session.js";
import { openTcpSocket, type TcpOpener } from "./tcp-transport.js";

export interface ModbusDriverDeps {
  /** The port factory (tests pass a fake); defaults to `serialport`. */
  openPort?: PortOpener;
  /** The TCP connection factory for `transport: tcp` and `rtu-over-tcp` (tests may pass a fake); defaults to node:net. */
  openSocket?: TcpOpener;
}

interface DeviceState {
  cfg: ModbusDeviceConfig;
  points: Map<string, ModbusPointConfig>;
  groups: Map<string, ReadBlock[]>;
  seq: number;
  /** Polls in a row where nothing answered. */
  failedPolls: number;
  failing: boolean;
}

/** USB serial adapters deliver a frame in bursts this far apart (FTDI latency timer: 16 ms default). */
const MIN_HOST_FRAME_GAP_MS = 20;

/** Line codes that mean "nobody answered properly": these put a slave into backoff. */
const LINE_FAILURES = new Set(["E_MODBUS_TIMEOUT", "E_MODBUS_CRC", "E_MODBUS_LENGTH", "E_MODBUS_BYTE_COUNT"]);
/** The link is down: the poll ends quietly (the link's own down/up is logged and counted once). */
const LINK_DOWN = new Set(["E_MODBUS_STOPPED", "E_MODBUS_PORT_DOWN", "E_MODBUS_CONNECTION_DOWN"]);

export class ModbusDriver implements Driver {
  readonly name: string;
  readonly config: ModbusDriverConfig;
  private readonly devices = new Map<string, DeviceState>();
  private readonly groups: PollGroup[] = [];
  private readonly openPort: PortOpener;
  private readonly openSocket: TcpOpener;
  private ctx: DriverContext | undefined;
  private session: ModbusMaster | undefined;
  private rtu: MasterSession | undefined;
  private tcp: TcpMasterSession | undefined;
  private port: ReconnectingPort<unknown> | undefined;
  private scheduler: PollScheduler | undefined;
  private boot = "0";
  private backpressured = false;
  private portDownSince: number | undefined;

  constructor(config: ModbusDriverConfig, devices: readonly ModbusDeviceConfig[], deps: ModbusDriverDeps = {}) {
    // Parse again: the runtime may hand over the raw YAML objects (durations as strings).
    this.config = modbusDriverConfig.parse(config);
    this.name = this.config.name;
    this.openPort = deps.openPort ?? openSerialPort;
    this.openSocket = deps.openSocket ?? openTcpSocket;
    for (const raw of devices) {
      const cfg = modbusDeviceConfig.parse(raw);
      const groups = new Map<string, ReadBlock[]>();
      const names = ["default", ...Object.keys(cfg.groups)];
      for (const g of names) {
        const pts = cfg.points.filter((p) => (p.group ?? "default") === g);
        if (!pts.length) continue;
        groups.set(g, planReads(pts, this.config.maxGap));
        this.groups.push({ key: `${cfg.id}/${g}`, device: cfg.id, everyMs: g === "default" ? cfg.poll.every : cfg.groups[g]!.every });
      }
      this.devices.set(cfg.id, { cfg, points: new Map(cfg.points.map((p) => [p.name, p])), groups, seq: 0, failedPolls: 0, failing: false });
    }
  }

  /** Where the bus goes, for messages: the serial device or `host:port`. */
  get where(): string {
    const c = this.config;
    return c.transport === "rtu" ? String(c.port) : `${c.host}:${c.port}`;
  }

  private get linkName(): string {
    return this.config.transport === "rtu" ? "serial port" : "TCP connection";
  }

  async start(ctx: DriverContext): Promise<void> {
    this.ctx = ctx;
    this.boot = nextBoot(ctx.dataDir, this.name, ctx.clock.now());
    const c = this.config;
    const where = this.where;
    const port = { port: where };
    let session: ModbusMaster;
    if (c.transport === "tcp") {
      session = this.tcp = new TcpMasterSession({
        clock: ctx.clock,
        timeoutMs: c.timeoutMs,
        retries: c.retries,
        turnaroundMs: c.turnaroundMs,
        maxInFlight: c.maxInFlight,
        peer: where,
        onDesync: (e) => {
          ctx.log.warn({ driver: this.name, ...port, code: e.code }, `${e.reason}; dropping the connection and reconnecting`);
          ctx.count("modbus_errors", { device: "", code: e.code });
          this.port?.drop(`${e.code}: ${e.reason}`);
        },
      });
    } else {
      // RTU framing. Over TCP the serial gateway keeps the line's silences and TCP may split or
      // delay a frame, so no silence of ours is kept and only a long gap breaks a frame.
      const bitsPerChar = 1 + c.dataBits + (c.parity === "none" ? 0 : 1) + c.stopBits;
      const t35 = c.interFrameMs ?? (c.transport === "rtu" ? silenceMs(c.baudRate, bitsPerChar) : 0);
      session = this.rtu = new MasterSession({
        clock: ctx.clock,
        timeoutMs: c.timeoutMs,
        retries: c.retries,
        turnaroundMs: c.turnaroundMs,
        silenceMs: t35,
        frameGapMs: c.frameGapMs ?? (c.transport === "rtu" ? Math.max(t35, MIN_HOST_FRAME_GAP_MS) : c.timeoutMs),
      });
    }
    this.session = session;
    const events: LinkEvents = {
      up: (p) => {
        if (this.portDownSince !== undefined) ctx.log.info({ driver: this.name, ...port }, `${this.linkName} is back`);
        this.portDownSince = undefined;
        session.attach(p);
      },
      down: (reason) => {
        this.portDownSince = ctx.clock.now();
        ctx.log.warn({ driver: this.name, ...port, reason }, c.transport === "rtu" ? "serial port vanished; reopening with backoff" : "TCP connection lost; reconnecting with backoff");
        ctx.count("modbus_port_lost", {});
        session.attach(undefined);
      },
      data: (chunk) => session.receive(chunk),
    };
    this.port =
      c.transport === "rtu"
        ? (new ReconnectingPort(
            { path: String(c.port), baudRate: c.baudRate, dataBits: c.dataBits, parity: c.parity, stopBits: c.stopBits, rs485: c.rs485 },
            this.openPort,
            ctx.clock,
            c.reopen,
            events,
          ) as ReconnectingPort<unknown>)
        : (new ReconnectingPort({ host: c.host!, port: Number(c.port), connectTimeoutMs: c.connectTimeoutMs }, this.openSocket, ctx.clock, c.reopen, events) as ReconnectingPort<unknown>);
    await this.port.start();
    if (!this.port.isOpen) {
      this.portDownSince = ctx.clock.now();
      ctx.log.warn({ driver: this.name, ...port, reason: this.port.lastError }, `${this.linkName} not available; retrying with backoff`);
    }
    this.scheduler = new PollScheduler(ctx.clock, this.groups, {
      run: (g) => this.poll(g),
      gate: async () => {
        if (!this.backpressured) return false;
        await ctx.drained();
        this.backpressured = false;
        return true;
      },
      holdMs: (g) => this.holdMs(g),
    }, { concurrency: c.transport === "tcp" ? c.maxInFlight : 1 });
    this.scheduler.start();
  }

  async stop(): Promise<void> {
    this.session?.stop();
    await this.scheduler?.stop();
    await this.port?.stop();
  }

  private holdMs(g: PollGroup): number {
    const d = this.devices.get(g.device)!;
    const over = d.failedPolls - this.config.slaveBackoff.after;
    if (over < 0) return 0;
    return Math.min(this.config.slaveBackoff.maxMs, g.everyMs * 2 ** Math.min(over + 1, 20));
  }

  private async poll(g: PollGroup): Promise<void> {
    const ctx = this.ctx!;
    const session = this.session!;
    if (!session.attached) return;
    const d = this.devices.get(g.device)!;
    const blocks = d.groups.get(g.key.slice(g.device.length + 1)) ?? [];
    const ts = ctx.clock.now();
    const payload: Record<string, RawValue> = {};
    let answered = false;
    let lineFailure: string | undefined;
    const retries = d.failing ? 0 : undefined;
    for (const b of blocks) {
      try {
        const r = await session.request(d.cfg.unit, blockRequest(b), retries === undefined ? {} : { retries });
        answered = true;
        if (r && (r.kind === "bits" || r.kind === "registers")) Object.assign(payload, extractValues(b, r.kind === "bits" ? r.bits : r.registers));
      } catch (e) {
        const code = errorCode(e);
        if (LINK_DOWN.has(code)) return;
        ctx.count("modbus_errors", { device: d.cfg.id, code });
        if (!d.failing) ctx.log.debug({ device: d.cfg.id, unit: d.cfg.unit, code, address: b.address }, errorMessage(e));
        if (LINE_FAILURES.has(code)) {
          // Nobody answers: skip this slave's other reads this round so the rest of the bus keeps its cadence.
          lineFailure = code;
          break;
        }
        answered = true; // an exception is an answer: the slave is alive
      }
    }
    if (answered) {
      if (d.failing) ctx.log.info({ device: d.cfg.id, unit: d.cfg.unit }, "slave answers again");
      d.failedPolls = 0;
      d.failing = false;
    } else if (lineFailure) {
      d.failedPolls++;
      if (!d.failing && d.failedPolls >= this.config.slaveBackoff.after) {
        d.failing = true;
        ctx.log.warn({ device: d.cfg.id, unit: d.cfg.unit, code: lineFailure, polls: d.failedPolls }, "slave does not answer; polling it with backoff");
      }
    }
    if (Object.keys(payload).length === 0) return;
    ctx.count("modbus_polls", { device: d.cfg.id });
    const ok = ctx.emit({ id: `${d.cfg.id}/${this.boot}-${++d.seq}`, ts, device: d.cfg.id, kind: "telemetry", payload });
    if (!ok) this.backpressured = true;
  }

  async write(device: string, point: string, value: unknown): Promise<void> {
    const d = this.devices.get(device);
    const p = d?.points.get(point);
    if (!d || !p) throw new RidgeError("E_MODBUS_UNKNOWN_POINT", `no point "${point}" on device "${device}" of Modbus bus ${this.name}`);
    if (!p.writable) throw new RidgeError("E_MODBUS_NOT_WRITABLE", `point ${device}/${point} is not writable (set writable: true on a coil or holding point)`);
    if (!this.session) throw new RidgeError("E_MODBUS_STOPPED", `Modbus bus ${this.name} is not started`);
    const req = encodeWrite(p, value);
    try {
      await this.session.request(d.cfg.unit, req, { priority: "write" });
      this.ctx?.count("modbus_writes", { device });
    } catch (e) {
      this.ctx?.count("modbus_errors", { device, code: errorCode(e) });
      throw e;
    }
  }

  health(): DriverHealth {
    if (!this.port) return { up: false, detail: "not started" };
    if (!this.port.isOpen) return { up: false, detail: `${this.linkName} ${this.where} down: ${this.port.lastError ?? "not open"}; ${this.config.transport === "rtu" ? "reopening" : "reconnecting"} with backoff` };
    const failing = [...this.devices.values()].filter((d) => d.failing || d.failedPolls > 0);
    if (!failing.length) return { up: true, detail: `${this.devices.size} slave(s) answering on ${this.where}` };
    const parts = failing.map((d) => {
      const c = this.session?.slaves.get(d.cfg.unit);
      return `${d.cfg.id} (unit ${d.cfg.unit}) ${d.failing ? "not answering" : "errors"}: ${c?.lastError ?? "?"}, ${c?.timeouts ?? 0} timeouts, ${c?.crcErrors ?? 0} CRC errors`;
    });
    // No slave at all answers: the wire or the adapter is suspect, so the bus is down (the
    // supervisor may restart it, which reopens the port). One silent slave leaves the bus up.
    const allSilent = this.devices.size > 0 && [...this.devices.values()].every((d) => d.failing);
    return { up: !allSilent, detail: parts.join("; ") };
  }

  status(): Record<string, unknown> {
    const slaves: Record<string, SlaveCounters & { unit: number; failing: boolean }> = {};
    for (const d of this.devices.values()) {
      const c = this.session?.slaves.get(d.cfg.unit);
      slaves[d.cfg.id] = { unit: d.cfg.unit, failing: d.failing, ...(c ?? newCounters()) };
    }
    return {
      transport: this.config.transport,
      port: this.where,
      open: this.port?.isOpen ?? false,
      opens: this.port?.opens ?? 0,
      openFailures: this.port?.failures ?? 0,
      lastPortError: this.port?.lastError ?? null,
      line: this.rtu?.framerStats ?? this.tcp?.stats ?? null,
      cadence: this.scheduler?.status() ?? [],
      slaves,
    };
  }
}

/** A point write as a request: 05/0F for coils, 06/10 for holding registers. */
export function encodeWrite(p: ModbusPointConfig, value: unknown): Request {
  if (p.fn === "coil") {
    const v = toBool(value);
    return p.writeMultiple ? { fn: 0x0f, address: p.address, values: [v] } : { fn: 0x05, address: p.address, value: v };
  }
  if (p.fn !== "holding") throw new RidgeError("E_MODBUS_NOT_WRITABLE", `${p.fn} point ${p.name} cannot be written`);
  if (typeof value !== "number" && typeof value !== "boolean" && typeof value !== "string") {
    throw new RidgeError("E_MODBUS_WRITE_VALUE", `value ${JSON.stringify(value)} for ${p.name} is not a number, boolean or string`);
  }
  const raw = removeScale(p.type === "bool" ? toBool(value) : value, p);
  const regs = encodeRegisters(raw, p.type, p.order, p.length);
  return regs.length === 1 && !p.writeMultiple ? { fn: 0x06, address: p.address, value: regs[0]! } : { fn: 0x10, address: p.address, values: regs };
}

function toBool(v: unknown): boolean {
  if (v === true || v === 1 || v === "true" || v === "on") return true;
  if (v === false || v === 0 || v === "false" || v === "off") return false;
  throw new RidgeError("E_MODBUS_WRITE_VALUE", `value ${JSON.stringify(v)} is not a boolean`);
}

/** The next boot number of this bus, persisted in the data directory (falls back to the clock). */
function nextBoot(dataDir: string, bus: string, now: number): string {
  try {
    const dir = join(dataDir, "modbus");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${bus.replace(/[^A-Za-z0-9._-]/g, "_")}.boot`);
    let n = 0;
    try {
      n = Number.parseInt(readFileSync(file, "utf8"), 10) || 0;
    } catch {
      /* first boot */
    }
    writeFileSync(file, String(n + 1));
    return String(n + 1);
  } catch {
    return `t${now.toString(36)}`;
  }
}
