/**
 * The model cache: content-addressed blobs `<data>/models/sha256/<digest>`, one symlink per model
 * `<data>/models/current/<name>` → `../sha256/<digest>`, and an index in SQLite (`model_version`).
 *
 * Activation is atomic: a new symlink is written beside the old one and renamed over it (rename(2)
 * replaces atomically), then the index is updated in one transaction. The previous `keep - 1`
 * versions stay for rollback; older blobs no model refers to are deleted. Interrupted downloads
 * live in `models/partial/<digest>.part` and are resumed.
 *
 * It serves the pipeline's `model` operator (through cloud/model-provider.ts) as the pipeline ModelProvider: `current(name)` and `onSwitch`.
 */
import type Database from "better-sqlite3";
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { RidgeError, type Clock } from "../../core/index.js";

export interface ActiveModel {
  name: string;
  version: string;
  digest: string;
  /** The blob (read-only). */
  path: string;
  length: number;
}

/** What the pipeline's `model` operator needs from a model source. */
export interface ModelSource {
  current(name: string): ActiveModel | undefined;
  /** Called after `name` switched version; returns an unsubscribe function. */
  onSwitch(listener: (name: string) => void): () => void;
}

export interface ModelRow {
  name: string;
  version: string;
  digest: string;
  length: number;
  activatedAt: number | null;
  active: boolean;
}

export class ModelCache implements ModelSource {
  readonly root: string;
  private readonly listeners = new Set<(name: string) => void>();

  constructor(
    dataDir: string,
    readonly db: Database.Database,
    private readonly opts: { keep: number; clock: Clock },
  ) {
    this.root = join(dataDir, "models");
    for (const d of ["sha256", "current", "partial"]) mkdirSync(join(this.root, d), { recursive: true });
    db.exec(`CREATE TABLE IF NOT EXISTS model_version (name TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL, length INTEGER NOT NULL,
      activated_at INTEGER, active INTEGER NOT NULL DEFAULT 0, manifest TEXT NOT NULL, PRIMARY KEY (name, version))`);
  }

  blobPath(digest: string): string {
    return join(this.root, "sha256", digest);
  }

  partialPath(digest: string): string {
    return join(this.root, "partial", `${digest}.part`);
  }

  has(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  /** Move a verified download into the blob store. */
  commitBlob(digest: string, file: string): string {
    const to = this.blobPath(digest);
    renameSync(file, to);
    return to;
  }

  /** Make `version` of `name` the active one: switch the symlink atomically, then record it. */
  activate(name: string, version: string, digest: string, length: number, manifest: unknown): void {
    if (!this.has(digest)) throw new RidgeError("E_MODEL_MISSING_BLOB", `model ${name}@${version}: blob ${digest} is not in the cache`);
    const link = join(this.root, "current", name);
    const tmp = `${link}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(join("..", "sha256", digest), tmp);
    renameSync(tmp, link);
    this.db.transaction(() => {
      this.db.prepare("UPDATE model_version SET active = 0 WHERE name = ?").run(name);
      this.db
        .prepare("INSERT INTO model_version (name, version, digest, length, activated_at, active, manifest) VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (name, version) DO UPDATE SET active = 1, activated_at = excluded.activated_at, digest = excluded.digest")
        .run(name, version, digest, length, this.opts.clock.now(), JSON.stringify(manifest));
    }).immediate();
    this.prune(name);
    for (const l of this.listeners) l(name);
  }

  /** Back to the previously active version of `name`; false when there is none. */
  rollback(name: string): boolean {
    const prev = this.db.prepare("SELECT version, digest, length, manifest FROM model_version WHERE name = ? AND active = 0 AND activated_at IS NOT NULL ORDER BY activated_at DESC LIMIT 1").get(name) as { version: string; digest: string; length: number; manifest: string } | undefined;
    if (!prev || !this.has(prev.digest)) return false;
    this.activate(name, prev.version, prev.digest, prev.length, JSON.parse(prev.manifest) as unknown);
    return true;
  }

  /** Keep the `keep` most recently activated versions of `name`; delete blobs no kept version refers to. */
  private prune(name: string): void {
    const rows = this.db.prepare("SELECT version, digest FROM model_version WHERE name = ? ORDER BY active DESC, activated_at DESC").all(name) as { version: string; digest: string }[];
    const drop = rows.slice(this.opts.keep);
    if (!drop.length) return;
    const del = this.db.prepare("DELETE FROM model_version WHERE name = ? AND version = ?");
    for (const r of drop) del.run(name, r.version);
    const used = new Set((this.db.prepare("SELECT digest FROM model_version").all() as { digest: string }[]).map((r) => r.digest));
    for (const r of drop) if (!used.has(r.digest)) rmSync(this.blobPath(r.digest), { force: true });
  }

  current(name: string): ActiveModel | undefined {
    const row = this.db.prepare("SELECT version, digest, length FROM model_version WHERE name = ? AND active = 1").get(name) as { version: string; digest: string; length: number } | undefined;
    if (!row) return undefined;
    return { name, version: row.version, digest: row.digest, path: this.blobPath(row.digest), length: row.length };
  }

  /** The active blob's bytes. */
  read(name: string): Uint8Array | undefined {
    const c = this.current(name);
    return c ? readFileSync(c.path) : undefined;
  }

  /** The digest `models/current/<name>` points at (what a reader of the file sees). */
  linkTarget(name: string): string | undefined {
    try {
      return readlinkSync(join(this.root, "current", name)).split("/").pop();
    } catch {
      return undefined;
    }
  }

  onSwitch(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  activeVersions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const r of this.db.prepare("SELECT name, version FROM model_version WHERE active = 1 ORDER BY name").all() as { name: string; version: string }[]) out[r.name] = r.version;
    return out;
  }

  list(): ModelRow[] {
    return (this.db.prepare("SELECT name, version, digest, length, activated_at, active FROM model_version ORDER BY name, activated_at DESC").all() as { name: string; version: string; digest: string; length: number; activated_at: number | null; active: number }[]).map((r) => ({
      name: r.name,
      version: r.version,
      digest: r.digest,
      length: r.length,
      activatedAt: r.activated_at,
      active: r.active === 1,
    }));
  }

  partialSize(digest: string): number {
    try {
      return statSync(this.partialPath(digest)).size;
    } catch {
      return 0;
    }
  }
}
