/**
 * Prepared statements keyed by their SQL text, prepared on first use and reused after: the audit
 * log and the verifier store run the same few statements per quote, and better-sqlite3's prepare
 * is the costly step.
 */
import type Database from "better-sqlite3";

export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const stmts = new Map<string, Database.Statement>();
  return (sql) => {
    let st = stmts.get(sql);
    if (!st) stmts.set(sql, (st = db.prepare(sql)));
    return st;
  };
}
