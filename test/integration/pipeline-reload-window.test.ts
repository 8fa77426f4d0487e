// Issue 18 item 7: a reload that edits a window operator's definition. A compatible edit
// (lateness, watermark, idle, result kind, an added aggregate) carries the open windows over: the
// counts that span the reload come out whole. An incompatible one (another size, another key)
// starts empty — and the reload's answer and the log say which operator lost its state and why.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newOutputs } from "../../runtime/pipeline/operator.js";
import type { WindowOperator } from "../../runtime/pipeline/operators/window.js";
import { BASE, ev, makeRig, settle } from "../helpers/pipeline.js";

const topo = (window: string, aggregate: string) => BASE + `pipeline:
  sources: { gen: { from: gen } }
  operators:
    w: { window: { ${window} }, aggregate: { ${aggregate} }, input: gen }
    d: { dedup: { max: 1000, ttl: 1h }, input: gen }
  sinks:
    out: { log: {}, input: w }
    seen: { log: {}, input: d }
`;

/** Every open window's results, forced out. */
function openResults(rig: Awaited<ReturnType<typeof makeRig>>) {
  const o = newOutputs();
  (rig.p.engine().ops.find((n) => n.name === "w")!.op as WindowOperator).flushAll(o);
  return o.main.map((r) => r.e);
}

for (const [edit, window2, agg2, fresh] of [
  ["lateness and watermark changed", "tumbling: 1h, lateness: 5s, watermark: 10s", "n: count()", []],
  ["an aggregate added", "tumbling: 1h", "n: count(), hi: max(payload.v)", ["hi"]],
  ["idle and the result kind changed, an aggregate's source changed", "tumbling: 1h, idle: 5s, kind: summary", "n: count(), s: sum(payload.w)", ["s"]],
] as [string, string, string, string[]][]) {
  test(`compatible edit (${edit}): the open windows carry over, counts spanning the reload are whole`, async () => {
    const rig = await makeRig(topo("tumbling: 1h", "n: count(), s: sum(payload.v)"));
    try {
      await rig.p.start();
      for (let i = 0; i < 40; i++) rig.p.ingest(ev(`d${i % 4}`, i, 1_000 + i, { v: i, w: 1 }), "gen");
      await settle();
      const r = await rig.p.reload(topo(window2, agg2));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.lost, [], JSON.stringify(r));
      assert.equal(r.carried, [{ operator: "w", fresh }]);
      for (let i = 40; i < 60; i++) rig.p.ingest(ev(`d${i % 4}`, i, 1_000 + i, { v: i, w: 1 }), "gen");
      await settle();
      const res = openResults(rig);
      assert.is(res.length, 4, "one open window per device");
      for (const e of res) assert.is(e.payload.n, 15, `${e.device}: 10 events before the reload + 5 after`);
      if (fresh.includes("hi")) for (const e of res) assert.ok(typeof e.payload.hi === "number" && (e.payload.hi as number) >= 56, JSON.stringify(e.payload));
      if (fresh.includes("s")) for (const e of res) assert.is(e.payload.s, 5, "the changed aggregate counts from the reload on");
    } finally {
      await rig.cleanup();
    }
  });
}

for (const [edit, window2, reason] of [
  ["another size", "tumbling: 30m", /window shape/],
  ["another key", "tumbling: 1h, key: payload.w", /key changed/],
] as [string, string, RegExp][]) {
  test(`incompatible edit (${edit}): the answer and the log say the window operator starts empty`, async () => {
    const rig = await makeRig(topo("tumbling: 1h", "n: count()"));
    try {
      await rig.p.start();
      for (let i = 0; i < 40; i++) rig.p.ingest(ev(`d${i % 4}`, i, 1_000 + i, { v: i, w: 1 }), "gen");
      await settle();
      const r = await rig.p.reload(topo(window2, "n: count()"));
      assert.ok(r.ok, JSON.stringify(r));
      assert.is(r.lost?.length, 1, JSON.stringify(r));
      assert.is(r.lost![0]!.operator, "w");
      assert.match(r.lost![0]!.reason, reason);
      assert.ok(r.kept?.includes("d"), "the unchanged dedup kept its set");
      assert.equal(openResults(rig), [], "nothing carried over");
    } finally {
      await rig.cleanup();
    }
  });
}

test("a changed dedup says it loses its remembered ids; an operator replaced by another kind too", async () => {
  const rig = await makeRig(topo("tumbling: 1h", "n: count()"));
  try {
    await rig.p.start();
    const r = await rig.p.reload(topo("tumbling: 1h", "n: count()").replace("dedup: { max: 1000, ttl: 1h }", "dedup: { max: 2000, ttl: 1h }"));
    assert.ok(r.ok);
    assert.equal(r.lost, [{ operator: "d", reason: "its definition changed" }]);
    const r2 = await rig.p.reload(topo("tumbling: 1h", "n: count()").replace("d: { dedup: { max: 1000, ttl: 1h }, input: gen }", 'd: { filter: "true", input: gen }'));
    assert.ok(r2.ok);
    assert.equal(r2.lost, [{ operator: "d", reason: "its kind changed (dedup → filter)" }]);
  } finally {
    await rig.cleanup();
  }
});

test.run();
