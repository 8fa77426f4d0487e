/** The pipeline as nodes and what each reads from, for the console's graph (from the pipeline config). */
import type { PipelineGraphNode } from "./web-console.js";

interface GraphInput {
  sources: Record<string, { from?: string | string[] | undefined; http?: unknown }>;
  operators: Record<string, { kind?: string; input: string[] } & Record<string, unknown>>;
  sinks: Record<string, { kind?: string; input: string[] }>;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Names a route operator sends to (`cases: [{ to }]`, `default`), wherever they sit in its spec. */
function routeTargets(def: unknown, out: Set<string>, depth = 0): void {
  if (depth > 4 || def === null || typeof def !== "object") return;
  for (const [k, v] of Object.entries(def)) {
    if (k === "to" || k === "default") for (const t of list(v as string | string[])) if (typeof t === "string") out.add(t);
    if (typeof v === "object") routeTargets(v, out, depth + 1);
  }
}

export function pipelineGraph(p: GraphInput): PipelineGraphNode[] {
  const nodes: PipelineGraphNode[] = [];
  const drivers = new Set<string>();
  for (const [name, s] of Object.entries(p.sources)) {
    const from = list(s.from);
    for (const d of from) drivers.add(d);
    nodes.push({ name, role: "source", kind: s.http ? "http" : "drivers", inputs: from.map((d) => `driver:${d}`) });
  }
  const routed = new Map<string, string[]>();
  for (const [name, o] of Object.entries(p.operators)) {
    if (o.kind !== "route") continue;
    const targets = new Set<string>();
    routeTargets(o.spec, targets);
    for (const t of targets) routed.set(t, [...(routed.get(t) ?? []), name]);
  }
  for (const [name, o] of Object.entries(p.operators)) nodes.push({ name, role: "operator", ...(o.kind ? { kind: o.kind } : {}), inputs: [...o.input, ...(routed.get(name) ?? [])] });
  for (const [name, s] of Object.entries(p.sinks)) nodes.push({ name, role: "sink", ...(s.kind ? { kind: s.kind } : {}), inputs: [...s.input, ...(routed.get(name) ?? [])] });
  return [...[...drivers].sort().map((d): PipelineGraphNode => ({ name: `driver:${d}`, role: "driver", inputs: [] })), ...nodes];
}
