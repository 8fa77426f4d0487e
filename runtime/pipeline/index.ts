/** The local event pipeline: YAML topology, operators, windows, backpressure, checkpoints, hot reload. */
export { Pipeline, DriverIntake, type PipelineOptions, type ReloadResult } from "./pipeline.js";
export { pipelineConfig, type PipelineConfig } from "./config.js";
export { compileExpression, compilePredicate, compileAggregate, ExpressionError } from "./expression.js";
export { FileModelProvider, loadedModel, type LoadedModel, type ModelProvider } from "./model-provider.js";
export { Engine } from "./engine.js";
