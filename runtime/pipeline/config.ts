/**
 * The `pipeline` section: named sources, operators and sinks wired by name. Validated here with
 * located errors (zod custom issues carry a code and a path; core/config-errors.ts adds file:line:col):
 * unknown operator kinds, dangling references, cycles and expression errors (with their column).
 */
import { z } from "zod";
import { duration, listenAddress, size } from "../../core/index.js";
import { ExpressionError, compileAggregate, compileExpression, compilePredicate } from "./expression.js";

const policy = z.enum(["block", "drop-oldest", "drop-newest"]);
export type EdgePolicy = z.infer<typeof policy>;

const edgeConfig = z
  .object({
    /**
     * Events held between this node and its inputs before the policy applies. The default keeps
     * what is in flight well under V8's young generation: at 4096 per edge, queued events outlived
     * young-generation collections and were promoted, and collection took a quarter of the
     * pipeline's time (the pipeline benchmark's workload under `--trace-gc`: 1.17 s of scavenges
     * and 13 mark-compacts per 4.4M events, against 0.42 s and 3 at 1024).
     */
    capacity: z.number().int().min(1).max(1_000_000).default(1024),
    policy: policy.default("block"),
  })
  .strict();
export type EdgeConfig = z.output<typeof edgeConfig>;

/** A node's own `edge:`: what it sets wins over `pipeline.edges`, the rest comes from there. */
const edgeOverride = z.object({ capacity: z.number().int().min(1).max(1_000_000).optional(), policy: policy.optional() }).strict();

function ownEdge(e: unknown): Partial<EdgeConfig> {
  if (e === undefined) return {};
  const o = edgeOverride.parse(e);
  return { ...(o.capacity !== undefined ? { capacity: o.capacity } : {}), ...(o.policy !== undefined ? { policy: o.policy } : {}) };
}

const names = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
const nameList = z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (Array.isArray(v) ? v : [v]));

// ---------------------------------------------------------------- sources

const httpSource = z
  .object({
    listen: listenAddress,
    /** Bearer token required on every request (use `${VAR}` to keep it out of the file). */
    token: z.string().min(16, "a bearer token of at least 16 characters"),
    path: z.string().startsWith("/").default("/events"),
    maxBody: size.default(1024 * 1024),
    /** Seconds a client is told to wait (Retry-After) when the pipeline pushes back. */
    retryAfter: z.number().int().min(1).max(3600).default(1),
  })
  .strict();
export type HttpSourceConfig = z.output<typeof httpSource>;

const sourceConfig = z
  .object({
    /** Driver name(s) whose events this source takes. */
    from: nameList.optional(),
    /** Device ids or globs (`pump-*`). */
    device: nameList.optional(),
    kind: nameList.optional(),
    http: httpSource.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.from && !s.http) ctx.addIssue({ code: "custom", message: "a source needs `from: <driver>` or `http: { listen, token }`", params: { code: "E_PIPELINE_SOURCE" } });
    if (s.from && s.http) ctx.addIssue({ code: "custom", path: ["http"], message: "a source is either `from` drivers or `http`, not both", params: { code: "E_PIPELINE_SOURCE" } });
  });
export type SourceConfig = z.output<typeof sourceConfig>;

// ---------------------------------------------------------------- operators

function exprIssue(ctx: z.RefinementCtx, path: (string | number)[], src: string, e: unknown): void {
  if (e instanceof ExpressionError)
    ctx.addIssue({ code: "custom", path, message: `column ${e.column} of "${src}": ${e.message}`, params: { code: e.code, column: e.column } });
  else throw e;
}

const expr = z.string().superRefine((src, ctx) => {
  try {
    compileExpression(src);
  } catch (e) {
    exprIssue(ctx, [], src, e);
  }
});
const predicate = z.string().superRefine((src, ctx) => {
  try {
    compilePredicate(src);
  } catch (e) {
    exprIssue(ctx, [], src, e);
  }
});
const aggregate = z.string().superRefine((src, ctx) => {
  try {
    compileAggregate(src);
  } catch (e) {
    exprIssue(ctx, [], src, e);
  }
});

/** Map: target field → expression. `temp_f` or `payload.temp_f` set a payload field; `meta.x`, `kind`, `device`, `ts` set those. */
const mapSpec = z.record(z.string().regex(/^(payload\.[A-Za-z0-9_]+|meta\.[A-Za-z0-9_]+|kind|device|ts|[A-Za-z_][A-Za-z0-9_]*)$/, "a target field such as temp_f, payload.temp_f, meta.unit or kind"), expr);

