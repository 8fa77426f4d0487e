/**
 * Operator state and queued events in SQLite (`pipeline_state`, `pipeline_queued`), written in one
 * transaction so a checkpoint is a consistent cut of the whole pipeline: after `kill -9` the run
 * resumes from the last cut (events after it are re-sent by their sources and deduplicated).
 */
import type Database from "better-sqlite3";
import type { Event } from "../../core/index.js";

export interface PipelineSnapshot {
  ops: { name: string; hash: string; state: unknown }[];
  queued: { name: string; events: Event[] }[];
}

export class CheckpointStore {
  private readonly insState;
  private readonly insQueued;
  private readonly saveTx;
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS pipeline_state (name TEXT PRIMARY KEY, hash TEXT NOT NULL, state TEXT NOT NULL, saved_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS pipeline_queued (name TEXT PRIMARY KEY, events TEXT NOT NULL, saved_at INTEGER NOT NULL);`);
    this.insState = db.prepare("INSERT INTO pipeline_state (name, hash, state, saved_at) VALUES (?, ?, ?, ?)");
    this.insQueued = db.prepare("INSERT INTO pipeline_queued (name, events, saved_at) VALUES (?, ?, ?)");
    this.saveTx = db.transaction((snap: PipelineSnapshot, at: number) => {
      db.exec("DELETE FROM pipeline_state; DELETE FROM pipeline_queued;");
      for (const o of snap.ops) this.insState.run(o.name, o.hash, JSON.stringify(o.state), at);
      for (const q of snap.queued) this.insQueued.run(q.name, JSON.stringify(q.events), at);
    });
  }

  save(snap: PipelineSnapshot, at: number): void {
    this.saveTx(snap, at);
  }

  load(): PipelineSnapshot {
    const ops = (this.db.prepare("SELECT name, hash, state FROM pipeline_state").all() as { name: string; hash: string; state: string }[]).map((r) => ({ name: r.name, hash: r.hash, state: JSON.parse(r.state) as unknown }));
    const queued = (this.db.prepare("SELECT name, events FROM pipeline_queued").all() as { name: string; events: string }[]).map((r) => ({ name: r.name, events: JSON.parse(r.events) as Event[] }));
    return { ops, queued };
  }
}
