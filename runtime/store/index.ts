/** runtime/store: the one SQLite database and what lives in it (uplink queue, twins, model cache). */
export { openDatabase, openReadOnly, checkpoint, lastRecovery, isCorruptionError, isIoError, isMissingTable, type DatabaseRecovery, type OpenDatabaseOptions } from "./db.js";
export { UplinkQueue, UplinkSink, PRIORITIES, priorityOf, type QueueReader, type CommitWatcher, type QueueOptions, type QueueStats, type QueuedRow, type StoreFault, type QueueLoss } from "./queue.js";
export { AgeClock, systemBootInfo, type BootInfo, type AgeAnchor } from "./age-clock.js";
export { TwinStore, type TwinDocument, type ReportedDelta } from "./twin-store.js";
export { ModelCache, type ModelSource, type ActiveModel } from "./model-cache.js";
export { QueueComponent, type QueueComponentOptions } from "./queue-component.js";
