import type { Clock } from "./clock.js";
import type { Event } from "./event.js";
import type { Logger } from "./log.js";

/** What a driver may use from its host. Drivers know nothing of the pipeline beyond `emit`. */
export interface DriverContext {
  /** Hand an event to the pipeline. Returns false under backpressure: slow down (stop reading, stretch a poll). */
  emit(event: Event): boolean;
  /** Resolves when the pipeline can accept events again. */
  drained(): Promise<void>;
  clock: Clock;
  log: Logger;
  /** Count something per device for /metrics (bad frames, timeouts, drops). */
  count(metric: string, labels: Record<string, string>, by?: number): void;
  /** The data directory for persistent driver state. */
  dataDir: string;
  /**
   * Report a failure the driver cannot recover from by itself (its port vanished, its socket
   * died): the supervisor stops it and starts it again with exponential backoff.
   */
  fail?(error: unknown): void;
}

export interface DriverHealth {
  up: boolean;
  detail?: string;
}

/** One instance per configured bus or endpoint. */
export interface Driver {
  readonly name: string;
  start(ctx: DriverContext): Promise<void>;
  stop(): Promise<void>;
  write?(device: string, point: string, value: unknown): Promise<void>;
  /**
   * Hand a device its whole desired twin document (drivers whose devices take a document rather
   * than point writes: MQTT publishes it retained on the device's desired topic). The device
   * reports back through its own state events.
   */
  desired?(device: string, doc: { version: number; state: Record<string, unknown> }): Promise<void>;
  health(): DriverHealth;
  /** Extra status for `ridge status` (poll cadence, registrations...). */
  status?(): Record<string, unknown>;
}
