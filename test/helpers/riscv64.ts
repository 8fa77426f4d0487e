/**
 * RISC-V on this x86-64 host: Node.js for riscv64 (Debian 13's, with its libraries) and the addons
 * cross-built for it, prepared once into .cache/ by scripts/prepare-target.mjs --arch riscv64, run
 * under qemu-riscv64-static on a sysroot holding glibc alone (.cache/debian/riscv64/base, from
 * Debian's libc6): the stand-in for the board's own system, so a library the slot lacks fails here.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hasCommand } from "../../peers/process.js";
import { repoRoot } from "./gateway.js";

export const QEMU_RISCV64 = "qemu-riscv64-static";
export const RISCV64_BASE = join(repoRoot, ".cache/debian/riscv64/base");
const PREPARE = join(repoRoot, "scripts/prepare-target.mjs");

/** Runs prepare-target.mjs --arch riscv64 (cached: instant when done). Throws with its output on failure. */
export function ensureRiscv64Artifacts(timeoutMs = 15 * 60_000): void {
  const check = spawnSync(process.execPath, [PREPARE, "--arch", "riscv64", "--check"], { encoding: "utf8" });
  if (check.status === 0) return;
  const r = spawnSync(process.execPath, [PREPARE, "--arch", "riscv64", ...(process.getuid?.() === 0 ? ["--install-packages"] : [])], { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`scripts/prepare-target.mjs --arch riscv64 failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

/** qemu-riscv64-static and the glibc sysroot; throws (a missing RISC-V proof is a failure, never a skip). */
export function requireQemuRiscv64(): string {
  if (!hasCommand(QEMU_RISCV64)) throw new Error(`${QEMU_RISCV64} is missing: apt-get install -y --no-install-recommends qemu-user-static (.ci/run does)`);
  if (!existsSync(join(RISCV64_BASE, "lib/ld-linux-riscv64-lp64d.so.1"))) throw new Error(`${RISCV64_BASE} holds no riscv64 glibc: node scripts/prepare-target.mjs --arch riscv64`);
  return QEMU_RISCV64;
}

/** The launcher's RIDGE_EXEC_WRAPPER that runs the slot's riscv64 Node on this host. */
export function qemuRiscv64Wrapper(): string {
  return `${QEMU_RISCV64} -L ${RISCV64_BASE}`;
}
