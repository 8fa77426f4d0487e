/**
 * Modbus TCP peers for tests and benches: the pymodbus TCP server (peers/modbus_tcp_server.py,
 * Debian's python3-pymodbus) on 127.0.0.1, pymodbus's own TCP client as a bench baseline
 * (peers/modbus_tcp_client_bench.py), and raw loopback TCP peers (a server that says whatever a
 * test tells it to, and a relay in front of a real server that can tamper with its answers).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { startPeer, waitFor, type Peer } from "./process.js";

export const PYTHON = "/usr/bin/python3";
const here = new URL(".", import.meta.url).pathname;
export const TCP_SERVER_SCRIPT = join(here, "modbus_tcp_server.py");
export const TCP_CLIENT_BENCH_SCRIPT = join(here, "modbus_tcp_client_bench.py");

/** Debian's python with pymodbus is installed (the TCP server needs nothing else). */
export function canRunTcpServer(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import pymodbus.server, pymodbus.client"], { stdio: "ignore" }).status === 0;
}

export interface TcpServerOptions {
  units: number[];
  /** Registers per table (default 200). */
  size?: number;
  /** A slow device: each request is held this long before its answer. */
  delayMs?: number;
  /** A fixed port (to come back on the same one after a crash); default: a free one. */
  port?: number;
  /** `rtu`: RTU frames over the socket (a serial gateway's transparent mode); default MBAP. */
  framer?: "socket" | "rtu";
}

export interface RealTcpServer extends Peer {
  port: number;
  /** The python process itself (the Peer's pid is its `timeout` wrapper). */
  serverPid: number;
  /** SIGKILL the python process (the server vanishes: connections reset); resolves when it is gone. */
  crash(): Promise<void>;
}

/** The pymodbus TCP server on 127.0.0.1, answering for `units`; resolves once it listens. */
export async function startTcpServer(o: TcpServerOptions): Promise<RealTcpServer> {
  const args = [TCP_SERVER_SCRIPT, "--port", String(o.port ?? 0), "--units", o.units.join(","), "--size", String(o.size ?? 200), "--delay-ms", String(o.delayMs ?? 0), "--framer", o.framer ?? "socket"];
  const peer = startPeer(PYTHON, args);
  const line = await waitFor(
    "pymodbus TCP server listening",
    () => peer.output().split("\n").find((l) => l.includes('"serving"')) ?? (peer.child.exitCode !== null && Promise.reject(new Error(`pymodbus TCP server exited: ${peer.output()}`))),
    15_000,
  );
  const info = JSON.parse(line) as { pid: number; port: number };
  return {
    ...peer,
    port: info.port,
    serverPid: info.pid,
    async crash() {
      try {
        process.kill(info.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
      await peer.exited;
    },
  };
}

/** pymodbus's ModbusTcpClient reading `units` × `count` holding registers per cycle: the cycle times in ms. */
export async function runPymodbusClientBench(port: number, o: { units: number; count: number; cycles: number; warmup?: number }): Promise<number[]> {
  const peer = startPeer(PYTHON, [TCP_CLIENT_BENCH_SCRIPT, String(port), "--units", String(o.units), "--count", String(o.count), "--cycles", String(o.cycles), "--warmup", String(o.warmup ?? 3)], { maxSeconds: 120 });
  const code = await peer.exited;
  const line = peer.output().split("\n").find((l) => l.startsWith('{"cycles_ms"'));
  if (code !== 0 || !line) throw new Error(`pymodbus client bench failed (exit ${code}): ${peer.output()}`);
  return (JSON.parse(line) as { cycles_ms: number[] }).cycles_ms;
}

export interface RawTcpPeer {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Stop listening and reset every open connection. */
  close(): Promise<void>;
}

/** A loopback TCP server whose every connection goes to `onConnection`. */
export function startRawTcpPeer(onConnection: (sock: Socket, n: number) => void, port = 0): Promise<RawTcpPeer> {
  const socks = new Set<Socket>();
  const peer: RawTcpPeer = {
    port: 0,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of socks) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((sock) => {
    socks.add(sock);
    sock.on("close", () => socks.delete(sock));
    sock.on("error", () => undefined);
    onConnection(sock, ++peer.connections);
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(port, "127.0.0.1", () => {
      peer.port = (server.address() as { port: number }).port;
      resolve(peer);
    });
  });
}

export interface TcpRelayOptions {
  /** Rewrite what the server sends on connection `n` (chunk by chunk, `k` counts chunks on that connection). */
  tamper?(chunk: Buffer, n: number, k: number): Buffer;
}

/** A relay on its own loopback port in front of the server at `targetPort`; one server connection per client connection. */
export function startTcpRelay(targetPort: number, o: TcpRelayOptions = {}): Promise<RawTcpPeer> {
  return startRawTcpPeer((client, n) => {
    const server = connect({ host: "127.0.0.1", port: targetPort });
    let k = 0;
    server.on("error", () => client.destroy());
    client.on("close", () => server.destroy());
    server.on("close", () => client.destroy());
    client.on("data", (d: Buffer) => server.write(d));
    server.on("data", (d: Buffer) => {
      const out = o.tamper ? o.tamper(d, n, ++k) : d;
      if (out.length) client.write(out);
    });
  });
}
