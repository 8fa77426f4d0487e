/**
 * The TCP socket under a Modbus TCP (or RTU-over-TCP) connection, as the same `PortHandle` a
 * serial port is: bytes out, chunks in, one close notification when the peer goes away. The
 * driver keeps it open with `ReconnectingPort` (connect again with backoff).
 *
 * Nagle is off (a request is one small write that must leave now); TCP keepalive finds a peer
 * that vanished without a FIN (Implementation Guide V1.0b §4.3.1.3: keep-alive to detect a
 * broken connection). `TcpOpener` is the seam: unit tests pass a fake, integration tests the real one.
 */
import { createConnection } from "node:net";
import { RidgeError, errorMessage } from "../../core/index.js";
import type { PortHandle } from "./serial-transport.js";

export interface TcpSettings {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Idle time before the first TCP keepalive probe. */
  keepAliveMs?: number;
}

export type TcpOpener = (s: TcpSettings) => Promise<PortHandle>;

export const openTcpSocket: TcpOpener = (s) =>
  new Promise<PortHandle>((resolve, reject) => {
    const sock = createConnection({ host: s.host, port: s.port });
    const where = `${s.host}:${s.port}`;
    let connected = false;
    let closing = false;
    let closed = false;
    const closeCbs: ((reason: string) => void)[] = [];
    let lastError: string | undefined;
    const timer = setTimeout(() => {
      sock.destroy(new Error(`connect timed out after ${s.connectTimeoutMs} ms`));
    }, s.connectTimeoutMs);
    sock.on("error", (e: Error) => {
      lastError = errorMessage(e);
      if (!connected) {
        clearTimeout(timer);
        reject(new RidgeError("E_MODBUS_CONNECT", `cannot connect to Modbus TCP server ${where}: ${lastError}`, { cause: e }));
      }
    });
    sock.on("close", () => {
      clearTimeout(timer);
      if (closed) return;
      closed = true;
      if (connected && !closing) for (const cb of closeCbs) cb(lastError ? `connection to ${where} lost: ${lastError}` : `${where} closed the connection`);
    });
    sock.on("end", () => {
      // The server half-closed: Modbus has no use for a half-open connection.
      sock.destroy();
    });
    sock.once("connect", () => {
      clearTimeout(timer);
      connected = true;
      sock.setNoDelay(true);
      sock.setKeepAlive(true, s.keepAliveMs ?? 10_000);
      resolve({
        write: (bytes) =>
          new Promise<void>((res, rej) => {
            if (sock.destroyed) return rej(new Error(`connection to ${where} is closed`));
            sock.write(bytes, (e) => (e ? rej(e) : res()));
          }),
        close: () =>
          new Promise<void>((res) => {
            closing = true;
            if (closed) return res();
            sock.once("close", () => res());
            sock.destroy();
          }),
        onData: (cb) => {
          sock.on("data", (d: Buffer) => cb(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
        },
        onClose: (cb) => {
          closeCbs.push(cb);
        },
      });
    });
  });
