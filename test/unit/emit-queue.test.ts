/** core/emit-queue: the driver side of DriverContext.emit backpressure, against a scripted context. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmitQueue, FakeClock, silentLogger, type DriverContext, type Event } from "../../core/index.js";

function scripted() {
  const accepted: string[] = [];
  let accepting = true;
  let release: () => void = () => {};
  const ctx: DriverContext = {
    // like a stream's write(): the event is taken, false asks the driver to hold back
    emit: (e) => (accepted.push(e.id), accepting),
    drained: () => new Promise<void>((r) => (release = r)),
    clock: new FakeClock(0),
    log: silentLogger,
    count: () => {},
    dataDir: "/nonexistent",
  };
  const stats = { refused: 0, dropped: 0 };
  const q = new EmitQueue({ capacity: 3, onRefused: () => stats.refused++, onDropped: (n) => (stats.dropped += n) });
  q.open(ctx);
  return {
    q,
    accepted,
    stats,
    pushBack: () => (accepting = false),
    drain: async () => {
      accepting = true;
      release();
      await new Promise((r) => setImmediate(r));
    },
  };
}

const ev = (id: string): Event => ({ id, ts: 0, device: "d", kind: "telemetry", payload: {} });

test("refused once: later events are held, the oldest dropped past the capacity, the rest flushed in order", async () => {
  const s = scripted();
  s.q.emit(ev("a"));
  s.pushBack();
  s.q.emit(ev("b")); // taken, with a "hold back": the episode starts
  assert.ok(s.q.pushedBack);
  for (const id of ["c", "d", "e", "f"]) s.q.emit(ev(id));
  assert.is(s.q.size, 3);
  assert.equal(s.stats, { refused: 1, dropped: 1 });
  const accepting = s.q.whenAccepting();
  await s.drain();
  assert.ok(await accepting);
  assert.equal(s.accepted, ["a", "b", "d", "e", "f"]);
  assert.not.ok(s.q.pushedBack);
});

test("close(): held events are dropped and counted, a pending drained() brings nothing back", async () => {
  const s = scripted();
  s.pushBack();
  s.q.emit(ev("x"));
  s.q.emit(ev("y"));
  const accepting = s.q.whenAccepting();
  s.q.close();
  assert.is(s.stats.dropped, 1);
  await s.drain();
  assert.is(await accepting, false);
  assert.equal(s.accepted, ["x"]);
  s.q.emit(ev("z"));
  assert.equal(s.accepted, ["x"], "nothing is emitted after close");
});

test.run();
