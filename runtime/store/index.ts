/** runtime/store: the one SQLite database and what lives in it (uplink queue, twins, model cache). */
export { openDatabase, checkpoint, lastRecovery, isCorruptionError, type DatabaseRecovery, type OpenDatabaseOptions } from "./db.js";
export { UplinkQueue, PRIORITIES, priorityOf, type QueueOptions, type QueueStats, type QueuedRow } from "./queue.js";
export { TwinStore, type TwinDocument, type ReportedDelta } from "./twin-store.js";
export { ModelCache, type ModelSource, type ActiveModel } from "./model-cache.js";
