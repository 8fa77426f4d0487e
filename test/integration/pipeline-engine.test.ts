/**
 * The pipeline engine end to end on loopback: backpressure with the real sim driver, drop policies
 * counted in /metrics, hot reload while events flow (no loss, no duplicates, state carried, invalid
 * config rejected), the http source, the file sink's rotation and the mqtt sink against mosquitto.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeClock, systemClock } from "../../core/clock.js";
import type { DriverContext } from "../../core/driver.js";
import type { Event } from "../../core/event.js";
import { SimDriver } from "../../drivers/sim/index.js";
import { simDriverConfig } from "../../drivers/sim/config.js";
import type { ControlRequest } from "../../runtime/control/routes.js";
import { newOutputs } from "../../runtime/pipeline/operator.js";
import type { WindowOperator } from "../../runtime/pipeline/operators/window.js";
import { BASE, ev, makeRig, settle } from "../helpers/pipeline.js";
import { FileModelProvider, loadedModel } from "../../runtime/pipeline/model-provider.js";
import { linearOnnx } from "../helpers/onnx-model.js";
import { freeTcpPort, startPeer, tempDir, waitFor, waitTcp } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";

function simContext(ingest: (e: Event) => boolean, drained: () => Promise<void>): DriverContext {
  const noop = () => undefined;
  return { emit: ingest, drained, clock: systemClock, log: { debug: noop, info: noop, warn: noop, error: noop }, count: noop, dataDir: "/tmp" };
}

test("backpressure: a stalled sink bounds memory and slows the sim driver; nothing is lost", async () => {
  const rig = await makeRig(
    BASE +
      `pipeline:
  sources: { gen: { from: gen } }
  operators:
    pass: { filter: "true", input: gen, edge: { capacity: 200 } }
    twice: { map: { n2: "payload.altitude * 2" }, input: pass, edge: { capacity: 200 } }
  sinks:
    out: { log: {}, input: twice, edge: { capacity: 200 }, batch: 100 }
`,
  );
  try {
    await rig.p.start();
    const out = rig.sink("out");
    out.stall();
    const sim = new SimDriver(simDriverConfig.parse({ name: "gen", devices: 500, rateHz: 200 }));
    await sim.start(simContext((e) => rig.p.ingest(e, "gen"), () => rig.p.drained()));
    await waitFor("the driver to be paused", () => (sim.status().pausedByBackpressure as number) > 0, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    const emitted1 = sim.status().emitted as number;
    await new Promise((r) => setTimeout(r, 300));
    const emitted2 = sim.status().emitted as number;
    assert.is(emitted2, emitted1, "the driver stopped while the sink is stalled");
    const depth = Object.values(rig.p.engine().depths()).reduce((a, b) => a + b, 0);
    assert.ok(depth <= 3 * 200 + 100 + 10, `queued ${depth}`);
    assert.ok(emitted2 <= 3 * 200 + 100 + 10, `emitted ${emitted2} while stalled`);
    // memory stays bounded: what is queued is all that was emitted
    out.resume();
    await waitFor("flow to resume", () => (sim.status().emitted as number) > emitted2 + 1000, 10_000);
    await sim.stop();
    await waitFor("delivery of everything", () => out.events.length === (sim.status().emitted as number), 10_000);
    assert.is(rig.p.stats.overflow, 0);
    assert.ok(out.events.every((e) => typeof e.payload.n2 === "number"));
  } finally {
    await rig.cleanup();
  }
});

test("drop policies drop and count, visible in /metrics and status", async () => {
  for (const policy of ["drop-newest", "drop-oldest"] as const) {
    const rig = await makeRig(
      BASE +
        `pipeline:
  sources: { gen: { from: gen } }
  operators:
    pass: { filter: "true", input: gen }
  sinks:
    out: { log: {}, input: pass, edge: { capacity: 10, policy: ${policy} } }
`,
    );
    try {
      await rig.p.start();
      const out = rig.sink("out");
      out.stall();
      for (let i = 0; i < 100; i++) assert.ok(rig.p.ingest(ev("d", i, i), "gen"));
      await settle();
      out.resume();
      await waitFor("delivery", () => out.events.length === 10);
      await settle();
      assert.is(out.events.length, 10);
      assert.is(rig.p.stats.edgeDrops.get("pass->out")?.n, 90);
      const ids = out.events.map((e) => e.id);
      if (policy === "drop-newest") assert.equal(ids, Array.from({ length: 10 }, (_, i) => `d/${i}`));
      else assert.equal(ids, Array.from({ length: 10 }, (_, i) => `d/${90 + i}`));
      const text = await rig.s.metrics.text();
      assert.match(text, /ridge_pipeline_edge_dropped_total\{from="pass",to="out"\} 90/);
      assert.match(text, /ridge_pipeline_events_total\{node="pass",dir="in"\} 100/);
      assert.match(text, /ridge_pipeline_latency_seconds\{quantile="0.99"\}/);
    } finally {
      await rig.cleanup();
    }
  }
});

const RELOAD_A = `pipeline:
  sources: { gen: { from: gen } }
  operators:
    d: { dedup: { max: 1000000, ttl: 1h }, input: gen }
    w: { window: { tumbling: 100ms, watermark: 0, idle: 1h }, aggregate: { n: "count()" }, input: d }
    f: { filter: "payload.v >= 0", input: d }
  sinks:
    wins: { log: {}, input: w }
    all: { log: {}, input: f }
`;
const RELOAD_B = `pipeline:
  sources: { gen: { from: gen } }
  operators:
    d: { dedup: { max: 1000000, ttl: 1h }, input: gen }
    w: { window: { tumbling: 100ms, watermark: 0, idle: 1h }, aggregate: { n: "count()" }, input: d }
    f: { filter: "payload.v > -1", input: d }
    m: { map: { doubled: "payload.v * 2" }, input: f }
  sinks:
    wins: { log: {}, input: w }
    all: { log: {}, input: m }
`;

test("reload while 10k events/s flow: no loss, no duplicates, unchanged operators keep state, invalid reload rejected", async () => {
  const rig = await makeRig(BASE + RELOAD_A);
  try {
    await rig.p.start();
    const wOld = rig.p.engine().ops.find((n) => n.name === "w")!.op;
    let seq = 0;
    let running = true;
    const devices = 50;
    // 10k events/s: 100 events every 10 ms, in event-time order per device, every 20th sent twice
    const producer = (async () => {
      while (running) {
        for (let i = 0; i < 100; i++) {
          const n = seq++;
          const e = ev(`d${n % devices}`, n, n, { v: n });
          rig.p.ingest(e, "gen");
          if (n % 20 === 0) rig.p.ingest(e, "gen");
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    // 1. an invalid config is rejected with located errors; the old topology keeps running
    const bad = await rig.p.reload(BASE + RELOAD_B.replace("payload.v > -1", "payload.v > "));
    assert.is(bad.ok, false);
    assert.ok(bad.errors!.some((i) => i.code === "E_EXPR_SYNTAX" && i.path === "pipeline.operators.f.filter" && i.line > 1), JSON.stringify(bad.errors));
    const before = rig.sink("all").events.length;
    await waitFor("events still flowing after the rejected reload", () => rig.sink("all").events.length > before + 500);
    // 2. a valid reload through the control API route, from the config file
    writeFileSync(rig.configFile, BASE + RELOAD_B);
    const handler = rig.s.routes.match("POST", "/pipeline/reload")!;
    const req: ControlRequest = { method: "POST", path: "/pipeline/reload", query: new URLSearchParams(), headers: {}, body: async () => Buffer.alloc(0), json: async () => ({}) };
    const res = await handler(req);
    assert.is(res.status, 200, JSON.stringify(res.body));
    const ok = res.body as { ok: boolean; kept: string[]; rebuilt: string[]; ms: number };
    assert.ok(ok.kept.includes("d") && ok.kept.includes("w") && ok.kept.includes("wins") && ok.kept.includes("all"), JSON.stringify(ok));
    assert.ok(ok.rebuilt.includes("f") && ok.rebuilt.includes("m"), JSON.stringify(ok));
    console.log(`  reload swap: ${ok.ms.toFixed(2)} ms`);
    assert.is(rig.p.engine().ops.find((n) => n.name === "w")!.op, wOld, "the window operator (and its open windows) was handed over");
    await new Promise((r) => setTimeout(r, 300));
    running = false;
    await producer;
    const total = seq;
    // everything reaches `all` exactly once (before the swap through f, after it through f → m)
    await waitFor("all events", () => rig.sink("all").events.length >= total, 15_000);
    await settle();
    const ids = rig.sink("all").events.map((e) => e.id);
    assert.is(ids.length, total, "no duplicates and no loss");
    assert.is(new Set(ids).size, total);
    assert.ok(rig.sink("all").events.slice(-10).every((e) => e.payload.doubled === (e.payload.v as number) * 2));
    // window counts: fired results plus what is still open add up to every unique event exactly once
    const final = new Map<string, number>();
    for (const r of rig.sink("wins").events) final.set(r.id, r.payload.n as number);
    const o = newOutputs();
    (rig.p.engine().ops.find((n) => n.name === "w")!.op as WindowOperator).flushAll(o);
    for (const r of o.main) final.set(r.e.id, r.e.payload.n as number);
    const counted = [...final.values()].reduce((a, b) => a + b, 0);
    assert.is(counted, total);
    assert.is(rig.p.stats.reloads.ok, 1);
    assert.is(rig.p.stats.reloads.rejected, 1);
  } finally {
    await rig.cleanup();
  }
});

test("a reload that replaces a stalled sink: its undelivered events are checkpointed and come back after a crash", async () => {
  const topo = (batch: number) => BASE + `pipeline:
  checkpoint: { every: 1h }
  sources: { gen: { from: gen } }
  operators:
    pass: { filter: "true", input: gen }
  sinks:
    out: { log: {}, input: pass, batch: ${batch} }
`;
  const rig = await makeRig(topo(10));
  let rig2: Awaited<ReturnType<typeof makeRig>> | undefined;
  try {
    await rig.p.start();
    rig.sink("out").stall();
    for (let i = 0; i < 30; i++) rig.p.ingest(ev("d", i, i), "gen");
    await settle();
    const res = await rig.p.reload(topo(20)); // a new definition of `out`: the old runner retires with 30 events
    assert.ok(res.ok);
    assert.equal(res.rebuilt, ["out"]);
    for (let i = 30; i < 35; i++) rig.p.ingest(ev("d", i, i), "gen");
    await settle();
    rig.p.checkpoint();
    // "crash": a second pipeline starts from the same data directory while the first never finished
    rig2 = await makeRig(topo(20), { dir: rig.dir });
    await rig2.p.start();
    const out2 = rig2.sink("out");
    await waitFor("the checkpointed events", () => out2.events.length >= 35);
    await settle();
    assert.equal(
      out2.events.map((e) => e.id),
      Array.from({ length: 35 }, (_, i) => `d/${i}`),
    );
  } finally {
    await rig2?.cleanup();
    rig.sink("out").resume();
    await rig.cleanup();
  }
});

test("ridge pipeline reload over the control socket: ok, then a bad config → exit 2 and the old topology stays", async () => {
  const rig = await makeRig(BASE + RELOAD_A);
  const { ControlServer } = await import("../../runtime/control/server.js");
  const { run } = await import("../../runtime/cli/commands/pipeline.js");
  const server = new ControlServer({ socketPath: join(rig.dir, "ridge.sock"), http: undefined, routes: rig.s.routes, log: rig.s.log });
  try {
    await server.start();
    await rig.p.start();
    writeFileSync(rig.configFile, BASE + RELOAD_B);
    assert.is(await run(["reload", "--data", rig.dir]), 0);
    assert.ok(rig.p.engine().ops.some((n) => n.name === "m"));
    writeFileSync(rig.configFile, BASE + RELOAD_B.replace("input: f }", "input: nowhere }"));
    const errors: string[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => void errors.push(a.join(" "));
    let code: number;
    try {
      code = await run(["reload", "--data", rig.dir]);
    } finally {
      console.error = orig;
    }
    assert.is(code, 2);
    assert.ok(errors.some((l) => /gateway\.yaml:\d+:\d+ pipeline\.operators\.m\.input: no source or operator named "nowhere"/.test(l)), errors.join("\n"));
    assert.ok(rig.p.engine().ops.some((n) => n.name === "m"), "the running topology is unchanged");
    rig.p.ingest(ev("d1", 1, 1, { v: 4 }), "gen");
    await waitFor("flow", () => rig.sink("all").events.some((e) => e.payload.doubled === 8));
  } finally {
    await server.stop();
    await rig.cleanup();
  }
});

test("route to an operator and a sink, sliding windows and idle watermarks driven by the component's clock", async () => {
  const clock = new FakeClock(1_000_000);
  const rig = await makeRig(
    BASE +
      `pipeline:
  sources: { gen: { from: gen } }
  operators:
    r: { route: [ { when: "payload.v >= 10", to: [big, hot] }, { to: sl } ], input: gen }
    sl: { window: { sliding: { size: 1s, hop: 500ms }, watermark: 0, idle: 2s }, aggregate: { n: "count()" } }
  sinks:
    big: { log: {} }
    hot: { log: {} }
    wins: { log: {}, input: sl }
`,
    { clock, tickMs: 100 },
  );
  try {
    await rig.p.start();
    rig.p.ingest(ev("a", 1, 100, { v: 1 }), "gen");
    rig.p.ingest(ev("a", 2, 700, { v: 2 }), "gen");
    rig.p.ingest(ev("a", 3, 800, { v: 50 }), "gen");
    await settle(10);
    assert.equal(rig.sink("big").events.map((e) => e.id), ["a/3"]);
    assert.equal(rig.sink("hot").events.map((e) => e.id), ["a/3"]);
    assert.equal(rig.sink("wins").events.map((e) => e.id), ["sl/a/-500-500"]); // watermark 700 passed its end
    // device a goes quiet: after `idle` the clock moves its watermark and the windows close
    await clock.advance(1000);
    await settle(10);
    assert.is(rig.sink("wins").events.length, 1);
    for (let i = 0; i < 40; i++) {
      await clock.advance(100);
      await settle(2);
    }
    await waitFor("windows closed by idle watermark", () => rig.sink("wins").events.length === 3);
    const got = Object.fromEntries(rig.sink("wins").events.map((e) => [e.id, e.payload.n]));
    assert.equal(got, { "sl/a/-500-500": 1, "sl/a/0-1000": 2, "sl/a/500-1500": 1 });
    const st = (await rig.s.routes.match("GET", "/pipeline")!({} as ControlRequest)).body as { operators: Record<string, unknown>; nodes: Record<string, { in: number }> };
    assert.is(st.nodes.r!.in, 3);
    assert.ok(st.operators.sl);
  } finally {
    await rig.cleanup();
  }
});

test("an ONNX model operator (async) in the engine: order kept, a model switch and a checkpoint mid-stream drop nothing", async () => {
  const models = new FileModelProvider("/nonexistent");
  models.set(loadedModel("lin", linearOnnx([1, 0], 0), "onnx"));
  const rig = await makeRig(
    BASE +
      `pipeline:
  sources: { gen: { from: gen } }
  operators:
    sc: { model: { name: lin, features: { a: "payload.v", b: "0" } }, input: gen, edge: { capacity: 64 } }
  sinks:
    out: { log: {}, input: sc }
`,
    { models },
  );
  try {
    await rig.p.start();
    for (let i = 0; i < 2000; i++) {
      if (!rig.p.ingest(ev("d", i, i, { v: i }), "gen")) await rig.p.drained();
      if (i === 1000) {
        models.set(loadedModel("lin", linearOnnx([2, 0], 0), "onnx"));
        rig.p.checkpoint();
      }
    }
    await waitFor("all scored", () => rig.sink("out").events.length === 2000, 20_000);
    const out = rig.sink("out").events;
    assert.equal(out.map((e) => e.payload.v), Array.from({ length: 2000 }, (_, i) => i));
    assert.ok(out.every((e) => e.payload.score === e.payload.v || e.payload.score === 2 * (e.payload.v as number)));
    assert.is(out[0]!.payload.score, 0);
    assert.is(out[1999]!.payload.score, 3998);
  } finally {
    await rig.cleanup();
  }
});

test("http source: token, bad events, size limit, NDJSON, 429 with Retry-After", async () => {
  const rig = await makeRig(
    BASE +
      `pipeline:
  sources: { api: { http: { listen: "127.0.0.1:0", token: "0123456789abcdef-token", maxBody: 2KiB, retryAfter: 3 } } }
  operators:
    pass: { filter: "true", input: api, edge: { capacity: 5 } }
  sinks:
    out: { log: {}, input: pass, edge: { capacity: 5 } }
`,
  );
  try {
    await rig.p.start();
    const port = rig.p.httpPort("api")!;
    const url = `http://127.0.0.1:${port}/events`;
    const auth = { authorization: "Bearer 0123456789abcdef-token" };
    const post = (body: string, headers: Record<string, string> = {}) => fetch(url, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
    assert.is((await post("{}")).status, 401);
    assert.is((await post("{}", { authorization: "Bearer wrong" })).status, 401);
    const bad = await post(JSON.stringify([ev("a", 1, 1), { id: "x", ts: "yesterday", device: "a", kind: "t", payload: {} }]), auth);
    assert.is(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /event 1: ts/);
    assert.is((await post("not json", auth)).status, 400);
    assert.is((await post("x".repeat(3000), auth)).status, 413);
    const nd = [ev("a", 1, 1), ev("a", 2, 2), ev("b", 1, 3)].map((e) => JSON.stringify(e)).join("\n");
    const ok = await post(nd, { ...auth, "content-type": "application/x-ndjson" });
    assert.is(ok.status, 202);
    assert.equal(await ok.json(), { accepted: 3 });
    await waitFor("delivery", () => rig.sink("out").events.length === 3);
    // a failing sink keeps the batch and retries it: nothing lost, health says so
    rig.sink("out").failing = true;
    await post(JSON.stringify(ev("f", 1, 1)), auth);
    await waitFor("a failed delivery", () => rig.p.health().detail?.includes("out"));
    rig.sink("out").failing = false;
    await waitFor("the retried batch", () => rig.sink("out").events.some((e) => e.id === "f/1"), 10_000);
    assert.is(rig.p.health().detail, undefined);
    // stall: fill the inboxes, then the source answers 429
    rig.sink("out").stall();
    let status = 0;
    let retry: string | null = null;
    for (let i = 0; i < 20 && status !== 429; i++) {
      const r = await post(JSON.stringify([ev("c", i * 3, 1), ev("c", i * 3 + 1, 2), ev("c", i * 3 + 2, 3)]), auth);
      status = r.status;
      retry = r.headers.get("retry-after");
      await settle();
    }
    assert.is(status, 429);
    assert.is(retry, "3");
    rig.sink("out").resume();
  } finally {
    await rig.cleanup();
  }
});

test("file sink writes JSON lines and rotates", async () => {
  const rig = await makeRig(
    BASE +
      `pipeline:
  sources: { gen: { from: gen } }
  sinks:
    jl: { file: { path: out/events.jsonl, rotate: { size: 2KiB, keep: 2 } }, input: gen, batch: 5 }
`,
    { real: ["jl"] },
  );
  try {
    await rig.p.start();
    for (let i = 0; i < 100; i++) rig.p.ingest(ev("d", i, i, { v: i }), "gen");
    await waitFor("delivery", () => rig.p.stats.delivered === 100);
    const base = join(rig.dir, "out/events.jsonl");
    assert.ok(existsSync(base) && existsSync(`${base}.1`) && existsSync(`${base}.2`));
    assert.not.ok(existsSync(`${base}.3`));
    const lines = [`${base}.2`, `${base}.1`, base].flatMap((f) => readFileSync(f, "utf8").trim().split("\n"));
    const evs = lines.map((l) => JSON.parse(l) as Event);
    assert.is(evs[evs.length - 1]!.id, "d/99");
    for (let i = 1; i < evs.length; i++) assert.is(evs[i]!.payload.v, (evs[i - 1]!.payload.v as number) + 1, "consecutive");
    for (const f of [base, `${base}.1`]) assert.ok(readFileSync(f).length <= 2048 + 200);
  } finally {
    await rig.cleanup();
  }
});

withPackages(test, ["mosquitto"])("mqtt sink publishes to a local topic on mosquitto", async () => {
  const td = tempDir("ridge-mosq-");
  const port = await freeTcpPort();
  const conf = join(td.dir, "mosquitto.conf");
  writeFileSync(conf, `${process.getuid?.() === 0 ? "user root\n" : ""}allow_anonymous true\npersistence false\nlistener ${port} 127.0.0.1\n`);
  const broker = startPeer("mosquitto", ["-c", conf], { maxSeconds: 60 });
  const rig = await makeRig(
    BASE +
      `pipeline:
  sources: { gen: { from: gen } }
  sinks:
    local: { mqtt: { url: "mqtt://127.0.0.1:${port}", topic: "site/{device}/{kind}", qos: 1 }, input: gen }
`,
    { real: ["local"] },
  );
  const mqtt = await import("mqtt");
  let sub: import("mqtt").MqttClient | undefined;
  try {
    await waitTcp(port);
    sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "ridge-test-sub" });
    const got: { topic: string; e: Event }[] = [];
    sub.on("message", (topic, payload) => got.push({ topic, e: JSON.parse(payload.toString()) as Event }));
    await sub.subscribeAsync("site/#", { qos: 1 });
    await rig.p.start();
    for (let i = 0; i < 20; i++) rig.p.ingest(ev(i % 2 ? "pump-1" : "pump-2", i, i, { v: i }), "gen");
    await waitFor("20 messages", () => got.length === 20, 10_000);
    assert.ok(got.some((g) => g.topic === "site/pump-1/telemetry"));
    assert.equal(new Set(got.map((g) => g.e.id)).size, 20);
  } finally {
    await sub?.endAsync();
    await rig.cleanup();
    await broker.stop();
    td.cleanup();
  }
});

test.run();