const dedupSpec = z
  .object({
    /** The key (default: the event id). */
    key: expr.default("id"),
    /** How many keys are remembered at most (the oldest are forgotten first). */
    max: z.number().int().min(1).max(10_000_000).default(100_000),
    /** How long (event time, behind the newest event seen) a key is remembered. */
    ttl: duration.default(600_000),
  })
  .strict();

const watermarkSpec = z.union([
  z.literal("auto"),
  duration,
  z
    .object({
      auto: z.literal(true),
      quantile: z.number().gt(0).lt(1).default(0.99),
      floor: duration.default(0),
      cap: duration.default(60_000),
    })
    .strict(),
]);

const windowSpec = z
  .object({
    tumbling: duration.optional(),
    sliding: z.object({ size: duration, hop: duration }).strict().optional(),
    session: z.object({ gap: duration }).strict().optional(),
    /** `device` (default) or any expression. */
    key: expr.default("device"),
    /** Out-of-orderness bound: watermark = max event time − this. `auto` learns it from observed lateness. */
    watermark: watermarkSpec.default("auto"),
    /** Allowed lateness: a fired window still takes (and re-emits for) events this far behind the watermark. */
    lateness: duration.default(0),
    /** A key with no events for this long (processing time) has its watermark advanced with the clock. */
    idle: duration.default(30_000),
    /** Kind of the result events. */
    kind: z.string().default("aggregate"),
  })
  .strict()
  .superRefine((w, ctx) => {
    const n = [w.tumbling, w.sliding, w.session].filter((x) => x !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: "custom", message: "a window is exactly one of tumbling: <size>, sliding: { size, hop }, session: { gap }", params: { code: "E_PIPELINE_WINDOW" } });
    if (w.tumbling === 0) ctx.addIssue({ code: "custom", path: ["tumbling"], message: "a window size must be above 0", params: { code: "E_PIPELINE_WINDOW" } });
    if (w.sliding && (w.sliding.hop <= 0 || w.sliding.size <= 0 || w.sliding.hop > w.sliding.size))
      ctx.addIssue({ code: "custom", path: ["sliding"], message: "a sliding window needs 0 < hop <= size", params: { code: "E_PIPELINE_WINDOW" } });
    if (w.sliding && w.sliding.hop > 0 && w.sliding.size / w.sliding.hop > 1000)
      ctx.addIssue({ code: "custom", path: ["sliding"], message: "size / hop above 1000 windows per event", params: { code: "E_PIPELINE_WINDOW" } });
    if (w.session && w.session.gap <= 0) ctx.addIssue({ code: "custom", path: ["session", "gap"], message: "a session gap must be above 0", params: { code: "E_PIPELINE_WINDOW" } });
  });
export type WindowSpec = z.output<typeof windowSpec>;

const modelSpec = z
  .object({
    /** The model's name in the model cache (`<data>/models/current/<name>`). */
    name: z.string().min(1),
    /** A model file (JSON built-in format or .onnx), relative to the data directory; used when the cache has none. */
    file: z.string().optional(),
    /** Features by name → expression; default: payload.<feature name> for each feature the model declares. */
    features: z.record(expr).optional(),
    /** Payload field the score is written to. */
    output: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default("score"),
  })
  .strict();
export type ModelSpec = z.output<typeof modelSpec>;

const routeCase = z.object({ when: predicate.optional(), to: names }).strict();
const routeSpec = z.array(routeCase).min(1);

export const operatorKinds = {
  filter: predicate,
  map: mapSpec,
  dedup: dedupSpec,
  window: windowSpec,
  model: modelSpec,
  route: routeSpec,
} as const;
export type OperatorKind = keyof typeof operatorKinds;
export const operatorKindNames = Object.keys(operatorKinds) as OperatorKind[];

export type OperatorDef =
  | { kind: "filter"; spec: string }
  | { kind: "map"; spec: Record<string, string> }
  | { kind: "dedup"; spec: z.output<typeof dedupSpec> }
  | { kind: "window"; spec: WindowSpec; aggregate: Record<string, string> }
  | { kind: "model"; spec: ModelSpec }
  | { kind: "route"; spec: z.output<typeof routeSpec> };

