/**
 * What the composition root (runtime/gateway.ts) hands to every runtime subsystem. Subsystems
 * export a factory `createXxx(services): Component` and register their control API routes and
 * metrics through it.
 */
import type Database from "better-sqlite3";
import type { Logger } from "pino";
import type { Clock, Random, Driver, Event } from "../core/index.js";
import type { Board } from "../boards/index.js";
import type { GatewayConfig } from "./config/schema.js";
import type { Metrics } from "./metrics.js";
import type { Routes } from "./control/routes.js";

/** The pipeline's sink contract: backpressure by promise; resolve only once the batch is safe. */
export interface Sink {
  accept(batch: Event[]): Promise<void>;
}

/** Messages from the cloud (`ridge/<id>/down/#`) dispatched by topic suffix to whoever registered. */
export type DownlinkHandler = (topicSuffix: string, payload: Buffer) => Promise<void> | void;

export interface Downlink {
  on(prefix: string, handler: DownlinkHandler): void;
}

/** Something that changed what the gateway runs (config reload, model switch, OTA commit): re-measured by attestation. */
export type MeasureHook = (what: { kind: "config" | "model" | "runtime" | "driver"; name: string; data: Uint8Array }) => void;

export interface Services {
  readonly config: GatewayConfig;
  /** The path of the config file, when there is one (reload reads it again). */
  readonly configFile: string | undefined;
  readonly board: Board;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The one SQLite database (WAL): queue, twin, model index, OTA state, audit trail, checkpoints. */
  readonly db: Database.Database;
  readonly routes: Routes;
  /** Configured drivers by name (for commands and twin writes through Driver.write). */
  readonly drivers: ReadonlyMap<string, Driver>;
  readonly downlink: Downlink;
  /** Named sinks other subsystems provide to the pipeline (`uplink` from the cloud sync). */
  readonly sinks: Map<string, Sink>;
  /** Listeners told when something measured changes (the attestation log). */
  readonly measureHooks: MeasureHook[];
}
