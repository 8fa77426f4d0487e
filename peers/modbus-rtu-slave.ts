/**
 * Modbus RTU peers for tests and benches: a socat pty pair, the pymodbus RTU slave
 * (peers/modbus_rtu_slave.py, Debian's python3-pymodbus and python3-serial-asyncio), and a relay
 * between two ptys that corrupts answers or paces them at a line speed.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hasCommand, startPeer, waitFor, type Peer } from "./process.js";

export const PYTHON = "/usr/bin/python3";
export const SLAVE_SCRIPT = join(new URL(".", import.meta.url).pathname, "modbus_rtu_slave.py");

/** socat and Debian's python with pymodbus and serial_asyncio are installed. */
export function canRunRealSlave(): boolean {
  if (!hasCommand("socat") || !existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ["-c", "import pymodbus.server, serial_asyncio"], { stdio: "ignore" }).status === 0;
}

/** A socat pty pair: `a` and `b` are symlinks to the two /dev/pts ends. */
export async function startPtyPair(dir: string, a: string, b: string): Promise<Peer> {
  const pa = join(dir, a);
  const pb = join(dir, b);
  // raw,echo=0 on both ends: otherwise the line discipline echoes bytes and maps CR/LF.
  const peer = startPeer("socat", ["-d", "-d", `pty,raw,echo=0,link=${pa}`, `pty,raw,echo=0,link=${pb}`]);
  await waitFor(`pty pair ${a}/${b}`, () => existsSync(pa) && existsSync(pb), 5000);
  return peer;
}

export interface SlaveOptions {
  units: number[];
  baud?: number;
  /** Registers per table (default 200). */
  size?: number;
}

export interface RealSlave extends Peer {
  /** The python process itself (the Peer's pid is its `timeout` wrapper). */
  slavePid: number;
  /** SIGKILL the python process (a crash, not a clean stop); resolves when the wrapper has exited. */
  crash(): Promise<void>;
}

/** The pymodbus RTU slave on `tty`, answering for `units`; resolves once it has opened the port. */
export async function startRealSlave(tty: string, o: SlaveOptions): Promise<RealSlave> {
  const args = [SLAVE_SCRIPT, tty, "--units", o.units.join(","), "--baud", String(o.baud ?? 9600), "--size", String(o.size ?? 200)];
  const peer = startPeer(PYTHON, args);
  const line = await waitFor(
    "pymodbus slave ready",
    () => peer.output().split("\n").find((l) => l.includes('"serving"')) ?? (peer.child.exitCode !== null && Promise.reject(new Error(`slave exited: ${peer.output()}`))),
    15_000,
  );
  const slavePid = (JSON.parse(line) as { pid: number }).pid;
  return {
    ...peer,
    slavePid,
    async crash() {
      process.kill(slavePid, "SIGKILL");
      await peer.exited;
    },
  };
}

export interface Relay {
  /** Answers corrupted so far. */
  corrupted: number;
  forwarded: number;
  /** Total ms by which paced deliveries ran late of their schedule (timer granularity): the emulator's own error. */
  lateMs: number;
  close(): Promise<void>;
}

export interface RelayOptions {
  /** Flip one byte in every n-th chunk from the slave side (line noise). */
  corruptEvery?: number;
  /** Emulate the line speed: each chunk takes its bits ÷ baud on the wire, one direction at a time. */
  baudRate?: number;
  bitsPerChar?: number;
}

/**
 * Forwards bytes between two serial devices (the inner ends of two pty pairs, which themselves
 * move bytes instantly): optionally corrupts answers, optionally paces them at a baud rate.
 */
export async function startRelay(masterSide: string, slaveSide: string, o: RelayOptions): Promise<Relay> {
  const { SerialPort } = await import("serialport");
  const open = (path: string) =>
    new Promise<InstanceType<typeof SerialPort>>((resolve, reject) => {
      const p = new SerialPort({ path, baudRate: 9600, autoOpen: false });
      p.open((e) => (e ? reject(e) : resolve(p)));
    });
  const m = await open(masterSide);
  const s = await open(slaveSide);
  const state: Relay = {
    corrupted: 0,
    forwarded: 0,
    lateMs: 0,
    close: async () => {
      await Promise.all([m, s].map((p) => new Promise<void>((r) => (p.isOpen ? p.close(() => r()) : r()))));
    },
  };
  // Half duplex: the wire is busy until `busyUntil`.
  let busyUntil = 0;
  const send = (to: InstanceType<typeof SerialPort>, d: Buffer) => {
    if (!o.baudRate) return void to.write(d);
    const now = performance.now();
    const start = Math.max(now, busyUntil);
    const due = (busyUntil = start + (d.length * (o.bitsPerChar ?? 10) * 1000) / o.baudRate);
    setTimeout(() => {
      state.lateMs += Math.max(0, performance.now() - due);
      to.write(d);
    }, due - now);
  };
  m.on("data", (d: Buffer) => send(s, d));
  s.on("data", (d: Buffer) => {
    state.forwarded++;
    if (o.corruptEvery && state.forwarded % o.corruptEvery === 0 && d.length > 2) {
      d = Buffer.from(d);
      d[d.length - 3]! ^= 0x20;
      state.corrupted++;
    }
    send(m, d);
  });
  m.on("error", () => undefined);
  s.on("error", () => undefined);
  return state;
}
