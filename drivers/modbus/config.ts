/**
 * Config for a Modbus bus (`drivers: - modbus: {...}`) and for each device on it
 * (`devices: - { id, driver, unit, poll, points }`). `transport` picks the link: `rtu` (the
 * default, a serial line), `tcp` (Modbus TCP: MBAP framing, `host` and `port`) or `rtu-over-tcp`
 * (a serial gateway that tunnels RTU frames, CRC kept, over a TCP socket).
 */
import { z } from "zod";
import { duration } from "../../core/index.js";
import { POINT_FUNCTIONS, POINT_TYPES, WORD_ORDERS, registerCount } from "./register-map.js";

export const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400] as const;

const ms = (def: number) => duration.default(def);

export const MODBUS_TRANSPORTS = ["rtu", "tcp", "rtu-over-tcp"] as const;
export type ModbusTransport = (typeof MODBUS_TRANSPORTS)[number];

/** Requests in flight on one TCP connection at most (the transaction id tells the answers apart). */
export const MAX_IN_FLIGHT = 16;

export const modbusDriverConfig = z
  .object({
    name: z.string().min(1),
    transport: z.enum(MODBUS_TRANSPORTS).default("rtu"),
    /**
     * `rtu`: the serial device, e.g. /dev/ttyAMA0 or /dev/serial/by-id/usb-FTDI-...;
     * `tcp`, `rtu-over-tcp`: the TCP port, 1–65535 (Modbus TCP's registered port is 502).
     */
    port: z.union([z.string().min(1), z.number()]),
    /** `tcp`, `rtu-over-tcp`: the server's (or serial gateway's) host name or address. */
    host: z.string().min(1).optional(),
    /**
     * `tcp`: requests sent on the connection before the first answer comes back. Implementation
     * Guide V1.0b §4.2: a server may queue several transactions; many devices handle only one, so 1.
     */
    maxInFlight: z.number().int().min(1).max(MAX_IN_FLIGHT).default(1),
    /** `tcp`, `rtu-over-tcp`: give up a TCP connect after this long (then reconnect with backoff). */
    connectTimeoutMs: ms(3000),
    baudRate: z
      .number()
      .int()
      .refine((b) => (BAUD_RATES as readonly number[]).includes(b), { message: `baudRate must be one of ${BAUD_RATES.join(", ")}` })
      .default(19200),
    /** Modbus over serial line V1.02 §2.5.1: the default is even parity. */
    parity: z.enum(["none", "even", "odd"]).default("even"),
    dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
    /** Response timeout per attempt. */
    timeoutMs: ms(200),
    /** Extra attempts after a timeout or a corrupted response. */
    retries: z.number().int().min(0).max(10).default(2),
    /** Quiet time after a broadcast (unit 0) before the next request (§2.4.1: 100–200 ms). */
    turnaroundMs: ms(100),
    /** Override the inter-frame silence (t3.5). Default: 3.5 character times, 1.75 ms above 19200 baud. */
    interFrameMs: z.number().positive().max(1000).optional(),
    /**
     * A gap inside a frame, as the host sees it, that breaks the frame. Default: t3.5, but at least
     * 20 ms, because USB serial adapters hand bytes over in bursts (latency timers of 1–16 ms) and
     * a strict host-side t3.5 would cut every long reply.
     */
    frameGapMs: z.number().positive().max(5000).optional(),
    /**
     * RS-485 direction control. `off`: RS-232 or a transceiver with automatic direction (most USB
     * adapters); `rts`: raise RTS while transmitting (software direction control).
     */
    rs485: z.enum(["off", "rts"]).default("off"),
    /** Reopen a vanished port (reconnect a dropped TCP connection) with exponential backoff between these bounds. */
    reopen: z.object({ minMs: ms(500), maxMs: ms(30_000) }).strict().default({}),
    /** A slave failing this many polls in a row is polled with backoff (up to maxMs) and without retries. */
    slaveBackoff: z.object({ after: z.number().int().min(1).default(3), maxMs: ms(30_000) }).strict().default({}),
    /** Coalesce reads across gaps of at most this many unmapped registers/coils (0: contiguous only). */
    maxGap: z.number().int().min(0).max(100).default(0),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string, code: string) => ctx.addIssue({ code: "custom", path: [path], message, params: { code } });
    if (c.transport === "rtu") {
      if (typeof c.port !== "string") issue("port", `with transport rtu, port is the serial device path (e.g. /dev/ttyAMA0), got the number ${c.port}; for Modbus TCP set transport: tcp and host`, "E_CONFIG_TYPE");
      if (c.host !== undefined) issue("host", "host applies to transport tcp or rtu-over-tcp; a serial bus (transport rtu) has only port", "E_CONFIG_INVALID");
    } else {
      if (c.host === undefined) issue("host", `transport ${c.transport} needs host (the server's name or address)`, "E_CONFIG_MISSING");
      if (typeof c.port !== "number") issue("port", `with transport ${c.transport}, port is a TCP port number 1–65535, got ${JSON.stringify(c.port)}`, "E_CONFIG_TYPE");
      else if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) issue("port", `port must be a TCP port 1–65535, got ${c.port}`, "E_CONFIG_RANGE");
    }
    if (c.maxInFlight > 1 && c.transport !== "tcp") {
      issue("maxInFlight", `maxInFlight ${c.maxInFlight} needs transport tcp: transport ${c.transport} carries one request at a time (no transaction id)`, "E_CONFIG_INVALID");
    }
  });
