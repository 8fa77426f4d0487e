/**
 * The serial port under a Modbus bus: opened with the configured line settings through
 * `serialport`, watched for disappearance (a USB adapter unplugged: the read fails and the port
 * closes) and reopened with exponential backoff until it returns.
 *
 * `PortOpener` is the seam for tests: unit tests pass a fake port, integration tests the real one.
 */
import { RidgeError, errorMessage, type Clock, type Timer } from "../../core/index.js";

export interface SerialSettings {
  path: string;
  baudRate: number;
  dataBits: 7 | 8;
  parity: "none" | "even" | "odd";
  stopBits: 1 | 2;
  rs485: "off" | "rts";
}

export interface PortHandle {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  onData(cb: (chunk: Uint8Array) => void): void;
  /** Called once when the port closes by itself (unplugged, peer gone). */
  onClose(cb: (reason: string) => void): void;
}

export type PortOpener = (s: SerialSettings) => Promise<PortHandle>;

/** Open a real serial port with `serialport` (loaded lazily so codecs and tests need no native addon). */
export const openSerialPort: PortOpener = async (s) => {
  const { SerialPort } = await import("serialport");
  const port = new SerialPort({ path: s.path, baudRate: s.baudRate, dataBits: s.dataBits, parity: s.parity, stopBits: s.stopBits, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => (err ? reject(new RidgeError("E_MODBUS_PORT_OPEN", `cannot open serial port ${s.path}: ${err.message}`, { cause: err })) : resolve())),
  );
  let closing = false;
  const closeCbs: ((reason: string) => void)[] = [];
  let closed = false;
  const fireClose = (reason: string) => {
    if (closed) return;
    closed = true;
    if (!closing) for (const cb of closeCbs) cb(reason);
  };
  port.on("close", (err: Error | null) => fireClose(err ? errorMessage(err) : "closed"));
  port.on("error", (err: Error) => {
    fireClose(errorMessage(err));
    if (port.isOpen) port.close(() => undefined);
  });
  const setRts = (on: boolean) => new Promise<void>((resolve, reject) => port.set({ rts: on }, (e) => (e ? reject(e) : resolve())));
  return {
    async write(bytes) {
      if (s.rs485 === "rts") await setRts(true);
      await new Promise<void>((resolve, reject) => {
        port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (e) => (e ? reject(e) : undefined));
        // tcdrain: returns when the bytes have left the UART, so RTS can drop right after.
        port.drain((e) => (e ? reject(e) : resolve()));
      });
      if (s.rs485 === "rts") await setRts(false);
    },
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
    onData(cb) {
      port.on("data", (d: Buffer) => cb(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
    },
    onClose(cb) {
      closeCbs.push(cb);
    },
  };
};

export interface LinkEvents {
  up(port: PortHandle): void;
  down(reason: string): void;
  data(chunk: Uint8Array): void;
}

export interface ReopenPolicy {
  minMs: number;
  maxMs: number;
}

/**
 * Keeps one port open: opens it, and after it vanishes reopens it with exponential backoff. The
 * same for a TCP connection (tcp-transport.ts): `S` is what the opener is given.
 */
export class ReconnectingPort<S = SerialSettings> {
  private port: PortHandle | undefined;
  private timer: Timer | undefined;
  private stopped = true;
  private delay: number;
  opens = 0;
  failures = 0;
  lastError: string | undefined;

  constructor(
    private readonly settings: S,
    private readonly opener: (s: S) => Promise<PortHandle>,
    private readonly clock: Clock,
    private readonly policy: ReopenPolicy,
    private readonly events: LinkEvents,
  ) {
    this.delay = policy.minMs;
  }

  get isOpen(): boolean {
    return this.port !== undefined;
  }

  /** Try once now; on failure keep retrying in the background. Resolves either way. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    const p = this.port;
    this.port = undefined;
    await p?.close();
  }

  /**
   * Close the open port on our own initiative (the stream is out of step) and reopen it with
   * backoff, as if it had vanished: `down` fires, then `up` once it is back.
   */
  drop(reason: string): void {
    const p = this.port;
    if (!p || this.stopped) return;
    this.port = undefined;
    this.lastError = reason;
    void p.close().catch(() => undefined);
    this.events.down(reason);
    this.schedule();
  }

  private async attempt(): Promise<void> {
    if (this.stopped || this.port) return;
    try {
      const p = await this.opener(this.settings);
      if (this.stopped) {
        await p.close();
        return;
      }
      this.port = p;
      this.opens++;
      this.delay = this.policy.minMs;
      this.lastError = undefined;
      p.onData((c) => this.events.data(c));
      p.onClose((reason) => {
        if (this.port !== p) return;
        this.port = undefined;
        this.lastError = reason;
        this.events.down(reason);
        this.schedule();
      });
      this.events.up(p);
    } catch (e) {
      this.failures++;
      this.lastError = errorMessage(e);
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    const d = this.delay;
    this.delay = Math.min(this.policy.maxMs, this.delay * 2);
    this.timer = this.clock.setTimeout(() => void this.attempt(), d);
  }
}
