/**
 * A real `ridge run` in a child process, for integration and fault tests: waits for the ready
 * line, talks to the control socket, stops by PID (SIGTERM or kill -9).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controlRequest, type ControlReply } from "../../runtime/control/client.js";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const ridgeBin = join(repoRoot, "bin/ridge.mjs");

export interface RunningGateway {
  child: ChildProcess;
  pid: number;
  dataDir: string;
  readyLine: string;
  stdout(): string;
  stderr(): string;
  request(method: string, path: string, body?: unknown): Promise<ControlReply>;
  /** SIGTERM and wait; resolves with the exit code and how long the shutdown took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** kill -9: no cleanup runs. */
  kill9(): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  dataDir: string;
  /** YAML text written to <dataDir>/../<name>.yaml, or undefined for the board's embedded default. */
  config?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

/** Run any `ridge` command to completion. */
export function ridge(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ridgeBin, ...args], { cwd: repoRoot, env: { ...process.env, RIDGE_FROM_SOURCE: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const args = ["run", "--data", opts.dataDir, ...(opts.args ?? [])];
  if (opts.config !== undefined) {
    const file = `${opts.dataDir.replace(/\/$/, "")}.gateway.yaml`;
    writeFileSync(file, opts.config);
    args.push("--config", file);
  }
  const child = spawn(process.execPath, [ridgeBin, ...args], { cwd: repoRoot, env: { ...process.env, RIDGE_FROM_SOURCE: "1", ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const readyLine = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway not ready after ${opts.readyTimeoutMs ?? 30_000} ms\nstdout: ${out}\nstderr: ${err.slice(-4000)}`));
    }, opts.readyTimeoutMs ?? 30_000);
    const check = () => {
      const line = out.split("\n").find((l) => / ready in \d+ ms/.test(l));
      if (line) {
        clearTimeout(t);
        resolve(line);
      }
    };
    child.stdout!.on("data", check);
    void exited.then(({ code, signal }) => {
      clearTimeout(t);
      reject(new Error(`gateway exited (${code ?? signal}) before ready\nstdout: ${out}\nstderr: ${err.slice(-4000)}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    dataDir: opts.dataDir,
    readyLine,
    stdout: () => out,
    stderr: () => err,
    exited,
    request: (method, path, body) => controlRequest(opts.dataDir, method, path, body),
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      const t0 = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      return { ...r, ms: Date.now() - t0 };
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
