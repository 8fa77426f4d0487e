import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { pipelineConfig, type ModelSpec } from "../../runtime/pipeline/config.js";
import { parseJsonModel } from "../../runtime/pipeline/model-format.js";
import { FileModelProvider, loadedModel } from "../../runtime/pipeline/model-provider.js";
import { newOutputs, type Envelope } from "../../runtime/pipeline/operator.js";
import { DedupOperator } from "../../runtime/pipeline/operators/dedup.js";
import { MapOperator } from "../../runtime/pipeline/operators/map.js";
import { ModelOperator } from "../../runtime/pipeline/operators/model.js";
import { RouteOperator } from "../../runtime/pipeline/operators/route.js";
import { QuantileSketch, SKETCH_ALPHA } from "../../runtime/pipeline/quantile-sketch.js";
import { linearOnnx } from "../helpers/onnx-model.js";
import { parseEvents } from "../../runtime/pipeline/http-source.js";

const e = (id: string, ts: number, payload: Record<string, unknown> = {}): Envelope => ({ e: { id, ts, device: id.split("/")[0]!, kind: "telemetry", payload }, t: 0 });
const ids = (xs: Envelope[]) => xs.map((x) => x.e.id);

test("dedup: by id, bounded by count and by event-time ttl", () => {
  const d = new DedupOperator({ key: "id", max: 3, ttl: 1000 });
  let o = newOutputs();
  d.process([e("a/1", 0), e("a/2", 1), e("a/1", 2), e("a/3", 3)], o);
  assert.equal(ids(o.main), ["a/1", "a/2", "a/3"]);
  assert.is(d.dropped, 1);
  o = newOutputs();
  d.process([e("a/4", 4), e("a/1", 5)], o); // a/1 was forgotten (max 3)
  assert.equal(ids(o.main), ["a/4", "a/1"]);
  o = newOutputs();
  d.process([e("b/1", 5000), e("a/4", 5001)], o); // a/4 is older than newest − ttl
  assert.equal(ids(o.main), ["b/1", "a/4"]);
  const k = new DedupOperator({ key: "payload.seq", max: 10, ttl: 1e9 });
  o = newOutputs();
  k.process([e("x/1", 0, { seq: 1 }), e("x/2", 0, { seq: 1 })], o);
  assert.equal(ids(o.main), ["x/1"]);
});

test("dedup: the id arena grows while its live ids wrap around its end", () => {
  // max 64: a 2,048-character arena. Short ids fill it and wrap (evictions move its head), then
  // long ids make it grow while the live ids straddle its end.
  const d = new DedupOperator({ key: "id", max: 64, ttl: 1e12 });
  const id = (i: number) => (i < 300 ? `s/${i}/0123456789` : `l/${i}/${"é".repeat(150)}`);
  for (let i = 0; i < 400; i++) {
    const o = newOutputs();
    d.process([e(id(i), i)], o);
    assert.is(o.main.length, 1, `new ${i}`);
    const want = Array.from({ length: Math.min(i + 1, 64) }, (_, j) => id(i - Math.min(i, 63) + j));
    // the arena's characters read back as the last 64 ids, in order
    assert.equal((d.snapshot() as { seen: [string, number][] }).seen.map(([k]) => k), want, `remembered after ${i}`);
    if (i % 7 === 0) {
      const again = newOutputs();
      d.process(want.map((x) => e(x, i)), again);
      assert.equal(ids(again.main), [], `duplicates dropped after ${i}`);
    }
  }
});

test("property: dedup equals a naive bounded reference (ring growth, eviction, snapshot/restore)", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 6000 }), fc.integer({ min: 1, max: 5000 }), fc.nat(), (keys, max, cut) => {
      const d = new DedupOperator({ key: "id", max, ttl: 1e12 });
      const order: string[] = [];
      const live = new Set<string>();
      let op = d;
      keys.forEach((k, i) => {
        if (i === cut % (keys.length + 1)) {
          op = new DedupOperator({ key: "id", max, ttl: 1e12 });
          op.restore(JSON.parse(JSON.stringify(d.snapshot())));
        }
        // lengths from 3 to ~100 characters, some not Latin-1: the character arena grows and wraps
        const id = `k/${k}/${"é€".repeat(k % 5)}${"x".repeat((k * 13) % 90)}`;
        const want = !live.has(id);
        if (want) {
          live.add(id);
          order.push(id);
          if (order.length > max) live.delete(order.shift()!);
        }
        const o = newOutputs();
        (i >= cut % (keys.length + 1) ? op : d).process([e(id, i)], o);
        assert.is(o.main.length === 1, want, `${id} at ${i}`);
      });
    }),
    { numRuns: 60 },
  );
});