const EXTRA_KEYS = ["input", "edge", "aggregate"];

const operatorEntry = z
  .record(z.unknown())
  .superRefine((o, ctx) => {
    const kinds = Object.keys(o).filter((k) => !EXTRA_KEYS.includes(k));
    if (kinds.length !== 1) {
      ctx.addIssue({ code: "custom", message: `an operator has exactly one kind (one of ${operatorKindNames.join(", ")}), got ${kinds.length ? kinds.join(", ") : "none"}`, params: { code: "E_PIPELINE_UNKNOWN_OPERATOR" } });
      return;
    }
    const kind = kinds[0]!;
    if (!(kind in operatorKinds)) {
      ctx.addIssue({ code: "custom", path: [kind], message: `unknown operator "${kind}": expected one of ${operatorKindNames.join(", ")}`, params: { code: "E_PIPELINE_UNKNOWN_OPERATOR" } });
      return;
    }
    const r = (operatorKinds[kind as OperatorKind] as z.ZodTypeAny).safeParse(o[kind]);
    if (!r.success) for (const is of r.error.issues) ctx.addIssue({ ...is, path: [kind, ...is.path] } as z.IssueData);
    if (o.input !== undefined && !names.safeParse(o.input).success)
      ctx.addIssue({ code: "custom", path: ["input"], message: "`input` is a source or operator name, or a list of them", params: { code: "E_PIPELINE_INPUT" } });
    if (o.edge !== undefined) {
      const re = edgeOverride.safeParse(o.edge);
      if (!re.success) for (const is of re.error.issues) ctx.addIssue({ ...is, path: ["edge", ...is.path] } as z.IssueData);
    }
    if (kind === "window") {
      const ra = z.record(aggregate).safeParse(o.aggregate ?? {});
      if (!ra.success) for (const is of ra.error.issues) ctx.addIssue({ ...is, path: ["aggregate", ...is.path] } as z.IssueData);
      else if (Object.keys(ra.data).length === 0) ctx.addIssue({ code: "custom", path: ["window"], message: "a window needs `aggregate: { name: fn(expr) }` (e.g. n: count())", params: { code: "E_PIPELINE_WINDOW" } });
    } else if (o.aggregate !== undefined) ctx.addIssue({ code: "custom", path: ["aggregate"], message: "`aggregate` belongs to a window operator", params: { code: "E_CONFIG_UNKNOWN_KEY" } });
  })
  .transform((o) => {
    const kind = Object.keys(o).find((k) => !EXTRA_KEYS.includes(k)) as OperatorKind;
    const spec = (operatorKinds[kind] as z.ZodTypeAny).parse(o[kind]) as unknown;
    const def = (kind === "window" ? { kind, spec, aggregate: o.aggregate ?? {} } : { kind, spec }) as OperatorDef;
    return { ...def, input: o.input === undefined ? [] : names.parse(o.input), edge: ownEdge(o.edge) as EdgeConfig } as OperatorDef & { input: string[]; edge: EdgeConfig };
  });
export type OperatorConfig = z.output<typeof operatorEntry>;

// ---------------------------------------------------------------- sinks

export const sinkKinds = {
  uplink: z.object({ priority: z.enum(["alarm", "state", "telemetry"]).optional() }).strict(),
  mqtt: z
    .object({
      url: z.string().regex(/^mqtts?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\]|[^/:]+)(:\d+)?\/?$/, "an MQTT URL such as mqtt://127.0.0.1:1883"),
      /** `{device}`, `{kind}`, `{id}` are replaced per event. */
      topic: z.string().min(1).default("ridge/local/{device}/{kind}"),
      qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
      retain: z.boolean().default(false),
      username: z.string().optional(),
      password: z.string().optional(),
    })
    .strict(),
  log: z.object({ level: z.enum(["debug", "info", "warn"]).default("info") }).strict(),
  file: z
    .object({
      /** Relative to the data directory unless absolute. */
      path: z.string().min(1),
      rotate: z.object({ size: size.default(10 * 1024 * 1024), keep: z.number().int().min(1).max(100).default(5) }).strict().default({}),
      /** fsync every batch before acknowledging it. */
      fsync: z.boolean().default(false),
    })
    .strict(),
} as const;
export type SinkKind = keyof typeof sinkKinds;
export const sinkKindNames = Object.keys(sinkKinds) as SinkKind[];
export type SinkDef =
  | { kind: "uplink"; spec: z.output<(typeof sinkKinds)["uplink"]> }
  | { kind: "mqtt"; spec: z.output<(typeof sinkKinds)["mqtt"]> }
  | { kind: "log"; spec: z.output<(typeof sinkKinds)["log"]> }
  | { kind: "file"; spec: z.output<(typeof sinkKinds)["file"]> };

