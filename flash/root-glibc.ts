/**
 * The glibc of the root being flashed, when it holds one (a mounted rootfs; a plain empty folder holds
 * none): a slot whose Node links the board's own glibc (riscv64: Debian 13's build) needs at least the
 * version its libraries reference, else the gateway never starts (the loader's "version `GLIBC_2.38'
 * not found"). The version is the highest GLIBC_2.N version node libc.so.6 defines (its .dynstr).
 */
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { isAbsolute, join, posix } from "node:path";
import { RidgeError } from "../core/index.js";
import type { Board } from "../boards/index.js";

const TRIPLES: Record<Board["arch"], string> = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu", riscv64: "riscv64-linux-gnu" };

/** Follows symlinks inside the root (an absolute link target is the device's path, not this host's). */
function resolveInRoot(root: string, rel: string, depth = 0): string | undefined {
  const p = join(root, rel);
  if (depth > 8 || !existsSync(p)) return undefined;
  const st = lstatSync(p);
  if (!st.isSymbolicLink()) return st.isFile() ? p : undefined;
  const t = readlinkSync(p);
  return resolveInRoot(root, isAbsolute(t) ? t.slice(1) : posix.join(posix.dirname(rel), t), depth + 1);
}

/** The highest `GLIBC_2.N[.M]` name between NULs in the bytes (the closing NUL is only looked at: it opens the next name). */
export function glibcVersionOf(bytes: Uint8Array): string | undefined {
  let best: [number, number] | undefined;
  for (const m of Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1").matchAll(/\0GLIBC_2\.(\d+)(?:\.(\d+))?(?=\0)/g)) {
    const v: [number, number] = [Number(m[1]), Number(m[2] ?? 0)];
    if (!best || v[0] > best[0] || (v[0] === best[0] && v[1] > best[1])) best = v;
  }
  return best ? `2.${best[0]}${best[1] ? `.${best[1]}` : ""}` : undefined;
}

export function compareGlibc(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The root's glibc, or undefined when it holds none. */
export function rootGlibc(root: string, arch: Board["arch"]): { path: string; version: string } | undefined {
  const triple = TRIPLES[arch];
  for (const rel of [`usr/lib/${triple}/libc.so.6`, `lib/${triple}/libc.so.6`, "usr/lib/libc.so.6", "lib/libc.so.6"]) {
    const p = resolveInRoot(root, rel);
    if (!p) continue;
    const version = glibcVersionOf(readFileSync(p));
    if (version) return { path: `/${rel}`, version };
  }
  return undefined;
}

/** Refuses a root whose glibc is older than `needed` (nothing is written yet). */
export function checkRootGlibc(root: string, board: Board, needed: string, what: string): void {
  const g = rootGlibc(root, board.arch);
  if (g && compareGlibc(g.version, needed) < 0)
    throw new RidgeError(
      "E_FLASH_BOARD_GLIBC",
      `${root}${g.path} is glibc ${g.version}, but ${what} needs glibc ${needed} or newer: upgrade the board's system (Debian 13, Ubuntu 24.04), or flash with --no-with-node and a Node.js 20 of the system's own (boards/README.md, ${board.name})`,
      { detail: { found: g.version, needed } },
    );
}
