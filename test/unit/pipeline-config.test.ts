import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, type ConfigIssue } from "../../core/config-errors.js";
import { loadConfig } from "../../runtime/config/load.js";

const HEAD = "gateway: { id: gw }\ndrivers:\n  - sim: { name: trail }\npipeline:\n";

// A gateway's pipeline replaces the board's whole, so snippets get the `trackers` source appended
// (after them, so the line numbers asserted below stay those of the snippet).
const TRACKERS = "  sources:\n    trackers: { from: trail, kind: telemetry }\n";

function issues(pipelineYaml: string): ConfigIssue[] {
  try {
    loadConfig({ text: HEAD + pipelineYaml + (/^  sources:/m.test(pipelineYaml) ? "" : TRACKERS), board: "sim" });
  } catch (e) {
    assert.instance(e, ConfigError, (e as Error).message);
    return (e as ConfigError).issues;
  }
  return [];
}

function one(pipelineYaml: string, code: string): ConfigIssue {
  const is = issues(pipelineYaml);
  const hit = is.find((i) => i.code === code);
  assert.ok(hit, `expected ${code}, got ${JSON.stringify(is)}`);
  return hit!;
}

test("a full topology validates and is typed", () => {
  const { config } = loadConfig({
    text:
      HEAD +
      `  sources:
    t: { from: trail, kind: telemetry, device: "tracker-*" }
    api: { http: { listen: "127.0.0.1:0", token: "0123456789abcdef0123" } }
  operators:
    f: { filter: "payload.altitude >= 500", input: [t, api] }
    m: { map: { alt_ft: "payload.altitude * 3.28084", meta.unit: "'ft'" }, input: f, edge: { capacity: 64, policy: drop-oldest } }
    d: { dedup: { max: 1000, ttl: 1m }, input: m }
    w: { window: { tumbling: 60s, key: device, lateness: 5s, watermark: auto }, aggregate: { alt: "avg(payload.altitude)", n: "count()" }, input: d }
    s: { window: { session: { gap: 30s }, watermark: 2s }, aggregate: { n: "count()" }, input: d }
    r: { route: [ { when: "payload.n > 10", to: loud }, { to: [quiet, cloud2] } ], input: w }
  sinks:
    loud: { log: { level: warn } }
    quiet: { file: { path: out/w.jsonl, rotate: { size: 1MiB, keep: 3 } } }
    cloud2: { uplink: {}, input: w.late }
    mq: { mqtt: { url: "mqtt://127.0.0.1:1883", topic: "ridge/{device}" }, input: s }
`,
    board: "sim",
  });
  const p = config.pipeline;
  assert.is(p.operators.w!.kind, "window");
  assert.equal(p.operators.f!.input, ["t", "api"]);
  assert.is(p.operators.m!.edge.policy, "drop-oldest");
  assert.is(p.operators.m!.edge.capacity, 64);
  assert.is(p.operators.d!.edge.policy, "block");
  const w = p.operators.w!;
  if (w.kind !== "window") throw new Error("kind");
  assert.is(w.spec.tumbling, 60_000);
  assert.is(w.spec.lateness, 5_000);
  assert.is(p.sinks.quiet!.kind, "file");
});

test("unknown operator kind → E_PIPELINE_UNKNOWN_OPERATOR at its key", () => {
  const i = one(`  operators:\n    x: { fliter: "payload.a > 1", input: trackers }\n`, "E_PIPELINE_UNKNOWN_OPERATOR");
  assert.is(i.path, "pipeline.operators.x.fliter");
  assert.is(i.line, 6);
  assert.ok(i.col > 1);
  assert.match(i.message, /expected one of filter, map, dedup, window, model, route/);
});

test("dangling reference → E_PIPELINE_REFERENCE with the known names", () => {
  const i = one(`  operators:\n    x: { filter: "payload.a > 1", input: nowhere }\n`, "E_PIPELINE_REFERENCE");
  assert.is(i.path, "pipeline.operators.x.input");
  assert.is(i.line, 6);
  assert.match(i.message, /nowhere/);
  const j = one(`  sinks:\n    out: { log: {}, input: [trackers, ghost] }\n`, "E_PIPELINE_REFERENCE");
  assert.is(j.path, "pipeline.sinks.out.input[1]");
  one(`  operators:\n    r: { route: [ { to: ghost } ], input: trackers }\n`, "E_PIPELINE_REFERENCE");
  one(`  operators:\n    x: { filter: "true", input: valid.late }\n`, "E_PIPELINE_REFERENCE");
  one(`  sinks:\n    a: { log: {}, input: trackers }\n    b: { log: {}, input: a }\n`, "E_PIPELINE_REFERENCE");
});

