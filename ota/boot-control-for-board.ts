/**
 * The BootControl a board file asks for (boards are data: no board names in code). The caller
 * passes the board's data in (`SlotBoard`, which a `boards/` Board satisfies): ota knows boot
 * control adapters, not board files.
 */
import { isAbsolute, join } from "node:path";
import { RidgeError, errorMessage } from "../core/index.js";
import type { BootControl } from "./boot-control.js";
import { FileBootControl } from "./file-boot-control.js";
import { NvBootCtrlBootControl } from "./nvbootctrl-boot-control.js";
import { UbootEnvBootControl } from "./uboot-env-boot-control.js";
import type { Slot } from "./update-machine.js";

/** The boot control adapters a board file can choose (boards/schema.ts `bootControl.adapter`). */
export type BootAdapter = "file" | "uboot-env" | "nvbootctrl";

/** What ota needs of a board: its name, where its A/B slots live and how it switches them. */
export interface SlotBoard {
  name: string;
  slots: { a: string; b: string };
  bootControl: { adapter: BootAdapter; attempts: number };
}

export interface BootControlContext {
  dataDir: string;
  /** The slot the launcher started, from RIDGE_SLOT. */
  booted?: Slot;
  /** Tool overrides (tests, unusual installs). */
  tools?: { fwPrintenv?: string; fwSetenv?: string; nvbootctrl?: string };
  env?: NodeJS.ProcessEnv;
}

export function bootControlFor(board: Pick<SlotBoard, "bootControl">, ctx: BootControlContext): BootControl {
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
export function slotDir(board: Pick<SlotBoard, "slots">, dataDir: string, slot: Slot): string {
  const p = board.slots[slot];
  return isAbsolute(p) ? p : join(dataDir, p);
}

/** RIDGE_SLOT as set by the launcher. */
export function bootedSlotFromEnv(env: NodeJS.ProcessEnv = process.env): Slot | undefined {
  const v = env.RIDGE_SLOT;
  return v === "a" || v === "b" ? v : undefined;
}

const TOOLS: Record<BootAdapter, { tools: string[]; install: string } | undefined> = {
  file: undefined,
  "uboot-env": {
    tools: ["fw_printenv", "fw_setenv"],
    install: "install the U-Boot environment tools (Debian/Ubuntu/Raspberry Pi OS: `apt install libubootenv-tool`) and describe where the environment lives in /etc/fw_env.config (see boards/README.md)",
  },
  nvbootctrl: { tools: ["nvbootctrl"], install: "install L4T's nvbootctrl (Debian package nvidia-l4t-tools, part of JetPack)" },
};

/**
 * A boot control failure that means the board lacks what its adapter needs (the tool is not
 * installed, or fw_printenv has no /etc/fw_env.config): one error naming what to install,
 * E_BOARD_TOOL_MISSING (category board). Anything else: undefined (report it as it is).
 */
export function bootToolMissing(board: Pick<SlotBoard, "name" | "bootControl">, e: unknown): RidgeError | undefined {
  const need = TOOLS[board.bootControl.adapter];
  if (!need) return undefined;
  const msg = errorMessage(e);
  const tool = need.tools.find((t) => new RegExp(`spawn(Sync)? \\S*${t} ENOENT`).test(msg));
  const noConfig = board.bootControl.adapter === "uboot-env" && /fw_env\.config|Configuration file wrong or corrupted/.test(msg);
  if (!tool && !noConfig) return undefined;
  const what = tool ? `${tool} is not installed (not found on PATH)` : "the U-Boot environment tools have no usable /etc/fw_env.config";
  return new RidgeError("E_BOARD_TOOL_MISSING", `board ${board.name} keeps its boot slots with ${board.bootControl.adapter}, but ${what}: ${need.install}; then systemctl restart ridgeline`, {
    cause: e,
    detail: { adapter: board.bootControl.adapter, ...(tool ? { tool } : { file: "/etc/fw_env.config" }) },
  });
}
