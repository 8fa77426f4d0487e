/** Twin documents in SQLite: desired (cloud wins by version), reported (device wins; merged offline changes with per-key versions). */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock } from "../../core/clock.js";
import { openDatabase } from "../../runtime/store/db.js";
import { TwinStore } from "../../runtime/store/twin-store.js";
import { tempDir } from "../../peers/process.js";

function mk() {
  const t = tempDir();
  const db = openDatabase(t.dir);
  return { store: new TwinStore(db, new FakeClock(0)), db, t, done: () => { db.close(); t.cleanup(); } };
}

test("desired: a newer version applies and returns what changed; an older or equal one is stale", () => {
  const { store, done } = mk();
  assert.equal(store.applyDesired("p", 3, { a: 1, b: "x" }), { a: 1, b: "x" });
  assert.equal(store.applyDesired("p", 4, { a: 1, b: "y", c: null }), { b: "y" });
  assert.is(store.applyDesired("p", 4, { a: 9 }), undefined);
  assert.is(store.applyDesired("p", 2, { a: 9 }), undefined);
  assert.equal(store.read("p", "desired").state, { a: 1, b: "y" });
  assert.equal(store.applyDesired("p", 5, { b: null }), { b: null });
  assert.equal(store.read("p", "desired").state, { a: 1 });
  done();
});

test("a key named __proto__ (from a cloud document) is stored and read back as a plain key", () => {
  const { store, done } = mk();
  const desired = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
  const changed = store.applyDesired("p", 1, desired)!;
  assert.equal(Object.keys(changed), ["__proto__", "a"]);
  assert.is(Object.getPrototypeOf(changed), Object.prototype);
  const st = store.read("p", "desired").state;
  assert.is(Object.getPrototypeOf(st), Object.prototype);
  assert.is(JSON.stringify(st), '{"__proto__":{"polluted":true},"a":1}');
  store.updateReported("p", JSON.parse('{"__proto__":5}') as Record<string, unknown>);
  assert.is(JSON.stringify(store.unpublished()[0]!.state), '{"__proto__":5}');
  done();
});

test("reported: each change bumps the version; unchanged values do not; unpublished changes merge per key", () => {
  const { store, done } = mk();
  assert.is(store.updateReported("p", { flow: 1, temp: 4 }), 1);
  assert.is(store.updateReported("p", { flow: 1 }), undefined);
  assert.is(store.updateReported("p", { flow: 2 }), 2);
  assert.equal(store.unpublished(), [{ device: "p", version: 2, state: { flow: 2, temp: 4 }, versions: { flow: 2, temp: 1 } }]);
  store.markPublished("p", 2);
  assert.equal(store.unpublished(), []);
  store.updateReported("p", { temp: 5 });
  assert.equal(store.unpublished(), [{ device: "p", version: 3, state: { temp: 5 }, versions: { temp: 3 } }]);
  assert.is(store.unpublishedCount(), 1);
  done();
});

test("documents survive a reopen", () => {
  const t = tempDir();
  let db = openDatabase(t.dir);
  new TwinStore(db, new FakeClock(0)).updateReported("p", { x: [1, 2] });
  db.close();
  db = openDatabase(t.dir);
  const s = new TwinStore(db, new FakeClock(0));
  assert.equal(s.document("p").reported, { version: 1, state: { x: [1, 2] }, versions: { x: 1 } });
  assert.equal(s.devices(), ["p"]);
  db.close();
  t.cleanup();
});

test.run();
