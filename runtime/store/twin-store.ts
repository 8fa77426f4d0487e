/**
 * Device twins in SQLite: per device a `desired` and a `reported` document, each versioned.
 * - desired: the cloud wins. A document with a version not above the stored one is stale and ignored.
 * - reported: the device (gateway) wins. Every local change bumps the document version and stamps
 *   the changed keys with it; keys not yet acknowledged by the cloud stay `published = 0`, so changes
 *   made offline are merged (latest value per key, with its version) and sent on reconnect.
 */
import type Database from "better-sqlite3";
import { setOwn, type Clock } from "../../core/index.js";

export type TwinSide = "desired" | "reported";

export interface TwinDocument {
  version: number;
  state: Record<string, unknown>;
  /** Version at which each key last changed. */
  versions: Record<string, number>;
}

export interface ReportedDelta {
  device: string;
  version: number;
  state: Record<string, unknown>;
  versions: Record<string, number>;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class TwinStore {
  private readonly st;

  constructor(
    readonly db: Database.Database,
    private readonly clock: Clock,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS twin_doc (device TEXT NOT NULL, side TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (device, side));
      CREATE TABLE IF NOT EXISTS twin_key (device TEXT NOT NULL, side TEXT NOT NULL, key TEXT NOT NULL, value TEXT, version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL, published INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (device, side, key))`);
    this.st = {
      docVersion: db.prepare("SELECT version FROM twin_doc WHERE device = ? AND side = ?"),
      setDoc: db.prepare("INSERT OR REPLACE INTO twin_doc (device, side, version) VALUES (?, ?, ?)"),
      keys: db.prepare("SELECT key, value, version FROM twin_key WHERE device = ? AND side = ? AND value IS NOT NULL"),
      key: db.prepare("SELECT value FROM twin_key WHERE device = ? AND side = ? AND key = ?"),
      setKey: db.prepare("INSERT OR REPLACE INTO twin_key (device, side, key, value, version, updated_at, published) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      unpublished: db.prepare("SELECT device, key, value, version FROM twin_key WHERE side = 'reported' AND published = 0 ORDER BY device, key"),
      markPublished: db.prepare("UPDATE twin_key SET published = 1 WHERE device = ? AND side = 'reported' AND version <= ? AND published = 0"),
      devices: db.prepare("SELECT DISTINCT device FROM twin_doc ORDER BY device"),
      unpublishedCount: db.prepare("SELECT count(*) AS n FROM twin_key WHERE side = 'reported' AND published = 0"),
    };
  }

  version(device: string, side: TwinSide): number {
    return (this.st.docVersion.get(device, side) as { version: number } | undefined)?.version ?? 0;
  }

  read(device: string, side: TwinSide): TwinDocument {
    const rows = this.st.keys.all(device, side) as { key: string; value: string; version: number }[];
    const state: Record<string, unknown> = {};
    const versions: Record<string, number> = {};
    for (const r of rows) {
      setOwn(state, r.key, JSON.parse(r.value) as unknown);
      setOwn(versions, r.key, r.version);
    }
    return { version: this.version(device, side), state, versions };
  }

  /** A desired document from the cloud. Returns the keys that changed, or undefined when stale. `null` deletes a key. */
  applyDesired(device: string, version: number, state: Record<string, unknown>): Record<string, unknown> | undefined {
    const tx = this.db.transaction(() => {
      if (version <= this.version(device, "desired")) return undefined;
      const changed: Record<string, unknown> = {};
      const now = this.clock.now();
      for (const [k, v] of Object.entries(state)) {
        const old = this.st.key.get(device, "desired", k) as { value: string | null } | undefined;
        const oldV = old?.value == null ? null : (JSON.parse(old.value) as unknown);
        if (same(oldV, v ?? null)) continue;
        this.st.setKey.run(device, "desired", k, v === null || v === undefined ? null : JSON.stringify(v), version, now, 1);
        setOwn(changed, k, v ?? null);
      }
      this.st.setDoc.run(device, "desired", version);
      return changed;
    });
    return tx.immediate();
  }

  /** Local reported changes (device wins). Returns the new document version, or undefined when nothing changed. */
  updateReported(device: string, changes: Record<string, unknown>): number | undefined {
    const tx = this.db.transaction(() => {
      const diff: [string, unknown][] = [];
      for (const [k, v] of Object.entries(changes)) {
        const old = this.st.key.get(device, "reported", k) as { value: string | null } | undefined;
        const oldV = old?.value == null ? null : (JSON.parse(old.value) as unknown);
        if (!same(oldV, v ?? null)) diff.push([k, v ?? null]);
      }
      if (diff.length === 0) return undefined;
      const version = this.version(device, "reported") + 1;
      const now = this.clock.now();
      for (const [k, v] of diff) this.st.setKey.run(device, "reported", k, v === null ? null : JSON.stringify(v), version, now, 0);
      this.st.setDoc.run(device, "reported", version);
      return version;
    });
    return tx.immediate();
  }

  /** Reported changes not yet acknowledged by the cloud, merged per device (latest value per key). */
  unpublished(): ReportedDelta[] {
    const rows = this.st.unpublished.all() as { device: string; key: string; value: string | null; version: number }[];
    const by = new Map<string, ReportedDelta>();
    for (const r of rows) {
      let d = by.get(r.device);
      if (!d) by.set(r.device, (d = { device: r.device, version: this.version(r.device, "reported"), state: {}, versions: {} }));
      setOwn(d.state, r.key, r.value === null ? null : (JSON.parse(r.value) as unknown));
      setOwn(d.versions, r.key, r.version);
    }
    return [...by.values()];
  }

  markPublished(device: string, upToVersion: number): void {
    this.st.markPublished.run(device, upToVersion);
  }

  document(device: string): { device: string; desired: TwinDocument; reported: TwinDocument } {
    return { device, desired: this.read(device, "desired"), reported: this.read(device, "reported") };
  }

  devices(): string[] {
    return (this.st.devices.all() as { device: string }[]).map((r) => r.device);
  }

  unpublishedCount(): number {
    return (this.st.unpublishedCount.get() as { n: number }).n;
  }

  /** The highest reported version across devices (the "twin version" in status). */
  gatewayVersion(): number {
    return (this.db.prepare("SELECT coalesce(max(version), 0) AS v FROM twin_doc").get() as { v: number }).v;
  }
}
