/**
 * BootControl: which slot boots, how many attempts a new slot has, and which one is good. The
 * board file chooses the adapter (`file`, `uboot-env`, `nvbootctrl`); the runtime never asks
 * which board it is on.
 *
 * The `file` and `uboot-env` adapters share RAUC's model: an ordered list of slots and a
 * per-slot count of attempts left. Whoever boots (the launcher `ridge boot`, or the boot loader's
 * script) takes the first slot in the order with attempts left and spends one *before* starting
 * it, in one write; the runtime resets the count once its health check passes (markGood). A slot
 * that keeps failing runs out of attempts and the next slot in the order boots: the rollback
 * needs nothing from the failing slot.
 */
import type { Slot } from "./update-machine.js";

export type { Slot } from "./update-machine.js";

export interface BootState {
  order: Slot[];
  left: Record<Slot, number>;
}

export interface BootControl {
  readonly adapter: "file" | "uboot-env" | "nvbootctrl";
  /** The slot running now. */
  active(): Slot;
  /** Try `slot` first from the next boot, with `attempts` tries; the active slot stays the fallback. */
  markPending(slot: Slot, attempts: number): void;
  /** The active slot is good: first in the order, with a full budget. */
  markGood(): void;
  /** Give up on `slot`: the other slot first, `slot` with no attempts. */
  markBad(slot: Slot): void;
  bootAttemptsLeft(slot?: Slot): number;
  /** The launcher's side: choose the slot to start and spend one attempt (one atomic write). */
  chooseBoot(): { slot: Slot; attemptsLeft: number } | undefined;
  state(): BootState;
}

/** Pure RAUC-style decisions shared by the order/attempts adapters. */
export const bootLogic = {
  choose(st: BootState): { slot: Slot; next: BootState } | undefined {
    for (const slot of st.order) {
      if (st.left[slot] > 0) return { slot, next: { order: st.order, left: { ...st.left, [slot]: st.left[slot] - 1 } } };
    }
    return undefined;
  },
  pending(st: BootState, slot: Slot, attempts: number): BootState {
    return { order: [slot, ...st.order.filter((s) => s !== slot)], left: { ...st.left, [slot]: attempts } };
  },
  good(st: BootState, slot: Slot, attempts: number): BootState {
    return { order: [slot, ...st.order.filter((s) => s !== slot)], left: { ...st.left, [slot]: attempts } };
  },
  bad(st: BootState, slot: Slot): BootState {
    return { order: [...st.order.filter((s) => s !== slot), slot], left: { ...st.left, [slot]: 0 } };
  },
};
