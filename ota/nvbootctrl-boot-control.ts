/**
 * The `nvbootctrl` BootControl (NVIDIA Jetson, L4T): the boot loader keeps the retry counters and
 * falls back by itself; Ridgeline asks `nvbootctrl -t rootfs` which slot runs
 * (`get-current-slot`, 0 = A, 1 = B), switches with `set-active-boot-slot N`, and confirms with
 * `mark-boot-successful`. Retry counts are read from `dump-slots-info` where the L4T release
 * prints them (`retry_count: N`).
 */
import { execFileSync } from "node:child_process";
import { RidgeError, errorMessage } from "../core/index.js";
import type { BootControl, BootState } from "./boot-control.js";
import { otherSlot, type Slot } from "./update-machine.js";

export interface NvBootCtrlOptions {
  attempts: number;
  tool?: string;
  env?: NodeJS.ProcessEnv;
}

export class NvBootCtrlBootControl implements BootControl {
  readonly adapter = "nvbootctrl" as const;
  constructor(private readonly opts: NvBootCtrlOptions) {}

  private run(args: string[]): string {
    const tool = this.opts.tool ?? "nvbootctrl";
    try {
      return execFileSync(tool, ["-t", "rootfs", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000, env: this.opts.env ?? process.env });
    } catch (e) {
      throw new RidgeError("E_OTA_BOOTCTL_TOOL", `${tool} ${args.join(" ")} failed: ${errorMessage(e)}`);
    }
  }

  active(): Slot {
    const out = this.run(["get-current-slot"]).trim();
    if (out === "0") return "a";
    if (out === "1") return "b";
    throw new RidgeError("E_OTA_BOOTCTL_TOOL", `nvbootctrl get-current-slot printed "${out}"`);
  }

  private info(): { left: Record<Slot, number>; unbootable: Set<Slot> } {
    const out = this.run(["dump-slots-info"]);
    const left: Record<Slot, number> = { a: this.opts.attempts, b: this.opts.attempts };
    const unbootable = new Set<Slot>();
    for (const line of out.split("\n")) {
      const m = /slot:\s*(\d)/.exec(line);
      if (!m) continue;
      const slot: Slot = m[1] === "0" ? "a" : "b";
      const r = /retry_count:\s*(\d+)/.exec(line);
      if (r) left[slot] = Number(r[1]);
      if (/status:\s*unbootable/.test(line) || /bootable:\s*0/.test(line)) unbootable.add(slot);
    }
    return { left, unbootable };
  }

  state(): BootState {
    const cur = this.active();
    const { left, unbootable } = this.info();
    for (const s of unbootable) left[s] = 0;
    return { order: [cur, otherSlot(cur)], left };
  }

  /** The boot loader keeps its own retry budget (set in the BCT); `attempts` is not ours to set. */
  markPending(slot: Slot, _attempts?: number): void {
    this.run(["set-active-boot-slot", slot === "a" ? "0" : "1"]);
  }
  markGood(): void {
    this.run(["mark-boot-successful"]);
  }
  markBad(slot: Slot): void {
    if (this.active() === slot) this.run(["set-active-boot-slot", slot === "a" ? "1" : "0"]);
  }
  bootAttemptsLeft(slot?: Slot): number {
    return this.state().left[slot ?? this.active()];
  }
  /** The boot loader already chose and counted: report the running slot. */
  chooseBoot(): { slot: Slot; attemptsLeft: number } | undefined {
    const slot = this.active();
    return { slot, attemptsLeft: this.bootAttemptsLeft(slot) };
  }
}
