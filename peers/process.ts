/**
 * Peer processes for tests and benches: started on 127.0.0.1 with a random port, bounded by a hard
 * time limit (`timeout`), stopped by their PID (never by name); free ports, waits, temp directories.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

export const PEER_MAX_SECONDS = Number(process.env.PEER_MAX_SECONDS ?? 300);

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.on("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitTcp(port: number, ms = 10_000, host = "127.0.0.1"): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host }, () => {
        c.destroy();
        resolve(true);
      });
      c.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000, every = 25): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

export interface Peer {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** TERM, then KILL after a grace period; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** Start a long-running peer under `timeout` so it dies even if the test never stops it. */
export function startPeer(cmd: string, args: string[], opts: SpawnOptions & { maxSeconds?: number } = {}): Peer {
  const child = spawn("timeout", ["--signal=TERM", "--kill-after=5", String(opts.maxSeconds ?? PEER_MAX_SECONDS), cmd, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...opts,
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = "ridge-test-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** TERM a detached child's whole process group, KILL it after `graceMs`; resolves once the child has exited. */
export async function stopProcessGroup(child: ChildProcess, exited: Promise<unknown>, graceMs = 30_000): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      /* gone */
    }
  };
  signal("SIGTERM");
  const t = setTimeout(() => signal("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}
