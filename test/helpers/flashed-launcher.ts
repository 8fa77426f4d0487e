/**
 * A flashed root's boot launcher run the way the unit runs it (no arguments: `ridge boot`, then
 * `ridge run` in the chosen slot), bounded by `timeout`, in its own process group so that the
 * runtime it starts is stopped with it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { DeviceLayout } from "../../flash/index.js";
import { stopProcessGroup, waitFor } from "../../peers/process.js";

export interface FlashedLauncher {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  /** The runtime's ready line; throws with the launcher's stderr when it exits first. */
  ready(ms: number): Promise<string>;
  stop(): Promise<void>;
}

export function startFlashedLauncher(root: string, layout: DeviceLayout, env: NodeJS.ProcessEnv, maxSeconds: number): FlashedLauncher {
  const child = spawn("timeout", ["--signal=TERM", "--kill-after=10", String(maxSeconds), join(root, layout.launcher)], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    async ready(ms) {
      const line = await waitFor("the ready line", () => (out + err).split("\n").find((l) => / ready in \d+ ms/.test(l)) ?? (child.exitCode !== null ? `EXITED ${child.exitCode}` : undefined), ms, 100);
      if (line.startsWith("EXITED")) throw new Error(`the runtime exited (${line}): ${err.slice(-3000)}`);
      return line;
    },
    stop: () => stopProcessGroup(child, exited),
  };
}
