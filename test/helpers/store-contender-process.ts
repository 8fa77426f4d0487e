/**
 * Another process on a running gateway's database, for the store-contention fault test.
 *   node --import tsx store-contender-process.ts read  DATA_DIR MS   the read-only code of `ridge ota status` / `ridge attest audit`, in a loop
 *   node --import tsx store-contender-process.ts write DATA_DIR MS   a foreign writer holding the write lock 20 ms at a time (as `ridge ota install` would)
 * Prints one JSON line: { loops, errors: [codes…] }.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { AuditLog } from "../../attest/audit-log.js";
import { UpdateStore } from "../../ota/update-store.js";
import { lastRecovery, openReadOnly } from "../../runtime/store/db.js";

const [mode, dataDir, msArg] = process.argv.slice(2);
const end = Date.now() + Number(msArg ?? 5000);
const errors: string[] = [];
let loops = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const code = (e: unknown) => (e && typeof e === "object" && "code" in e ? String((e as { code: unknown }).code) : String(e));

while (Date.now() < end) {
  try {
    if (mode === "read") {
      const db = openReadOnly(dataDir!);
      try {
        const ota = new UpdateStore(db);
        ota.load();
        ota.history(10);
        ota.floor("runtime");
        const audit = new AuditLog(db);
        audit.list({ limit: 10 });
        audit.head();
        lastRecovery(db);
        db.prepare("SELECT count(*) FROM uplink_rows_telemetry").get();
      } finally {
        db.close();
      }
    } else {
      const db = new Database(join(dataDir!, "ridgeline.db"), { fileMustExist: true });
      db.pragma("busy_timeout = 5000");
      try {
        db.exec("BEGIN IMMEDIATE");
        db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('test.foreign-writer', ?)").run(String(loops));
        const until = Date.now() + 20;
        while (Date.now() < until);
        db.exec("COMMIT");
      } finally {
        db.close();
      }
      await sleep(5);
    }
    loops++;
  } catch (e) {
    errors.push(code(e));
    await sleep(5);
  }
}
console.log(JSON.stringify({ loops, errors }));