const sinkEntry = z
  .record(z.unknown())
  .superRefine((o, ctx) => {
    const kinds = Object.keys(o).filter((k) => k !== "input" && k !== "edge" && k !== "batch");
    if (kinds.length !== 1) {
      ctx.addIssue({ code: "custom", message: `a sink has exactly one kind (one of ${sinkKindNames.join(", ")}), got ${kinds.length ? kinds.join(", ") : "none"}`, params: { code: "E_PIPELINE_UNKNOWN_SINK" } });
      return;
    }
    const kind = kinds[0]!;
    if (!(kind in sinkKinds)) {
      ctx.addIssue({ code: "custom", path: [kind], message: `unknown sink "${kind}": expected one of ${sinkKindNames.join(", ")}`, params: { code: "E_PIPELINE_UNKNOWN_SINK" } });
      return;
    }
    const r = (sinkKinds[kind as SinkKind] as z.ZodTypeAny).safeParse(o[kind] ?? {});
    if (!r.success) for (const is of r.error.issues) ctx.addIssue({ ...is, path: [kind, ...is.path] } as z.IssueData);
    if (o.input !== undefined && !nameList.safeParse(o.input).success) ctx.addIssue({ code: "custom", path: ["input"], message: "`input` is a name or a list of names", params: { code: "E_PIPELINE_INPUT" } });
    if (o.edge !== undefined) {
      const re = edgeOverride.safeParse(o.edge);
      if (!re.success) for (const is of re.error.issues) ctx.addIssue({ ...is, path: ["edge", ...is.path] } as z.IssueData);
    }
    if (o.batch !== undefined && !z.number().int().min(1).max(100_000).safeParse(o.batch).success)
      ctx.addIssue({ code: "custom", path: ["batch"], message: "`batch` is the most events handed to the sink at once (1..100000)", params: { code: "E_CONFIG_RANGE" } });
  })
  .transform((o) => {
    const kind = Object.keys(o).find((k) => k !== "input" && k !== "edge" && k !== "batch") as SinkKind;
    const spec = (sinkKinds[kind] as z.ZodTypeAny).parse(o[kind] ?? {}) as unknown;
    return { kind, spec, input: o.input === undefined ? [] : nameList.parse(o.input), edge: ownEdge(o.edge) as EdgeConfig, batch: (o.batch as number | undefined) ?? 512 } as SinkDef & { input: string[]; edge: EdgeConfig; batch: number };
  });
export type SinkConfig = z.output<typeof sinkEntry>;

// ---------------------------------------------------------------- topology

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export const pipelineConfig = z
  .object({
    sources: z.record(sourceConfig).default({}),
    operators: z.record(operatorEntry).default({}),
    sinks: z.record(sinkEntry).default({}),
    /** Operator state (windows, dedup sets, watermarks) and in-flight events are saved this often and on shutdown. */
    checkpoint: z.object({ every: duration.default(5_000) }).strict().default({}),
    /** Defaults for every edge without its own `edge:`. */
    edges: edgeConfig.default({}),
  })
  .strict()
  .superRefine((p, ctx) => validateTopology(p, ctx))
  // every operator's and sink's inbox: `pipeline.edges`, overridden key by key by its own `edge:`
  .transform((p) => ({
    ...p,
    operators: Object.fromEntries(Object.entries(p.operators).map(([n, o]) => [n, { ...o, edge: { ...p.edges, ...o.edge } }])),
    sinks: Object.fromEntries(Object.entries(p.sinks).map(([n, o]) => [n, { ...o, edge: { ...p.edges, ...o.edge } }])),
  }));
export type PipelineConfig = z.output<typeof pipelineConfig>;

