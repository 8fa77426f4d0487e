// Placeholder until the pipeline issue lands: forwards every event to the `uplink` sink.
import type { Event } from "../../core/event.js";
import type { Component } from "../component.js";
import type { Services } from "../services.js";

export interface PipelineComponent extends Component {
  /** Hand one event from a driver to the pipeline; false under backpressure. */
  ingest(event: Event): boolean;
  /** Resolves when ingest would accept again. */
  drained(): Promise<void>;
}

export async function createPipelineComponent(s: Services): Promise<PipelineComponent> {
  let pending: Event[] = [];
  let flushing: Promise<void> | undefined;
  const flush = async () => {
    while (pending.length) {
      const batch = pending;
      pending = [];
      await s.sinks.get("uplink")?.accept(batch);
    }
    flushing = undefined;
  };
  return {
    name: "pipeline",
    dependsOn: ["uplink"],
    async start() {},
    async stop() {
      await (flushing ?? flush());
    },
    health: () => ({ up: true }),
    ingest(e) {
      pending.push(e);
      flushing ??= flush();
      return pending.length < 10_000;
    },
    drained: async () => void (await flushing),
  };
}
