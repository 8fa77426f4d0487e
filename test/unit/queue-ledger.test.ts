// The queue ledger (runtime/store/queue-ledger.ts): two slots written in turn in place; a torn or
// damaged slot falls back to the other (the state before it); the earlier one-object format still reads.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LedgerWriter, ledgerPath, readLedger, writeLedger } from "../../runtime/store/queue-ledger.js";
import { tempDir } from "../../peers/process.js";

test("each write is read back; the file stays two 64-byte slots", () => {
  const t = tempDir();
  const db = join(t.dir, "ridgeline.db");
  const w = new LedgerWriter(db);
  for (let i = 1; i <= 5; i++) {
    w.write({ appended: i * 100, depth: i * 10 });
    assert.equal(readLedger(db), { appended: i * 100, depth: i * 10 });
  }
  assert.is(readFileSync(ledgerPath(db)).length, 128);

  t.cleanup();
});

test("a torn slot: the other slot's state (one write behind) is read, never a mixture", () => {
  const t = tempDir();
  const db = join(t.dir, "ridgeline.db");
  const w = new LedgerWriter(db);
  w.write({ appended: 100, depth: 10 });
  w.write({ appended: 200, depth: 20 });
  w.write({ appended: 300, depth: 30 });

  const buf = readFileSync(ledgerPath(db));
  // the newest write (n = 3) went to slot 1: tear it half way, then flip a digit instead
  const torn = Buffer.from(buf);
  torn.fill(0x20, 64 + 20, 128);
  writeFileSync(ledgerPath(db), torn);
  assert.equal(readLedger(db), { appended: 200, depth: 20 });
  const flipped = Buffer.from(buf);
  const at = flipped.indexOf("300", 64);
  flipped[at] = "9".charCodeAt(0);
  writeFileSync(ledgerPath(db), flipped);
  assert.equal(readLedger(db), { appended: 200, depth: 20 }, "a checksum mismatch is a torn slot");
  t.cleanup();
});

test("a writer continues the write numbers of the file it finds (a restart never reads an older slot)", () => {
  const t = tempDir();
  const db = join(t.dir, "ridgeline.db");
  const a = new LedgerWriter(db);
  for (let i = 1; i <= 3; i++) a.write({ appended: i, depth: 0 });

  const b = new LedgerWriter(db);
  b.write({ appended: 4, depth: 1 });
  b.write({ appended: 5, depth: 2 });
  assert.equal(readLedger(db), { appended: 5, depth: 2 });

  t.cleanup();
});

test("the earlier format (one JSON object) is read and replaced by the first write", () => {
  const t = tempDir();
  const db = join(t.dir, "ridgeline.db");
  writeFileSync(ledgerPath(db), JSON.stringify({ appended: 42, depth: 7 }));
  assert.equal(readLedger(db), { appended: 42, depth: 7 });
  writeLedger(db, { appended: 43, depth: 8 });
  assert.equal(readLedger(db), { appended: 43, depth: 8 });
  writeFileSync(ledgerPath(db), "garbage");
  assert.is(readLedger(db), undefined);
  t.cleanup();
});

test.run();
