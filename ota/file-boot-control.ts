/**
 * The `file` BootControl (runtime-level A/B, used by `sim` and boards without OS-level A/B): the
 * order and attempt counts in one small JSON file, replaced atomically (write, fsync, rename,
 * fsync the directory), so a power cut leaves either the old or the new state, never a mix.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { RidgeError } from "../core/index.js";
import { bootLogic, type BootControl, type BootState } from "./boot-control.js";
import { fsyncDir } from "./bundle-extractor.js";
import type { Slot } from "./update-machine.js";

export interface FileBootControlOptions {
  file: string;
  attempts: number;
  /** The slot the launcher started (RIDGE_SLOT), when known. */
  booted?: Slot;
}

export class FileBootControl implements BootControl {
  readonly adapter = "file" as const;
  constructor(private readonly opts: FileBootControlOptions) {}

  state(): BootState {
    if (!existsSync(this.opts.file)) return { order: ["a", "b"], left: { a: this.opts.attempts, b: 0 } };
    try {
      const v = JSON.parse(readFileSync(this.opts.file, "utf8")) as Partial<BootState>;
      const order = Array.isArray(v.order) ? v.order.filter((s): s is Slot => s === "a" || s === "b") : [];
      for (const s of ["a", "b"] as const) if (!order.includes(s)) order.push(s);
      const n = (x: unknown) => (typeof x === "number" && Number.isInteger(x) && x >= 0 ? x : 0);
      return { order, left: { a: n(v.left?.a), b: n(v.left?.b) } };
    } catch {
      throw new RidgeError("E_OTA_BOOTCTL_STATE", `${this.opts.file} is not a boot state file`);
    }
  }

  private write(st: BootState): void {
    mkdirSync(dirname(this.opts.file), { recursive: true });
    const tmp = `${this.opts.file}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, JSON.stringify(st));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.opts.file);
    fsyncDir(dirname(this.opts.file));
  }

  active(): Slot {
    return this.opts.booted ?? this.state().order[0]!;
  }
  markPending(slot: Slot, attempts: number): void {
    this.write(bootLogic.pending(this.state(), slot, attempts));
  }
  markGood(): void {
    this.write(bootLogic.good(this.state(), this.active(), this.opts.attempts));
  }
  markBad(slot: Slot): void {
    this.write(bootLogic.bad(this.state(), slot));
  }
  bootAttemptsLeft(slot?: Slot): number {
    return this.state().left[slot ?? this.active()];
  }
  chooseBoot(): { slot: Slot; attemptsLeft: number } | undefined {
    const c = bootLogic.choose(this.state());
    if (!c) return undefined;
    this.write(c.next);
    return { slot: c.slot, attemptsLeft: c.next.left[c.slot] };
  }
}