export type ModbusDriverConfig = z.output<typeof modbusDriverConfig>;

const pointConfig = z
  .object({
    name: z.string().min(1),
    fn: z.enum(POINT_FUNCTIONS),
    address: z.number().int().min(0).max(65535),
    type: z.enum(POINT_TYPES).optional(),
    order: z.enum(WORD_ORDERS).default("ABCD"),
    /** For `bool` on a holding or input register: the bit (0 = least significant) of that register. Read-only. */
    bit: z.number().int().min(0).max(15).optional(),
    /** Length in registers, for `string` only (2 characters per register). */
    length: z.number().int().min(1).max(125).optional(),
    scale: z.number().finite().refine((s) => s !== 0, "scale must not be 0").default(1),
    offset: z.number().finite().default(0),
    unit: z.string().optional(),
    writable: z.boolean().default(false),
    /** Force the multiple-write functions (0F/10) even for one coil or register. */
    writeMultiple: z.boolean().default(false),
    /** Poll group name (from the device's `groups`); the default group otherwise. */
    group: z.string().optional(),
  })
  .strict()
  .transform((p) => ({ ...p, type: p.type ?? (p.fn === "coil" || p.fn === "discrete" ? ("bool" as const) : ("uint16" as const)) }));
export type ModbusPointConfig = z.output<typeof pointConfig>;

export const modbusDeviceConfig = z
  .object({
    id: z.string().min(1),
    driver: z.string().min(1),
    /** Slave address 1..247 (§2.2; 0 is broadcast and cannot be polled). */
    unit: z.number().int().min(1).max(247),
    poll: z.object({ every: duration.default(1000) }).strict().default({}),
    groups: z.record(z.object({ every: duration }).strict()).default({}),
    points: z.array(pointConfig).min(1),
  })
  .strict()
  .superRefine((d, ctx) => {
    const names = new Set<string>();
    d.points.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: "custom", path: ["points", i, "name"], message: `point name "${p.name}" is used twice` });
      names.add(p.name);
      const bitFn = p.fn === "coil" || p.fn === "discrete";
      if (bitFn && p.type !== "bool") ctx.addIssue({ code: "custom", path: ["points", i, "type"], message: `a ${p.fn} point is type bool, not ${p.type}` });
      if (p.writable && (p.fn === "discrete" || p.fn === "input")) ctx.addIssue({ code: "custom", path: ["points", i, "writable"], message: `${p.fn} points are read-only in Modbus; use fn coil or holding to write` });
      if (p.type === "string" && p.length === undefined) ctx.addIssue({ code: "custom", path: ["points", i, "length"], message: "a string point needs length (registers, 2 characters each)" });
      if (p.address + registerCount(p.type, p.length) > 65536) ctx.addIssue({ code: "custom", path: ["points", i, "address"], message: "the point runs past address 65535" });
      if (p.writable && registerCount(p.type, p.length) > 123) ctx.addIssue({ code: "custom", path: ["points", i, "length"], message: "a writable point spans at most 123 registers (one write multiple registers request)" });
      if (p.bit !== undefined && (bitFn || p.type !== "bool")) ctx.addIssue({ code: "custom", path: ["points", i, "bit"], message: "bit applies to bool points on holding or input registers" });
      if (p.bit !== undefined && p.writable) ctx.addIssue({ code: "custom", path: ["points", i, "writable"], message: "a bit of a register cannot be written on its own (it would overwrite the other bits)" });
      if (p.group !== undefined && !(p.group in d.groups)) ctx.addIssue({ code: "custom", path: ["points", i, "group"], message: `no poll group "${p.group}" (groups: ${Object.keys(d.groups).join(", ") || "none"})` });
      if (p.order !== "ABCD" && bitFn) ctx.addIssue({ code: "custom", path: ["points", i, "order"], message: "order applies to registers, not coils" });
    });
  });
export type ModbusDeviceConfig = z.output<typeof modbusDeviceConfig>;
