/**
 * The `uboot-env` BootControl: RAUC's U-Boot variables `BOOT_ORDER="A B"` and `BOOT_A_LEFT` /
 * `BOOT_B_LEFT`, read with `fw_printenv` and written with ONE `fw_setenv --script` call per change
 * (several calls in a row can brick a device on power loss: SWUpdate's docs). The lines in each
 * script are ordered so that a tool dying half-way still leaves a bootable choice (the attempts of
 * a new slot before the order that names it; the order away from a bad slot before its attempts).
 * Every write is read back; an environment that was never initialised (the Mender field failure)
 * is initialised and verified before any update is allowed.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RidgeError, errorMessage } from "../core/index.js";
import { bootLogic, type BootControl, type BootState } from "./boot-control.js";
import type { Slot } from "./update-machine.js";

export interface UbootEnvOptions {
  attempts: number;
  fwPrintenv?: string;
  fwSetenv?: string;
  /** fw_env.config to use (`-c`), when not the default. */
  config?: string;
  booted?: Slot;
  env?: NodeJS.ProcessEnv;
}

const NAMES: Record<Slot, string> = { a: "A", b: "B" };

export class UbootEnvBootControl implements BootControl {
  readonly adapter = "uboot-env" as const;
  constructor(private readonly opts: UbootEnvOptions) {}

  private run(tool: string, args: string[]): string {
    try {
      return execFileSync(tool, [...(this.opts.config ? ["-c", this.opts.config] : []), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000, env: this.opts.env ?? process.env });
    } catch (e) {
      throw new RidgeError("E_OTA_BOOTCTL_TOOL", `${tool} ${args.join(" ")} failed: ${errorMessage(e)}`);
    }
  }

  /** fw_printenv exits non-zero when a variable is not defined: read what it printed anyway. */
  private read(): Record<string, string> {
    const tool = this.opts.fwPrintenv ?? "fw_printenv";
    const r = spawnSync(tool, [...(this.opts.config ? ["-c", this.opts.config] : []), "BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT"], { encoding: "utf8", timeout: 10_000, env: this.opts.env ?? process.env });
    if (r.error) throw new RidgeError("E_OTA_BOOTCTL_TOOL", `${tool}: ${r.error.message}`);
    const out = r.stdout ?? "";
    const vars: Record<string, string> = {};
    for (const line of out.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
    }
    return vars;
  }

  private parse(vars: Record<string, string>): BootState | undefined {
    const order = (vars.BOOT_ORDER ?? "")
      .trim()
      .split(/\s+/)
      .map((x) => (x === "A" ? "a" : x === "B" ? "b" : undefined));
    if (order.length === 0 || order.some((x) => x === undefined)) return undefined;
    const left = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
    const a = left(vars.BOOT_A_LEFT);
    const b = left(vars.BOOT_B_LEFT);
    if (a === undefined || b === undefined) return undefined;
    const o = order as Slot[];
    for (const s of ["a", "b"] as const) if (!o.includes(s)) o.push(s);
    return { order: o, left: { a, b } };
  }

  /** Initialise a blank environment (and verify it), or throw E_OTA_BOOTCTL_ENV. */
  init(): BootState {
    const cur = this.parse(this.read());
    if (cur) return cur;
    const st: BootState = { order: ["a", "b"], left: { a: this.opts.attempts, b: 0 } };
    this.write(st, ["BOOT_A_LEFT", "BOOT_B_LEFT", "BOOT_ORDER"]);
    return st;
  }

  state(): BootState {
    const st = this.parse(this.read());
    if (!st) throw new RidgeError("E_OTA_BOOTCTL_ENV", "the U-Boot environment has no valid BOOT_ORDER / BOOT_A_LEFT / BOOT_B_LEFT: run init first");
    return st;
  }

  /** One fw_setenv --script call with the variables in `lines` order, then read back. */
  private write(st: BootState, lines: ("BOOT_ORDER" | "BOOT_A_LEFT" | "BOOT_B_LEFT")[]): void {
    const vals = { BOOT_ORDER: st.order.map((s) => NAMES[s]).join(" "), BOOT_A_LEFT: String(st.left.a), BOOT_B_LEFT: String(st.left.b) };
    const dir = mkdtempSync(join(tmpdir(), "ridge-fwenv-"));
    try {
      const script = join(dir, "env.txt");
      writeFileSync(script, lines.map((l) => `${l} ${vals[l]}\n`).join(""));
      this.run(this.opts.fwSetenv ?? "fw_setenv", ["--script", script]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const back = this.parse(this.read());
    if (!back || back.order.join() !== st.order.join() || back.left.a !== st.left.a || back.left.b !== st.left.b)
      throw new RidgeError("E_OTA_BOOTCTL_ENV", "the U-Boot environment does not read back what was written");
  }

  active(): Slot {
    return this.opts.booted ?? this.state().order[0]!;
  }
  markPending(slot: Slot, attempts: number): void {
    const left = slot === "a" ? "BOOT_A_LEFT" : "BOOT_B_LEFT";
    this.write(bootLogic.pending(this.init(), slot, attempts), [left, "BOOT_ORDER"]);
  }
  markGood(): void {
    const slot = this.active();
    this.write(bootLogic.good(this.state(), slot, this.opts.attempts), ["BOOT_ORDER", slot === "a" ? "BOOT_A_LEFT" : "BOOT_B_LEFT"]);
  }
  markBad(slot: Slot): void {
    this.write(bootLogic.bad(this.state(), slot), ["BOOT_ORDER", slot === "a" ? "BOOT_A_LEFT" : "BOOT_B_LEFT"]);
  }
  bootAttemptsLeft(slot?: Slot): number {
    return this.state().left[slot ?? this.active()];
  }
  chooseBoot(): { slot: Slot; attemptsLeft: number } | undefined {
    const c = bootLogic.choose(this.init());
    if (!c) return undefined;
    this.write(c.next, [c.slot === "a" ? "BOOT_A_LEFT" : "BOOT_B_LEFT"]);
    return { slot: c.slot, attemptsLeft: c.next.left[c.slot] };
  }
}