test("cycles → E_PIPELINE_CYCLE", () => {
  const i = one(`  operators:\n    a: { filter: "true", input: [trackers, c] }\n    b: { filter: "true", input: a }\n    c: { filter: "true", input: b }\n`, "E_PIPELINE_CYCLE");
  assert.match(i.message, /cycle: .*→/);
  one(`  operators:\n    a: { filter: "true", input: a }\n`, "E_PIPELINE_CYCLE");
  one(`  operators:\n    a: { filter: "true", input: [trackers] }\n    r: { route: [ { to: a } ], input: a }\n`, "E_PIPELINE_CYCLE");
});

test("bad expressions → their code, the column and the position of the value", () => {
  const i = one(`  operators:\n    x: { filter: "payload.a >= ", input: trackers }\n`, "E_EXPR_SYNTAX");
  assert.is(i.path, "pipeline.operators.x.filter");
  assert.is(i.line, 6);
  assert.is(i.col, 18);
  assert.match(i.message, /column 14/);
  const t = one(`  operators:\n    x: { map: { f: "payload.a * 'x'" }, input: trackers }\n`, "E_EXPR_TYPE");
  assert.is(t.path, "pipeline.operators.x.map.f");
  one(`  operators:\n    x: { filter: "altitude > 1", input: trackers }\n`, "E_EXPR_UNKNOWN_NAME");
  one(`  operators:\n    x: { filter: "payload.a * 2 - 1", input: trackers }\n`, "E_EXPR_TYPE");
  one(`  operators:\n    w: { window: { tumbling: 1s }, aggregate: { m: "median(payload.a)" }, input: trackers }\n`, "E_EXPR_AGGREGATE");
  one(`  operators:\n    w: { window: { tumbling: 1s, key: "payload.(" }, aggregate: { n: "count()" }, input: trackers }\n`, "E_EXPR_SYNTAX");
});

test("window specs", () => {
  one(`  operators:\n    w: { window: { tumbling: 1s, session: { gap: 2s } }, aggregate: { n: "count()" }, input: trackers }\n`, "E_PIPELINE_WINDOW");
  one(`  operators:\n    w: { window: { sliding: { size: 1s, hop: 2s } }, aggregate: { n: "count()" }, input: trackers }\n`, "E_PIPELINE_WINDOW");
  one(`  operators:\n    w: { window: { tumbling: 1s }, input: trackers }\n`, "E_PIPELINE_WINDOW");
  const d = issues(`  operators:\n    w: { window: { tumbling: soon }, aggregate: { n: "count()" }, input: trackers }\n`);
  assert.ok(d.some((i) => i.path === "pipeline.operators.w.window.tumbling"), JSON.stringify(d));
});

test("names, sinks, edges, sources", () => {
  one(`  sources:\n    x: { from: trail }\n  operators:\n    x: { filter: "true", input: trackers }\n`, "E_PIPELINE_DUPLICATE_NAME");
  one(`  sinks:\n    s: { kafka: {}, input: trackers }\n`, "E_PIPELINE_UNKNOWN_SINK");
  one(`  sinks:\n    s: { log: {} }\n`, "E_PIPELINE_UNCONNECTED");
  one(`  sources:\n    s: { kind: telemetry }\n`, "E_PIPELINE_SOURCE");
  one(`  operators:\n    x: { filter: "true" }\n`, "E_PIPELINE_INPUT");
  one(`  operators:\n    x: { filter: "true", input: trackers, edge: { policy: drop-random } }\n`, "E_CONFIG_ENUM");
  one(`  sources:\n    h: { http: { listen: "127.0.0.1:1", token: short } }\n`, "E_CONFIG_RANGE");
});



test("pipeline.edges is the default inbox of every operator and sink; a node's own edge overrides it key by key", () => {
  const text = `${HEAD}  edges: { capacity: 64, policy: drop-oldest }\n  sources:\n    trackers: { from: trail, kind: telemetry }\n  operators:\n    a: { filter: "true", input: trackers }\n    b: { filter: "true", input: a, edge: { capacity: 8 } }\n  sinks:\n    out: { log: {}, input: b, edge: { policy: block } }\n    all: { log: {}, input: a }\n`;
  const { config } = loadConfig({ text, board: "sim" });
  const p = config.pipeline;
  assert.equal(p.operators.a!.edge, { capacity: 64, policy: "drop-oldest" });
  assert.equal(p.operators.b!.edge, { capacity: 8, policy: "drop-oldest" });
  assert.equal(p.sinks.out!.edge, { capacity: 64, policy: "block" });
  assert.equal(p.sinks.all!.edge, { capacity: 64, policy: "drop-oldest" });
  // without `edges:` the built-in default holds
  const plain = loadConfig({ text: `${HEAD}${TRACKERS}  sinks:\n    out: { log: {}, input: trackers }\n`, board: "sim" }).config.pipeline;
  assert.equal(plain.sinks.out!.edge, { capacity: 1024, policy: "block" });
});

test.run();
