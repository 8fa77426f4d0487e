/**
 * Builds the pipeline's nodes from their definitions: an operator per `operators` entry, a sink
 * per `sinks` entry. An `uplink` sink is the queue's (`UplinkSink`: the batch goes to the queue
 * in the sink's priority class); the others are local (log, file, MQTT topic).
 */
import { isAbsolute, join } from "node:path";
import type { Logger, Priority } from "../../core/index.js";
import type { OperatorConfig, SinkConfig } from "./config.js";
import type { ModelProvider } from "./model-provider.js";
import type { Operator } from "./operator.js";
import { DedupOperator } from "./operators/dedup.js";
import { FilterOperator } from "./operators/filter.js";
import { MapOperator } from "./operators/map.js";
import { ModelOperator } from "./operators/model.js";
import { RouteOperator } from "./operators/route.js";
import { WindowOperator } from "./operators/window.js";
import type { ClosableSink } from "./sink-runner.js";
import { createFileSink } from "./sinks/file-sink.js";
import { createLogSink } from "./sinks/log-sink.js";
import { createMqttSink } from "./sinks/mqtt-sink.js";

export interface NodeFactoryOptions {
  models: ModelProvider;
  /** The uplink queue's sink for a priority class (undefined: each event by its kind). */
  uplink(priority: Priority | undefined): ClosableSink;
  log: Logger;
  dataDir: string;
  gatewayId: string;
  /** Override the sink factory (tests, benchmarks): undefined builds the configured sink. */
  sinkOverride?: (name: string, def: SinkConfig) => ClosableSink | undefined;
}

export class NodeFactory {
  constructor(private readonly o: NodeFactoryOptions) {}

  operator(name: string, def: OperatorConfig): Operator {
    switch (def.kind) {
      case "filter":
        return new FilterOperator(def.spec);
      case "map":
        return new MapOperator(def.spec);
      case "dedup":
        return new DedupOperator(def.spec);
      case "window":
        return new WindowOperator(name, def.spec, def.aggregate);
      case "route":
        return new RouteOperator(def.spec);
      case "model":
        return new ModelOperator(def.spec, this.o.models);
    }
  }

  sink(name: string, def: SinkConfig): ClosableSink {
    const custom = this.o.sinkOverride?.(name, def);
    if (custom) return custom;
    switch (def.kind) {
      case "uplink":
        return this.o.uplink(def.spec.priority);
      case "log":
        return createLogSink(name, def.spec.level, this.o.log);
      case "file":
        return createFileSink({ path: isAbsolute(def.spec.path) ? def.spec.path : join(this.o.dataDir, def.spec.path), rotateBytes: def.spec.rotate.size, keep: def.spec.rotate.keep, fsync: def.spec.fsync });
      case "mqtt":
        return createMqttSink({ ...def.spec, clientId: `ridge-${this.o.gatewayId}-${name}`.slice(0, 64) });
    }
  }
}
