/** The one shape that flows from drivers through the pipeline to sinks and the uplink. */
export interface Event {
  /** Stable and unique: `${device}/${seq}` or a ULID; the dedup and at-least-once key. */
  id: string;
  /** Event time, ms since the epoch (the device clock where known). */
  ts: number;
  /** Logical device id from config. */
  device: string;
  kind: "telemetry" | "state" | "alarm" | (string & {});
  payload: Record<string, unknown>;
  meta?: Record<string, string>;
}

export type Priority = "alarm" | "state" | "telemetry";