test("property: dedup with a ttl equals a naive reference (keys stored again after they expire, out-of-order times)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: -50, max: 200 })), { maxLength: 4000 }),
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 0, max: 300 }),
      fc.nat(),
      (steps, max, ttl, cut) => {
        const d = new DedupOperator({ key: "id", max, ttl });
        // reference: a ring of [key, ts, live] in insertion order, counting superseded slots like the operator
        const ring: { k: string; ts: number; live: boolean }[] = [];
        const at = new Map<string, { k: string; ts: number; live: boolean }>();
        let maxTs = -Infinity;
        let ts = 0;
        let op = d;
        steps.forEach(([k, dt], i) => {
          if (i === cut % (steps.length + 1)) {
            op = new DedupOperator({ key: "id", max, ttl });
            op.restore(JSON.parse(JSON.stringify(d.snapshot())));
            // a restore keeps only live keys, in order
            const keep = ring.filter((x) => x.live);
            ring.length = 0;
            ring.push(...keep);
          }
          ts = Math.max(0, ts + dt);
          const id = `k/${k}`;
          const seen = at.get(id);
          const want = !(seen && seen.ts >= maxTs - ttl);
          if (want) {
            if (seen) seen.live = false;
            if (ring.length >= max) {
              const old = ring.shift()!;
              if (old.live) at.delete(old.k);
            }
            const slot = { k: id, ts, live: true };
            ring.push(slot);
            at.set(id, slot);
            if (ts > maxTs) maxTs = ts;
          }
          while (ring.length && ring[0]!.ts < maxTs - ttl) {
            const old = ring.shift()!;
            if (old.live) at.delete(old.k);
          }
          const o = newOutputs();
          (i >= cut % (steps.length + 1) ? op : d).process([e(id, ts)], o);
          assert.is(o.main.length === 1, want, `${id} at ${i}`);
          assert.is(((i >= cut % (steps.length + 1) ? op : d).status() as { remembered: number }).remembered, at.size);
        });
      },
    ),
    { numRuns: 80 },
  );
});

test("map builds a new event; the input is untouched", () => {
  const m = new MapOperator({ temp_f: "payload.temp_c * 9 / 5 + 32", "meta.unit": "'F'", kind: "'converted'" });
  const input = e("a/1", 0, { temp_c: 100 });
  const o = newOutputs();
  m.process([input], o);
  assert.equal(o.main[0]!.e.payload, { temp_c: 100, temp_f: 212 });
  assert.equal(o.main[0]!.e.meta, { unit: "F" });
  assert.is(o.main[0]!.e.kind, "converted");
  assert.equal(input.e.payload, { temp_c: 100 });
});

test("route: first matching case wins, to one or several targets", () => {
  const r = new RouteOperator([{ when: "payload.level > 2", to: ["alarms", "log"] }, { when: "payload.level > 0", to: ["cloud"] }]);
  const o = newOutputs();
  r.process([e("a/1", 0, { level: 3 }), e("a/2", 0, { level: 1 }), e("a/3", 0, { level: 0 })], o);
  assert.equal(ids(o.ports.get("alarms")!), ["a/1"]);
  assert.equal(ids(o.ports.get("log")!), ["a/1"]);
  assert.equal(ids(o.ports.get("cloud")!), ["a/2"]);
  assert.is(r.dropped, 1);
});

test("property: the quantile sketch is within its relative accuracy and merges exactly", () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.nat(), fc.constantFrom(0.5, 0.95, 0.99), (xs, cut, q) => {
      const s = new QuantileSketch();
      xs.forEach((x) => s.add(x));
      const sorted = [...xs].sort((a, b) => a - b);
      const want = sorted[Math.floor(q * (xs.length - 1))]!;
      const got = s.quantile(q)!;
      assert.ok(Math.abs(got - want) <= SKETCH_ALPHA * Math.abs(want) + 1e-8, `${got} vs ${want}`);
      const a = new QuantileSketch();
      const b = new QuantileSketch();
      const c = cut % (xs.length + 1);
      xs.slice(0, c).forEach((x) => a.add(x));
      xs.slice(c).forEach((x) => b.add(x));
      a.merge(b);
      assert.is(a.quantile(q), got);
      assert.is(QuantileSketch.from(JSON.parse(JSON.stringify(s.toJSON()))).quantile(q), got);
    }),
    { numRuns: 300 },
  );
});

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
function modelSpec(m: Record<string, unknown>): ModelSpec {
  const p = pipelineConfig.parse({ sources: { s: { from: "x" } }, operators: { m: { model: m, input: "s" } }, sinks: { o: { log: {}, input: "m" } } });
  const op = p.operators.m!;
  if (op.kind !== "model") throw new Error("kind");
  return op.spec;
}

