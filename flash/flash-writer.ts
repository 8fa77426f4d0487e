/**
 * Applies a flash plan to the root, idempotently: a file whose bytes and mode are already right is
 * left alone, keys are never replaced, every file is written to a temporary name and renamed (a
 * pulled card leaves either the old or the new file), the slot is assembled beside its final place
 * and swapped in, and the provisioned marker goes last, so an interrupted flash can simply be run
 * again. With `dryRun` it only says what it would do.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { loadOrCreateSoftwareKey } from "../attest/index.js";
import { inRoot } from "./device-layout.js";
import type { FlashPlan, PlanEntry } from "./flash-plan.js";
import { SLOT_MANIFEST_NAME } from "./slot-manifest.js";

export type FlashAction = "create" | "write" | "unchanged" | "kept" | "mode" | "emptied";

export interface FlashStep {
  action: FlashAction;
  /** The device path (inside the root). */
  path: string;
  kind: PlanEntry["kind"];
  mode?: number;
  bytes?: number;
  what: string;
}

function sameBytes(p: string, bytes: Uint8Array): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && st.size === bytes.length && Buffer.from(readFileSync(p)).equals(Buffer.from(bytes));
  } catch {
    return false;
  }
}

function modeOf(p: string): number | undefined {
  try {
    return statSync(p).mode & 0o7777;
  } catch {
    return undefined;
  }
}

function writeAtomic(p: string, bytes: Uint8Array, mode: number): void {
  mkdirSync(dirname(p), { recursive: true });
  const tmp = `${p}.flash-tmp`;
  writeFileSync(tmp, bytes, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, p);
}

