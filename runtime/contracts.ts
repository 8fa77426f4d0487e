/**
 * The few contracts runtime subsystems share; the composition root (runtime/gateway.ts) builds
 * each subsystem with the ones it needs as constructor arguments: the pipeline's sink, downlink
 * dispatch, and the measurement fan-out the attestation log listens on.
 */
import type { Event } from "../core/index.js";

/** The pipeline's sink contract: backpressure by promise; resolve only once the batch is safe. */
export interface Sink {
  accept(batch: Event[]): Promise<void>;
}

/** Messages from the cloud (`ridge/<id>/down/#`) dispatched by topic suffix to whoever registered. */
export type DownlinkHandler = (topicSuffix: string, payload: Buffer) => Promise<void> | void;

export interface Downlink {
  on(prefix: string, handler: DownlinkHandler): void;
}

/** Something that changed what the gateway runs (config reload, model switch, OTA commit). */
export interface Measurement {
  kind: "config" | "model" | "runtime" | "driver";
  name: string;
  data: Uint8Array;
}

export type MeasureHook = (what: Measurement) => void;

/** Tells whoever listens (the attestation log, when configured) that something measured changed. */
export class Measurements {
  private readonly hooks = new Set<MeasureHook>();

  /** Returns the function that stops listening. */
  listen(hook: MeasureHook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  changed(what: Measurement): void {
    for (const h of this.hooks) h(what);
  }

  get listeners(): number {
    return this.hooks.size;
  }
}
