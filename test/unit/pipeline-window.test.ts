/**
 * Window semantics against a brute-force reference (fast-check): random streams with out-of-order,
 * duplicate and late events and random window specs; plus idle watermarks, allowed-lateness updates,
 * the late side output, the auto bound and checkpoint/restore equivalence at random cut points.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import type { Event } from "../../core/event.js";
import { pipelineConfig, type WindowSpec } from "../../runtime/pipeline/config.js";
import { newOutputs, type Envelope, type Outputs } from "../../runtime/pipeline/operator.js";
import { DedupOperator } from "../../runtime/pipeline/operators/dedup.js";
import { WindowOperator } from "../../runtime/pipeline/operators/window.js";

const AGG = { n: "count()", sum: "sum(payload.v)", min: "min(payload.v)", max: "max(payload.v)", avg: "avg(payload.v)", first: "first(payload.v)", last: "last(payload.v)", sd: "stddev(payload.v)", p50: "p50(payload.v)" };

function spec(w: Record<string, unknown>): WindowSpec {
  const p = pipelineConfig.parse({ sources: { s: { from: "x" } }, operators: { w: { window: w, aggregate: AGG, input: "s" } }, sinks: { o: { log: {}, input: "w" } } });
  const op = p.operators.w!;
  if (op.kind !== "window") throw new Error("not a window");
  return op.spec;
}

interface In {
  dev: number;
  ts: number;
  v: number;
  seq: number;
}
const toEvent = (x: In): Event => ({ id: `d${x.dev}/${x.seq}`, ts: x.ts, device: `d${x.dev}`, kind: "telemetry", payload: { v: x.v } });

// ------------------------------------------------------------------ the reference

interface RefWin {
  key: string;
  start: number;
  end: number;
  evs: { ts: number; v: number; arrival: number }[];
}

function reference(stream: Event[], w: WindowSpec, bound: number): { wins: Map<string, RefWin>; late: Set<string> } {
  const seen = new Set<string>();
  const maxTs = new Map<string, number>();
  const wm = new Map<string, number>();
  const wins = new Map<string, RefWin>();
  const sessionEvents = new Map<string, { ts: number; v: number; arrival: number }[]>();
  const late = new Set<string>();
  const L = w.lateness;
  stream.forEach((e, arrival) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    const key = e.device;
    const before = wm.get(key) ?? -Infinity;
    const item = { ts: e.ts, v: e.payload.v as number, arrival };
    const windowsOf: [number, number][] = [];
    if (w.tumbling) for (let s = -10 * w.tumbling; s < 1e6; s += w.tumbling) if (s <= e.ts && e.ts < s + w.tumbling) windowsOf.push([s, s + w.tumbling]);
    if (w.sliding) for (let s = -10 * w.sliding.size; s < 1e6; s += w.sliding.hop) if (s <= e.ts && e.ts < s + w.sliding.size) windowsOf.push([s, s + w.sliding.size]);
    if (w.session) {
      if (e.ts + L <= before) late.add(e.id);
      else sessionEvents.set(key, [...(sessionEvents.get(key) ?? []), item]);
    }
    for (const [s, end] of windowsOf) {
      if (end + L <= before) {
        late.add(e.id);
        continue;
      }
      const id = `w/${key}/${s}-${end}`;
      const rw = wins.get(id) ?? { key, start: s, end, evs: [] };
      rw.evs.push(item);
      wins.set(id, rw);
    }
    const m = Math.max(maxTs.get(key) ?? -Infinity, e.ts);
    maxTs.set(key, m);
    wm.set(key, Math.max(before, m - bound));
  });
  if (w.session)
    for (const [key, evs] of sessionEvents) {
      const sorted = [...evs].sort((a, b) => a.ts - b.ts);
      let cur: RefWin | undefined;
      for (const x of sorted) {
        if (cur && x.ts < cur.end) {
          cur.evs.push(x);
          cur.end = Math.max(cur.end, x.ts + w.session.gap);
        } else {
          if (cur) wins.set(`w/${key}/${cur.start}-${cur.end}`, cur);
          cur = { key, start: x.ts, end: x.ts + w.session.gap, evs: [x] };
        }
      }
      if (cur) wins.set(`w/${key}/${cur.start}-${cur.end}`, cur);
    }
  return { wins, late };
}

function refAggregates(r: RefWin): Record<string, number> {
  const vs = r.evs.map((x) => x.v);
  const n = vs.length;
  const sum = vs.reduce((a, b) => a + b, 0);
  const mean = sum / n;
  const byTs = [...r.evs].sort((a, b) => a.ts - b.ts || a.arrival - b.arrival);
  const minTs = byTs[0]!.ts;
  const maxTs = byTs[byTs.length - 1]!.ts;
  const first = byTs.filter((x) => x.ts === minTs).sort((a, b) => a.arrival - b.arrival)[0]!.v;
  const last = byTs.filter((x) => x.ts === maxTs).sort((a, b) => b.arrival - a.arrival)[0]!.v;
  const sorted = [...vs].sort((a, b) => a - b);
  return { n, sum, min: sorted[0]!, max: sorted[n - 1]!, avg: mean, first, last, sd: Math.sqrt(vs.reduce((a, v) => a + (v - mean) ** 2, 0) / n), p50: sorted[Math.floor(0.5 * (n - 1))]! };
}

function close(a: number, b: number, rel: number): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)) + 1e-9;
}

// ------------------------------------------------------------------ running the operators

function runOps(stream: Event[], w: WindowSpec, batchSizes: number[]): { results: Event[]; late: Event[] } {
  const dedup = new DedupOperator({ key: "id", max: 1_000_000, ttl: 1e12 });
  const win = new WindowOperator("w", w, AGG);
  const results: Event[] = [];
  const late: Event[] = [];
  let i = 0;
  let b = 0;
  while (i < stream.length) {
    const n = Math.max(1, batchSizes[b++ % batchSizes.length] ?? 1);
    const batch: Envelope[] = stream.slice(i, i + n).map((e) => ({ e, t: 0 }));
    i += n;
    const o1 = newOutputs();
    dedup.process(batch, o1);
    const o2 = newOutputs();
    win.process(o1.main, o2, 0);
    results.push(...o2.main.map((x) => x.e));
    late.push(...o2.late.map((x) => x.e));
  }
  const fin = newOutputs();
  win.flushAll(fin);
  results.push(...fin.main.map((x) => x.e));
  return { results, late };
}

const streamArb = fc
  .array(fc.record({ dev: fc.integer({ min: 0, max: 2 }), jitter: fc.integer({ min: -400, max: 100 }), v: fc.integer({ min: -50, max: 50 }), dup: fc.nat(9), veryLate: fc.nat(19) }), { minLength: 1, maxLength: 120 })
  .map((xs) => {
    const out: Event[] = [];
    xs.forEach((x, i) => {
      const ts = Math.max(0, i * 37 + x.jitter - (x.veryLate === 0 ? 2500 : 0));
      out.push(toEvent({ dev: x.dev, ts, v: x.v, seq: i }));
      if (x.dup === 0 && out.length > 2) out.push(out[out.length - 3]!); // a duplicate, re-sent later
    });
    return out;
  });

const specArb = fc.oneof(
  fc.record({ tumbling: fc.constantFrom(100, 250, 1000) }),
  fc.constantFrom({ sliding: { size: 200, hop: 100 } }, { sliding: { size: 500, hop: 250 } }, { sliding: { size: 300, hop: 300 } }),
  fc.record({ session: fc.record({ gap: fc.constantFrom(40, 120, 400) }) }),
);

test("property: windows equal a brute-force reference (tumbling, sliding, session; out-of-order, duplicates, late)", () => {
  fc.assert(
    fc.property(streamArb, specArb, fc.constantFrom(0, 50, 300), fc.constantFrom(0, 100, 1000), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }), (stream, shape, bound, lateness, batches) => {
      const w = spec({ ...shape, watermark: bound, lateness });
      const { results, late } = runOps(stream, w, batches);
      const ref = reference(stream, w, bound);
      // the last emission of each id is its final value
      const final = new Map<string, Event>();
      for (const r of results) final.set(r.id, r);
      for (const [id, rw] of ref.wins) {
        const got = final.get(id);
        assert.ok(got, `window ${id} missing; got ${[...final.keys()].join(" ")}`);
        const want = refAggregates(rw);
        const p = got!.payload as Record<string, number>;
        for (const k of ["n", "sum", "min", "max", "first", "last"]) assert.is(p[k], want[k], `${id} ${k}`);
        assert.ok(close(p.avg!, want.avg!, 1e-9), `${id} avg ${p.avg} vs ${want.avg}`);
        assert.ok(close(p.sd!, want.sd!, 1e-6), `${id} sd ${p.sd} vs ${want.sd}`);
        assert.ok(Math.abs(p.p50! - want.p50!) <= 0.0101 * Math.abs(want.p50!) + 1e-6, `${id} p50 ${p.p50} vs ${want.p50}`);
        assert.is(p.window_start, rw.start);
        assert.is(p.window_end, rw.end);
      }
      for (const [id, r] of final)
        if (!ref.wins.has(id)) {
          // only a session that a later event merged into a bigger one may be absent from the reference
          assert.ok(w.session, `unexpected window ${id}`);
          const p = r.payload as { window_start: number; window_end: number };
          assert.ok(
            [...ref.wins.values()].some((x) => x.key === r.device && x.start <= p.window_start && x.end >= p.window_end),
            `superseded session ${id} not inside a final one`,
          );
        }
      assert.equal(new Set(late.map((e) => e.id)), ref.late);
      // emissions are numbered per id
      const counts = new Map<string, number>();
      for (const r of results) {
        counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
        assert.is(r.meta!.emission, String(counts.get(r.id)));
      }
    }),
    { numRuns: 300 },
  );
});

test("property: checkpoint and restore at any cut gives the same emissions as an uninterrupted run", () => {
  fc.assert(
    fc.property(streamArb, specArb, fc.constantFrom(0, 50, "auto"), fc.constantFrom(0, 200), fc.nat(), (stream, shape, bound, lateness, cutSeed) => {
      const w = spec({ ...shape, watermark: bound, lateness });
      const cut = cutSeed % (stream.length + 1);
      const run = (restoreAt: number | undefined) => {
        let dedup = new DedupOperator({ key: "id", max: 1_000_000, ttl: 1e12 });
        let win = new WindowOperator("w", w, AGG);
        const out: string[] = [];
        stream.forEach((e, i) => {
          if (i === restoreAt) {
            const d2 = new DedupOperator({ key: "id", max: 1_000_000, ttl: 1e12 });
            d2.restore(JSON.parse(JSON.stringify(dedup.snapshot())));
            const w2 = new WindowOperator("w", w, AGG);
            w2.restore(JSON.parse(JSON.stringify(win.snapshot())));
            dedup = d2;
            win = w2;
          }
          const o1 = newOutputs();
          dedup.process([{ e, t: 0 }], o1);
          const o2 = newOutputs();
          win.process(o1.main, o2, 0);
          for (const r of [...o2.main, ...o2.late]) out.push(JSON.stringify(r.e));
        });
        const fin = newOutputs();
        win.flushAll(fin);
        for (const r of fin.main) out.push(JSON.stringify(r.e));
        return out;
      };
      assert.equal(run(cut), run(undefined));
    }),
    { numRuns: 200 },
  );
});

function feed(op: WindowOperator, events: Event[], now = 0): Outputs {
  const o = newOutputs();
  op.process(events.map((e) => ({ e, t: 0 })), o, now);
  return o;
}
const e = (dev: string, seq: number, ts: number, v = 1): Event => ({ id: `${dev}/${seq}`, ts, device: dev, kind: "telemetry", payload: { v } });

test("watermarks are per key, and a quiet key's watermark still advances after `idle`", () => {
  const op = new WindowOperator("w", spec({ tumbling: 1000, watermark: 100, idle: 5000 }), { n: "count()" });
  let o = feed(op, [e("a", 1, 100), e("b", 1, 150), e("a", 2, 900)], 0);
  assert.is(o.main.length, 0);
  // a advances past 1000+100: its first window fires; b's does not (per-key watermark)
  o = feed(op, [e("a", 3, 1200)], 1000);
  assert.equal(o.main.map((r) => r.e.id), ["w/a/0-1000"]);
  assert.is(o.main[0]!.e.payload.n, 2);
  assert.is(op.watermark("b"), 50);
  // b goes quiet: before `idle`, nothing; after it, b's watermark moves with the clock and its window closes
  let t = newOutputs();
  op.tick(4000, t);
  assert.is(t.main.length, 0);
  feed(op, [e("a", 4, 1300)], 5000); // a keeps talking
  t = newOutputs();
  op.tick(6000, t);
  assert.equal(t.main.map((r) => r.e.id), ["w/b/0-1000"]);
  assert.ok(op.watermark("b")! >= 1000);
});

test("allowed lateness: a fired window re-emits with the same id; beyond it events go to the late output", () => {
  const op = new WindowOperator("w", spec({ tumbling: 1000, watermark: 0, lateness: 500 }), { n: "count()", s: "sum(payload.v)" });
  feed(op, [e("a", 1, 100, 1), e("a", 2, 200, 2)]);
  let o = feed(op, [e("a", 3, 1100, 5)]);
  assert.equal(o.main.map((r) => [r.e.id, r.e.payload.n, r.e.meta!.emission]), [["w/a/0-1000", 2, "1"]]);
  o = feed(op, [e("a", 4, 300, 10)]); // within lateness: an update
  assert.equal(o.main.map((r) => [r.e.id, r.e.payload.s, r.e.meta!.emission]), [["w/a/0-1000", 13, "2"]]);
  assert.is(o.late.length, 0);
  o = feed(op, [e("a", 5, 1600, 1)]); // watermark 1600 >= 1000 + 500: window purged
  o = feed(op, [e("a", 6, 400, 100)]);
  assert.equal(o.late.map((r) => r.e.id), ["a/6"]);
  assert.is(o.main.length, 0);
  assert.is(op.late, 1);
});

test("auto out-of-orderness: starts at the cap, then follows the observed lateness p99 within [floor, cap]", () => {
  const op = new WindowOperator("w", spec({ tumbling: 1000, watermark: { auto: true, floor: 20, cap: 5000 } }), { n: "count()" });
  assert.is(op.currentBound(), 5000);
  const evs: Event[] = [];
  for (let i = 0; i < 3000; i++) evs.push(e("a", i, i * 10 - (i % 50 === 7 ? 150 : 0)));
  feed(op, evs);
  const b = op.currentBound();
  assert.ok(b >= 20 && b <= 200, `bound ${b}`);
  const op2 = new WindowOperator("w", spec({ tumbling: 1000, watermark: { auto: true, floor: 300, cap: 5000 } }), { n: "count()" });
  feed(op2, evs);
  assert.is(op2.currentBound(), 300);
});

test("key by expression; result ids are deterministic", () => {
  const op = new WindowOperator("w", spec({ tumbling: 1000, watermark: 0, key: "payload.site" }), { n: "count()" });
  const mk = (id: string, ts: number, site: string): Event => ({ id, ts, device: id, kind: "t", payload: { site } });
  feed(op, [mk("x1", 10, "north"), mk("x2", 20, "north"), mk("x3", 30, "south")]);
  const o = feed(op, [mk("x4", 2000, "north")]);
  assert.equal(o.main.map((r) => [r.e.id, r.e.payload.n]), [["w/north/0-1000", 2]]);
});

test.run();