function applyEntry(plan: FlashPlan, e: PlanEntry, dryRun: boolean): FlashStep {
  const p = inRoot(plan.root, e.path);
  switch (e.kind) {
    case "dir": {
      if (!existsSync(p)) {
        if (!dryRun) {
          mkdirSync(p, { recursive: true });
          chmodSync(p, e.mode);
        }
        return { action: "create", path: e.path, kind: e.kind, mode: e.mode, what: e.what };
      }
      if (modeOf(p) !== e.mode) {
        if (!dryRun) chmodSync(p, e.mode);
        return { action: "mode", path: e.path, kind: e.kind, mode: e.mode, what: e.what };
      }
      return { action: "unchanged", path: e.path, kind: e.kind, mode: e.mode, what: e.what };
    }
    case "file": {
      const base = { path: e.path, kind: e.kind, mode: e.mode, bytes: e.bytes.length, what: e.what };
      if (existsSync(p) && e.keep) {
        if (modeOf(p) !== e.mode && !dryRun) chmodSync(p, e.mode);
        return { action: "kept", ...base };
      }
      if (sameBytes(p, e.bytes)) {
        if (modeOf(p) === e.mode) return { action: "unchanged", ...base };
        if (!dryRun) chmodSync(p, e.mode);
        return { action: "mode", ...base };
      }
      if (!dryRun) writeAtomic(p, e.bytes, e.mode);
      return { action: "write", ...base };
    }
    case "symlink": {
      let current: string | undefined;
      try {
        current = lstatSync(p).isSymbolicLink() ? readlinkSync(p) : "(not a link)";
      } catch {
        current = undefined;
      }
      if (current === e.target) return { action: "unchanged", path: e.path, kind: e.kind, what: `${e.what} -> ${e.target}` };
      if (!dryRun) {
        mkdirSync(dirname(p), { recursive: true });
        if (current !== undefined) rmSync(p, { recursive: true, force: true });
        symlinkSync(e.target, p);
      }
      return { action: "write", path: e.path, kind: e.kind, what: `${e.what} -> ${e.target}` };
    }
    case "empty-dir": {
      if (!existsSync(p)) {
        if (!dryRun) {
          mkdirSync(p, { recursive: true });
          chmodSync(p, e.mode);
        }
        return { action: "create", path: e.path, kind: e.kind, mode: e.mode, what: e.what };
      }
      if (readdirSync(p).length === 0) return { action: "unchanged", path: e.path, kind: e.kind, mode: e.mode, what: e.what };
      if (!dryRun) for (const f of readdirSync(p)) rmSync(join(p, f), { recursive: true, force: true });
      return { action: "emptied", path: e.path, kind: e.kind, mode: e.mode, what: e.what };
    }
    case "users": {
      // A real OS root has /etc/passwd: make the user now (the unit's ExecStartPre makes it too).
      // A bare folder (a root still to be imaged) gets it on the device.
      const passwd = join(plan.root, "etc", "passwd");
      const there = existsSync(passwd) && readFileSync(passwd, "utf8").split("\n").some((l) => l.startsWith(`${e.user}:`));
      if (there) return { action: "unchanged", path: "/etc/passwd", kind: e.kind, what: e.what };
      if (!existsSync(passwd)) return { action: "unchanged", path: "/etc/passwd", kind: e.kind, what: `${e.what}: no /etc/passwd in the root, made at the first start` };
      if (dryRun) return { action: "create", path: "/etc/passwd", kind: e.kind, what: e.what };
      const r = spawnSync("systemd-sysusers", [`--root=${plan.root}`, p], { encoding: "utf8" });
      if (r.status !== 0) return { action: "unchanged", path: "/etc/passwd", kind: e.kind, what: `${e.what}: systemd-sysusers ${r.error ? "is not installed here" : `failed (${r.stderr.trim()})`}, made at the first start` };
      return { action: "create", path: "/etc/passwd", kind: e.kind, what: e.what };
    }
    case "attest-key": {
      // attest owns the file name, format (PKCS#8 PEM) and mode: runtime/attestation loads exactly this file.
      if (dryRun) {
        const there = existsSync(p) && readdirSync(p).some((f) => /^ak-.+\.key$/.test(f));
        return { action: there ? "kept" : "create", path: posix.join(e.path, "ak-*.key"), kind: e.kind, mode: 0o600, what: e.what };
      }
      const k = loadOrCreateSoftwareKey(p, e.alg);
      chmodSync(k.path, 0o600);
      return { action: k.created ? "create" : "kept", path: posix.join(e.path, basename(k.path)), kind: e.kind, mode: 0o600, what: e.what };
    }
    case "slot": {
      const bytes = plan.slotBytes;
      const base = { path: e.path, kind: e.kind, mode: 0o755, bytes, what: `${e.what}, ${e.slot.files.length + 1} files` };
      if (sameBytes(join(p, SLOT_MANIFEST_NAME), e.manifestBytes) && e.slot.files.every((f) => existsSync(join(p, f.rel)))) return { action: "unchanged", ...base };
      if (dryRun) return { action: existsSync(p) ? "write" : "create", ...base };
      const fresh = `${p}.flash-new`;
      const old = `${p}.flash-old`;
      rmSync(fresh, { recursive: true, force: true });
      rmSync(old, { recursive: true, force: true });
      mkdirSync(fresh, { recursive: true });
      const made = new Set<string>();
      for (const f of e.slot.files) {
        const dest = join(fresh, f.rel);
        const d = dirname(dest);
        if (!made.has(d)) {
          mkdirSync(d, { recursive: true });
          made.add(d);
        }
        if (f.content) writeFileSync(dest, f.content);
        else copyFileSync(f.src!, dest);
        chmodSync(dest, f.mode);
      }
      writeFileSync(join(fresh, SLOT_MANIFEST_NAME), e.manifestBytes, { mode: 0o644 });
      chmodSync(fresh, 0o755);
      const existed = existsSync(p);
      if (existed) renameSync(p, old);
      renameSync(fresh, p);
      rmSync(old, { recursive: true, force: true });
      return { action: existed ? "write" : "create", ...base };
    }
  }
}

export function applyFlashPlan(plan: FlashPlan, opts: { dryRun?: boolean } = {}): FlashStep[] {
  const steps: FlashStep[] = [];
  const dryRun = opts.dryRun ?? false;
  // Marker last and only after everything else: a half-flashed root is not "provisioned".
  const marker = plan.entries.filter((e) => e.path === plan.layout.provisionedMarker);
  const rest = plan.entries.filter((e) => e.path !== plan.layout.provisionedMarker);
  if (!dryRun) {
    const m = inRoot(plan.root, plan.layout.provisionedMarker);
    // Re-flashing (--force): drop the marker first, so an interruption leaves an unprovisioned root.
    if (existsSync(m) && marker.some((e) => e.kind === "file" && !sameBytes(m, e.bytes))) unlinkSync(m);
  }
  for (const e of [...rest, ...marker]) steps.push(applyEntry(plan, e, dryRun));
  return steps;
}

export function formatStep(s: FlashStep, dryRun: boolean): string {
  const verb = dryRun && s.action !== "unchanged" && s.action !== "kept" ? `would ${s.action}` : s.action;
  const mode = s.mode !== undefined ? s.mode.toString(8).padStart(4, "0") : "    ";
  const size = s.bytes !== undefined ? ` (${s.bytes} bytes)` : "";
  return `  ${verb.padEnd(15)} ${mode}  ${s.path}  ${s.what}${size}`;
}