test("built-in JSON models: linear, logistic, tree, zscore", async () => {
  const prov = new FileModelProvider("/nonexistent");
  const run = async (model: unknown, payload: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    prov.set(loadedModel("m", enc(model), "json"));
    const op = new ModelOperator(modelSpec({ name: "m", ...extra }), prov);
    const o = newOutputs();
    await op.process([e("a/1", 0, payload)], o);
    return o.main[0]!.e.payload;
  };
  assert.is((await run({ type: "linear", features: ["a", "b"], weights: [2, 3], bias: 1 }, { a: 1, b: 2 })).score, 9);
  assert.is((await run({ type: "logistic", features: ["a"], weights: [0], bias: 0 }, { a: 5 })).score, 0.5);
  const tree = { type: "tree", features: ["alt"], root: { feature: "alt", threshold: 4000, left: { value: 0 }, right: { value: 1 } } };
  assert.is((await run(tree, { alt: 4500 })).score, 1);
  assert.is((await run(tree, { alt: 100 })).score, 0);
  const z = await run({ type: "zscore", features: ["hr"], mean: [80], std: [10], threshold: 3 }, { hr: 120 }, { output: "hr_z" });
  assert.equal([z.hr_z, z.hr_z_alert], [4, true]);
  assert.is((await run({ type: "linear", features: ["a"], weights: [1], bias: 0 }, { a: "x" })).score, null);
  assert.is((await run({ type: "linear", features: ["alt"], weights: [1], bias: 0 }, { altitude: 7 }, { features: { alt: "payload.altitude * 2" } })).score, 14);
});

test("hostile model files are rejected with a reason, never a throw", () => {
  const bad = [
    new Uint8Array([0xff, 0xfe]),
    enc([1, 2]),
    enc({ type: "linear", features: [], weights: [] }),
    enc({ type: "linear", features: ["a"], weights: [1, 2] }),
    enc({ type: "tree", features: ["a"], root: { feature: "b", threshold: 1, left: { value: 0 }, right: { value: 1 } } }),
    enc({ type: "zscore", features: ["a"], mean: [0], std: [0], threshold: 1 }),
    enc({ type: "forest", features: ["a"] }),
  ];
  for (const b of bad) {
    const r = parseJsonModel(b);
    assert.is(r.ok, false);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => parseJsonModel(b).ok === false || parseJsonModel(b).ok === true));
  fc.assert(fc.property(fc.jsonValue(), (v) => typeof parseJsonModel(enc(v)).ok === "boolean"));
});

test("a model switch between batches drops nothing; a missing model passes events with a null score", async () => {
  const prov = new FileModelProvider("/nonexistent");
  const op = new ModelOperator(modelSpec({ name: "m" }), prov);
  let o = newOutputs();
  await op.process([e("a/1", 0, { a: 1 })], o);
  assert.is(o.main[0]!.e.payload.score, null);
  let switches = 0;
  prov.onSwitch(() => switches++);
  prov.set(loadedModel("m", enc({ type: "linear", features: ["a"], weights: [1], bias: 0 }), "json"));
  o = newOutputs();
  await op.process([e("a/2", 0, { a: 2 }), e("a/3", 0, { a: 3 })], o);
  prov.set(loadedModel("m", enc({ type: "linear", features: ["a"], weights: [10], bias: 0 }), "json"));
  await op.process([e("a/4", 0, { a: 4 })], o);
  assert.equal(o.main.map((x) => x.e.payload.score), [2, 3, 40]);
  assert.is(switches, 2);
});

test("ONNX models run through onnxruntime-web (WASM), batched", async () => {
  const prov = new FileModelProvider("/nonexistent");
  prov.set(loadedModel("m", linearOnnx([2, 3], 1), "onnx"));
  const op = new ModelOperator(modelSpec({ name: "m", features: { a: "payload.a", b: "payload.b" } }), prov);
  const o = newOutputs();
  await op.process([e("a/1", 0, { a: 1, b: 1 }), e("a/2", 0, { a: 0, b: 2 }), e("a/3", 0, { a: 1 })], o);
  assert.equal(o.main.map((x) => x.e.payload.score), [6, 7, null]);
  prov.set(loadedModel("m", linearOnnx([0, 0], 0, true), "onnx"));
  const o2 = newOutputs();
  await op.process([e("a/4", 0, { a: 5, b: 5 })], o2);
  assert.is(o2.main[0]!.e.payload.score, 0.5);
  prov.set(loadedModel("m", new Uint8Array([1, 2, 3, 4]), "onnx"));
  const o3 = newOutputs();
  await op.process([e("a/5", 0, { a: 1, b: 1 })], o3);
  assert.is(o3.main[0]!.e.payload.score, null);
  assert.ok((op.status().error as string).includes("ONNX"));
});

test("hostile http bodies are answered with a reason, never a throw", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.array(fc.jsonValue()).map((a) => a.map((v) => JSON.stringify(v)).join("\n"))), fc.constantFrom("application/json", "application/x-ndjson"), (body, ct) => {
      const r = parseEvents(body, ct);
      return r.ok ? Array.isArray(r.value) : r.code === "E_PIPELINE_HTTP_EVENT" && r.reason.length > 0;
    }),
    { numRuns: 2000 },
  );
  const r = parseEvents(JSON.stringify({ id: "a", ts: 1, device: "d", kind: "t", payload: {}, meta: { x: 1 } }), "application/json");
  assert.equal(r, { ok: false, code: "E_PIPELINE_HTTP_EVENT", reason: "event 0: meta must be an object of strings" });
  const ok = parseEvents('{"id":"a","ts":1,"device":"d","kind":"t","payload":{"__proto__":{"x":1}}}', "application/json");
  assert.ok(ok.ok && ({} as Record<string, unknown>).x === undefined);
});

test.run();