/** Names an operator can read from: sources, operators, and `<window>.late` side outputs. */
function validateTopology(p: { sources: Record<string, unknown>; operators: Record<string, OperatorConfig>; sinks: Record<string, SinkConfig> }, ctx: z.RefinementCtx): void {
  const owner = new Map<string, "sources" | "operators" | "sinks">();
  for (const sec of ["sources", "operators", "sinks"] as const)
    for (const n of Object.keys(p[sec])) {
      if (!NAME.test(n) || n.includes(".")) ctx.addIssue({ code: "custom", path: [sec, n], message: `"${n}" is not a valid name (letters, digits, '_' or '-', starting with a letter)`, params: { code: "E_PIPELINE_NAME" } });
      const prev = owner.get(n);
      if (prev) ctx.addIssue({ code: "custom", path: [sec, n], message: `the name "${n}" is already used in ${prev}`, params: { code: "E_PIPELINE_DUPLICATE_NAME" } });
      else owner.set(n, sec);
    }
  const readable = (ref: string): "ok" | "sink" | "unknown" => {
    const [base, port, ...rest] = ref.split(".");
    if (rest.length) return "unknown";
    const o = owner.get(base!);
    if (!o) return "unknown";
    if (o === "sinks") return "sink";
    if (port === undefined) return "ok";
    return o === "operators" && port === "late" && p.operators[base!]?.kind === "window" ? "ok" : "unknown";
  };
  const known = () => [...owner.entries()].filter(([, s]) => s !== "sinks").map(([n]) => n).join(", ") || "none";
  const deps = new Map<string, string[]>();
  const routed = new Set<string>();
  for (const op of Object.values(p.operators)) if (op.kind === "route") for (const c of op.spec) for (const t of c.to) routed.add(t);
  for (const [name, op] of Object.entries(p.operators)) {
    if (op.input.length === 0 && !routed.has(name))
      ctx.addIssue({ code: "custom", path: ["operators", name], message: `operator "${name}" needs \`input: <source or operator>\` (or a route sending to it)`, params: { code: "E_PIPELINE_INPUT" } });
    op.input.forEach((ref, i) => {
      const r = readable(ref);
      const path = ["operators", name, "input", ...(op.input.length > 1 ? [i] : [])];
      if (r === "sink") ctx.addIssue({ code: "custom", path, message: `"${ref}" is a sink; an operator reads from a source or another operator`, params: { code: "E_PIPELINE_REFERENCE" } });
      else if (r === "unknown") ctx.addIssue({ code: "custom", path, message: `no source or operator named "${ref}" (known: ${known()})`, params: { code: "E_PIPELINE_REFERENCE" } });
    });
    deps.set(name, op.input.map((r) => r.split(".")[0]!));
    if (op.kind === "route")
      op.spec.forEach((c, ci) =>
        c.to.forEach((t, ti) => {
          const o = owner.get(t);
          if (o !== "sinks" && o !== "operators")
            ctx.addIssue({ code: "custom", path: ["operators", name, "route", ci, "to", ...(c.to.length > 1 ? [ti] : [])], message: `no sink or operator named "${t}"`, params: { code: "E_PIPELINE_REFERENCE" } });
          else if (o === "operators") deps.set(t, [...(deps.get(t) ?? []), name]);
        }),
      );
  }
  for (const [name, sk] of Object.entries(p.sinks)) {
    sk.input.forEach((ref, i) => {
      const r = readable(ref);
      const path = ["sinks", name, "input", ...(sk.input.length > 1 ? [i] : [])];
      if (r === "sink") ctx.addIssue({ code: "custom", path, message: `"${ref}" is a sink; a sink reads from a source or an operator`, params: { code: "E_PIPELINE_REFERENCE" } });
      else if (r === "unknown") ctx.addIssue({ code: "custom", path, message: `no source or operator named "${ref}" (known: ${known()})`, params: { code: "E_PIPELINE_REFERENCE" } });
    });
    if (sk.input.length === 0 && !routed.has(name)) ctx.addIssue({ code: "custom", path: ["sinks", name], message: `sink "${name}" has no input and no route sends to it`, params: { code: "E_PIPELINE_UNCONNECTED" } });
  }
  // cycles among operators (depth-first, reporting the first operator of each cycle found)
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      if (!(d in p.operators)) continue;
      const s = state.get(d);
      if (s === 1) {
        const cyc = [...stack.slice(stack.indexOf(d)), d];
        ctx.addIssue({ code: "custom", path: ["operators", d, "input"], message: `cycle: ${cyc.reverse().join(" → ")}`, params: { code: "E_PIPELINE_CYCLE" } });
      } else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of Object.keys(p.operators)) if (!state.has(n)) visit(n);
}
