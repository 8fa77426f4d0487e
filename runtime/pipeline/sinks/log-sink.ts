/** `log: { level }`: each event as one structured log line (debugging a topology on site). */
import type { Event } from "../../../core/index.js";
import type { ClosableSink } from "../sink-runner.js";

export interface EventLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export function createLogSink(name: string, level: "debug" | "info" | "warn", log: EventLogger): ClosableSink {
  return {
    async accept(batch: Event[]) {
      for (const event of batch) log[level]({ sink: name, event }, "pipeline event");
    },
  };
}
