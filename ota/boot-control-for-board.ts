/** The BootControl a board file asks for (boards are data: no board names in code). */
import { isAbsolute, join } from "node:path";
import type { Board } from "../boards/index.js";
import type { BootControl } from "./boot-control.js";
import { FileBootControl } from "./file-boot-control.js";
import { NvBootCtrlBootControl } from "./nvbootctrl-boot-control.js";
import { UbootEnvBootControl } from "./uboot-env-boot-control.js";
import type { Slot } from "./update-machine.js";

export interface BootControlContext {
  dataDir: string;
  /** The slot the launcher started, from RIDGE_SLOT. */
  booted?: Slot;
  /** Tool overrides (tests, unusual installs). */
  tools?: { fwPrintenv?: string; fwSetenv?: string; nvbootctrl?: string };
  env?: NodeJS.ProcessEnv;
}

export function bootControlFor(board: Board, ctx: BootControlContext): BootControl {
  const bc = board.bootControl;
  const booted = ctx.booted ? { booted: ctx.booted } : {};
  switch (bc.adapter) {
    case "file":
      return new FileBootControl({ file: join(ctx.dataDir, "boot", "bootctl.json"), attempts: bc.attempts, ...booted });
    case "uboot-env":
      return new UbootEnvBootControl({
        attempts: bc.attempts,
        ...booted,
        ...(ctx.tools?.fwPrintenv ? { fwPrintenv: ctx.tools.fwPrintenv } : {}),
        ...(ctx.tools?.fwSetenv ? { fwSetenv: ctx.tools.fwSetenv } : {}),
        ...(ctx.env ? { env: ctx.env } : {}),
      });
    case "nvbootctrl":
      return new NvBootCtrlBootControl({ attempts: bc.attempts, ...(ctx.tools?.nvbootctrl ? { tool: ctx.tools.nvbootctrl } : {}), ...(ctx.env ? { env: ctx.env } : {}) });
  }
}

/** A slot's directory: the board's path, under the data directory when relative. */
export function slotDir(board: Board, dataDir: string, slot: Slot): string {
  const p = board.slots[slot];
  return isAbsolute(p) ? p : join(dataDir, p);
}

/** RIDGE_SLOT as set by the launcher. */
export function bootedSlotFromEnv(env: NodeJS.ProcessEnv = process.env): Slot | undefined {
  const v = env.RIDGE_SLOT;
  return v === "a" || v === "b" ? v : undefined;
}
