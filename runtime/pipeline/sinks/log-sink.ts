/** `log: { level }`: each event as one structured log line (debugging a topology on site). */
import type { Event, Logger } from "../../../core/index.js";
import type { ClosableSink } from "../sink-runner.js";

export function createLogSink(name: string, level: "debug" | "info" | "warn", log: Logger): ClosableSink {
  return {
    async accept(batch: Event[]) {
      for (const event of batch) log[level]({ sink: name, event }, "pipeline event");
    },
  };
}
