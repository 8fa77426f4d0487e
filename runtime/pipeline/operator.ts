/**
 * What every pipeline operator implements. Operators are synchronous over a batch (the model
 * operator may return a promise for ONNX); they never see queues or backpressure, the engine does.
 */
import type { Event } from "../../core/index.js";

/** An event in flight with the monotonic time (ms) it entered the pipeline, for end-to-end latency. */
export interface Envelope {
  e: Event;
  t: number;
}

export interface Outputs {
  /** The main output. */
  main: Envelope[];
  /** The `late` side output (windows). */
  late: Envelope[];
  /** Named outputs (route targets). */
  ports: Map<string, Envelope[]>;
}

export function newOutputs(): Outputs {
  return { main: [], late: [], ports: new Map() };
}

export type Carry = { ok: true; fresh: string[] } | { ok: false; reason: string };

export interface Operator {
  /** Events the operator consumed without emitting (filtered out, duplicates). */
  dropped: number;
  /** Events sent to the late side output. */
  late: number;
  process(batch: Envelope[], out: Outputs, now: number): void | Promise<void>;
  /** Processing-time housekeeping (idle watermarks); `now` is the clock's wall time. */
  tick?(now: number, out: Outputs): void;
  /** A JSON-serialisable copy of the operator's state for checkpoints. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /**
   * After a reload changed this operator's definition: take over `prev`'s state where the change
   * is compatible (`fresh`: parts that start empty), else say why it is lost.
   */
  carryFrom?(prev: Operator): Carry;
  status?(): Record<string, unknown>;
  close?(): void;
}
