/**
 * The queue's expected state, mirrored outside the database: `<db>.queue-ledger` holds how many
 * events were ever committed to the uplink queue (`appended`) and how many are waiting (`depth`).
 * The same `appended` is kept in the database's meta table, in the commit's transaction.
 *
 * SQLite cannot notice a database that lost its last commits without an error: a file truncated
 * to 0 bytes opens as an empty database, and a WAL whose frames fail their checksums is silently
 * cut at the first bad frame. Comparing the two copies at open turns that into "N events lost".
 *
 * The ledger is written after the commit (write to a temporary file, then rename: never torn), so
 * after kill -9 it can only lag behind the database, never run ahead of it.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";

export interface QueueLedger {
  appended: number;
  depth: number;
}

export function ledgerPath(dbPath: string): string {
  return `${dbPath}.queue-ledger`;
}

export function readLedger(dbPath: string): QueueLedger | undefined {
  try {
    const v = JSON.parse(readFileSync(ledgerPath(dbPath), "utf8")) as Partial<QueueLedger>;
    if (typeof v.appended !== "number" || typeof v.depth !== "number" || !(v.appended >= 0) || !(v.depth >= 0)) return undefined;
    return { appended: v.appended, depth: v.depth };
  } catch {
    return undefined;
  }
}

export function writeLedger(dbPath: string, l: QueueLedger): void {
  const p = ledgerPath(dbPath);
  writeFileSync(`${p}.tmp`, JSON.stringify(l));
  renameSync(`${p}.tmp`, p);
}

/**
 * Events lost when the database knows fewer commits than the ledger: the events of the missing
 * commits, except those already acknowledged (acks are FIFO, so at most `ledger.depth` of them
 * can still have been waiting).
 */
export function eventsMissing(ledger: QueueLedger, dbAppended: number): number {
  if (ledger.appended <= dbAppended) return 0;
  return Math.min(ledger.appended - dbAppended, ledger.depth);
}
