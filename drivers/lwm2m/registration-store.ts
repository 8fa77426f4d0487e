/**
 * Registrations persisted in a small SQLite file under `<dataDir>/lwm2m/<driver>.db`, so that a
 * restarted gateway still knows its clients (address, port, lifetime, objects) and can send them
 * requests and re-establish observations without waiting for their next Register.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Link } from "./link-format.js";

export interface Registration {
  id: string;
  endpoint: string;
  address: string;
  port: number;
  lifetime: number;
  binding: string;
  version: string;
  /** alternate root path (`</lwm2m>;rt="oma.lwm2m"`), "" for the default "/" */
  rootPath: string;
  links: Link[];
  objects: string[];
  registeredAt: number;
  updatedAt: number;
  expiresAt: number;
}

interface Row {
  id: string;
  endpoint: string;
  doc: string;
}

export class RegistrationStore {
  private readonly db: Database.Database;
  private readonly putStmt: Database.Statement<[string, string, string]>;
  private readonly delStmt: Database.Statement<[string]>;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec("CREATE TABLE IF NOT EXISTS registrations (id TEXT PRIMARY KEY, endpoint TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)");
    this.putStmt = this.db.prepare("INSERT INTO registrations (id, endpoint, doc) VALUES (?, ?, ?) ON CONFLICT(endpoint) DO UPDATE SET id = excluded.id, doc = excluded.doc");
    this.delStmt = this.db.prepare("DELETE FROM registrations WHERE id = ?");
  }

  load(): Registration[] {
    const rows = this.db.prepare("SELECT id, endpoint, doc FROM registrations").all() as Row[];
    const out: Registration[] = [];
    for (const r of rows) {
      try {
        out.push(JSON.parse(r.doc) as Registration);
      } catch {
        this.delStmt.run(r.id);
      }
    }
    return out;
  }

  put(reg: Registration): void {
    this.putStmt.run(reg.id, reg.endpoint, JSON.stringify(reg));
  }

  delete(id: string): void {
    this.delStmt.run(id);
  }

  close(): void {
    this.db.close();
  }
}
