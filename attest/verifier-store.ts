/**
 * The verifier's state in SQLite: nonces it issued (single use, with an expiry) and the last
 * authentic quote's clock per gateway (resetCount/restartCount must not go back, clock must rise);
 * for TPM-mode gateways, the TPM boot (resetCount) the last passing quote's log belonged to and,
 * per PCR, how many events it held and their hash (the verifier's boot binding).
 */
import type Database from "better-sqlite3";
import { statementCache } from "./statement-cache.js";

export type NonceCheck = "ok" | "unknown" | "replayed" | "expired" | "wrong-gateway";

export interface ClockState {
  clock: bigint;
  resetCount: number;
  restartCount: number;
}

/** What the last passing TPM quote of a gateway showed: its TPM boot and, per PCR, its log so far. */
export interface BootBinding {
  resetCount: number;
  /** PCR index → the number of its events and the hash of that sequence. */
  pcrs: Record<string, { count: number; hash: string }>;
  /** Hash of the quoted PCR values. */
  valuesHash: string;
}

export class VerifierStore {
  private readonly q: (sql: string) => Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.q = statementCache(db);
    db.exec(`
      CREATE TABLE IF NOT EXISTS attest_nonce (
        nonce TEXT PRIMARY KEY, gateway TEXT NOT NULL, issued_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, used_at INTEGER);
      CREATE INDEX IF NOT EXISTS attest_nonce_expiry ON attest_nonce(expires_at);
      CREATE TABLE IF NOT EXISTS attest_gateway_state (
        gateway TEXT PRIMARY KEY, clock TEXT NOT NULL, reset_count INTEGER NOT NULL,
        restart_count INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS attest_boot_binding (
        gateway TEXT PRIMARY KEY, reset_count INTEGER NOT NULL, pcrs TEXT NOT NULL,
        values_hash TEXT NOT NULL, updated_at INTEGER NOT NULL);
    `);
  }

  issue(gateway: string, nonceHex: string, now: number, ttlMs: number): void {
    this.q("INSERT INTO attest_nonce (nonce, gateway, issued_at, expires_at) VALUES (?, ?, ?, ?)").run(nonceHex, gateway, now, now + ttlMs);
  }

  /**
   * Use a nonce once. `adopt`: a nonce the verifier did not issue (offline `ridge attest verify
   * --nonce`) is recorded as used now, so a second use is still a replay.
   */
  consume(gateway: string, nonceHex: string, now: number, adopt = false): NonceCheck {
    return this.db.transaction((): NonceCheck => {
      const row = this.q("SELECT gateway, expires_at, used_at FROM attest_nonce WHERE nonce = ?").get(nonceHex) as
        | { gateway: string; expires_at: number; used_at: number | null }
        | undefined;
      if (!row) {
        if (!adopt) return "unknown";
        this.q("INSERT INTO attest_nonce (nonce, gateway, issued_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?)").run(nonceHex, gateway, now, now, now);
        return "ok";
      }
      if (row.used_at !== null) return "replayed";
      if (row.gateway !== gateway) return "wrong-gateway";
      this.q("UPDATE attest_nonce SET used_at = ? WHERE nonce = ?").run(now, nonceHex);
      return now > row.expires_at ? "expired" : "ok";
    })();
  }

  /** Forget used or expired nonces older than `before` (ms). */
  prune(before: number): number {
    return this.q("DELETE FROM attest_nonce WHERE expires_at < ? AND (used_at IS NOT NULL OR expires_at < ?)").run(before, before).changes;
  }

  lastClock(gateway: string): ClockState | undefined {
    const r = this.q("SELECT clock, reset_count, restart_count FROM attest_gateway_state WHERE gateway = ?").get(gateway) as
      | { clock: string; reset_count: number; restart_count: number }
      | undefined;
    return r && { clock: BigInt(r.clock), resetCount: r.reset_count, restartCount: r.restart_count };
  }

  saveClock(gateway: string, s: ClockState, now: number): void {
    this
      .q(
        `INSERT INTO attest_gateway_state (gateway, clock, reset_count, restart_count, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(gateway) DO UPDATE SET clock = excluded.clock, reset_count = excluded.reset_count,
           restart_count = excluded.restart_count, updated_at = excluded.updated_at`,
      )
      .run(gateway, s.clock.toString(), s.resetCount, s.restartCount, now);
  }

  lastBoot(gateway: string): BootBinding | undefined {
    const r = this.q("SELECT reset_count, pcrs, values_hash FROM attest_boot_binding WHERE gateway = ?").get(gateway) as
      | { reset_count: number; pcrs: string; values_hash: string }
      | undefined;
    return r && { resetCount: r.reset_count, pcrs: JSON.parse(r.pcrs) as BootBinding["pcrs"], valuesHash: r.values_hash };
  }

  saveBoot(gateway: string, b: BootBinding, now: number): void {
    this
      .q(
        `INSERT INTO attest_boot_binding (gateway, reset_count, pcrs, values_hash, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(gateway) DO UPDATE SET reset_count = excluded.reset_count, pcrs = excluded.pcrs,
           values_hash = excluded.values_hash, updated_at = excluded.updated_at`,
      )
      .run(gateway, b.resetCount, JSON.stringify(b.pcrs), b.valuesHash, now);
  }
}
