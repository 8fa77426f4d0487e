/**
 * ARM64 on this x86-64 host: the target artifacts (Node for arm64, better-sqlite3 cross-built),
 * prepared once into .cache/ by scripts/prepare-target.mjs, and qemu-aarch64-static with the cross
 * toolchain's sysroot (/usr/aarch64-linux-gnu from libc6-arm64-cross) to run arm64 binaries.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hasCommand } from "../../peers/process.js";
import { repoRoot } from "./gateway.js";

export const ARM64_SYSROOT = process.env.RIDGE_ARM64_SYSROOT ?? "/usr/aarch64-linux-gnu";
export const QEMU_AARCH64 = "qemu-aarch64-static";

/** Runs prepare.mjs (cached: instant when done; a cold cross-build takes minutes). Throws with its output on failure. */
export function ensureArm64Artifacts(timeoutMs = 15 * 60_000): void {
  const check = spawnSync(process.execPath, [join(repoRoot, "scripts/prepare-target.mjs"), "--arch", "arm64", "--check"], { encoding: "utf8" });
  if (check.status === 0) return;
  const r = spawnSync(process.execPath, [join(repoRoot, "scripts/prepare-target.mjs"), "--arch", "arm64", ...(process.getuid?.() === 0 ? ["--install-packages"] : [])], {
    encoding: "utf8",
    timeout: timeoutMs,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.status !== 0) throw new Error(`scripts/prepare-target.mjs --arch arm64 failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

/**
 * qemu-aarch64-static, installed with apt-get when missing and we are root. Returns undefined only
 * when it cannot be had: the caller then fails (a skipped ARM64 proof is not a proof).
 */
export function ensureQemu(): string | undefined {
  if (hasCommand(QEMU_AARCH64) && existsSync(join(ARM64_SYSROOT, "lib/ld-linux-aarch64.so.1"))) return QEMU_AARCH64;
  if (process.getuid?.() === 0) {
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "qemu-user-static", "g++-aarch64-linux-gnu"], {
      stdio: "ignore",
      timeout: 10 * 60_000,
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  }
  return hasCommand(QEMU_AARCH64) && existsSync(join(ARM64_SYSROOT, "lib/ld-linux-aarch64.so.1")) ? QEMU_AARCH64 : undefined;
}

/** The launcher's RIDGE_EXEC_WRAPPER that runs an arm64 Node on this host. */
export function qemuWrapper(): string {
  return `${QEMU_AARCH64} -L ${ARM64_SYSROOT}`;
}

