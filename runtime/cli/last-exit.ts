/**
 * Why the gateway last stopped on its own: `ridge run` writes `<data>/boot/last-exit.json` before
 * it exits on a fatal config error (exit 2: the unit does not restart it), and removes it once it
 * serves again. `ridge status` prints it when no gateway answers, so an operator on a device whose
 * unit stopped reads the reason instead of "not running".
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LAST_EXIT_REL } from "../../boards/index.js";

/** Relative to the data dir, as the flashed layout names it. */
export { LAST_EXIT_REL };

export interface LastExit {
  at: string;
  exit: number;
  code: string;
  message: string;
  slot?: string;
}

export function lastExitFile(dataDir: string): string {
  return join(dataDir, LAST_EXIT_REL);
}

/** Best effort: a data dir that cannot be written must not hide the error being reported. */
export function writeLastExit(dataDir: string, e: Omit<LastExit, "at">, now = new Date()): void {
  const p = lastExitFile(dataDir);
  try {
    mkdirSync(dirname(p), { recursive: true });
    const body: LastExit = { at: now.toISOString(), ...e };
    writeFileSync(`${p}.tmp`, `${JSON.stringify(body, null, 1)}\n`, { mode: 0o640 });
    renameSync(`${p}.tmp`, p);
  } catch {
    /* reported on stderr anyway */
  }
}

export function readLastExit(dataDir: string): LastExit | undefined {
  try {
    const v = JSON.parse(readFileSync(lastExitFile(dataDir), "utf8")) as Partial<LastExit>;
    if (typeof v.code !== "string" || typeof v.message !== "string") return undefined;
    return { at: String(v.at ?? "?"), exit: Number(v.exit ?? 2), code: v.code, message: v.message, ...(typeof v.slot === "string" ? { slot: v.slot } : {}) };
  } catch {
    return undefined;
  }
}

export function clearLastExit(dataDir: string): void {
  try {
    rmSync(lastExitFile(dataDir), { force: true });
  } catch {
    /* nothing to clear */
  }
}
