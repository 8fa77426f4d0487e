/**
 * A gateway started by the launcher (`ridge boot`, RIDGE_SLOT set) without an `ota:` section
 * still spends one boot attempt per start: with no update agent, nothing would give it back, and
 * after `attempts` starts every start would be a "last resort". This component confirms the
 * running slot the way the agent does (`confirmSlot`): once the runtime has been up for the
 * default health `upFor` (120 s), the slot goes first in the order with a full budget. A slot on
 * trial (the update store says installing, pending or trial, e.g. after `ridge ota install`) is
 * never confirmed here: only the update agent's health check may commit it.
 * Loaded only without `ota:` (the update component does this itself when configured).
 */
import type Database from "better-sqlite3";
import { errorMessage, type Clock, type Logger, type Timer } from "../../core/index.js";
import type { Board } from "../../boards/index.js";
import { DEFAULT_HEALTH_UP_FOR_MS, bootControlFor, bootedSlotFromEnv, confirmSlot, holdsBootOrder, readUpdateState, type BootControl } from "../../ota/index.js";
import type { Component, ComponentHealth } from "../component.js";

export interface SlotConfirmOptions {
  /** Default: the board's adapter for the slot in RIDGE_SLOT. */
  bootControl?: BootControl;
  env?: NodeJS.ProcessEnv;
  upForMs?: number;
}

export interface SlotConfirmDeps {
  board: Board;
  dataDir: string;
  db: Database.Database;
  clock: Clock;
  log: Logger;
}

export function createSlotConfirmComponent(s: SlotConfirmDeps, opts: SlotConfirmOptions = {}): Component | undefined {
  const booted = bootedSlotFromEnv(opts.env ?? process.env);
  if (!booted) return undefined;
  const log = s.log;
  const bc = opts.bootControl ?? bootControlFor(s.board, { dataDir: s.dataDir, booted });
  const attempts = s.board.bootControl.attempts;
  let timer: Timer | undefined;
  let outcome = "waiting";
  const confirm = () => {
    try {
      const st = readUpdateState(s.db);
      if (confirmSlot(bc, st, attempts)) {
        outcome = "confirmed";
        log.info({ slot: booted, attempts }, "boot: slot confirmed (first in the order, full boot attempts)");
      } else outcome = holdsBootOrder(st) ? `left to the update (${st.s})` : "confirmed";
    } catch (e) {
      outcome = `failed: ${errorMessage(e)}`;
      log.warn({ err: errorMessage(e) }, "boot: could not confirm the running slot");
    }
  };
  return {
    name: "boot-confirm",
    dependsOn: [],
    async start() {
      timer = s.clock.setTimeout(confirm, opts.upForMs ?? DEFAULT_HEALTH_UP_FOR_MS);
    },
    async stop() {
      timer?.cancel();
    },
    health(): ComponentHealth {
      return { up: true };
    },
    status() {
      return { slot: booted, confirm: outcome };
    },
  };
}
