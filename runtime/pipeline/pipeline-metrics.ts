/**
 * The pipeline's Prometheus metrics, filled at scrape time from its plain counters (stats.ts) and
 * the running engine's inbox depths: the engine itself never touches prom-client.
 */
import type { Metrics } from "../metrics.js";
import type { PipelineStats } from "./stats.js";

export function registerPipelineMetrics(m: Metrics, stats: PipelineStats, depths: () => Record<string, number>): void {
  m.counter("ridge_pipeline_events_total", "Events into and out of each pipeline node, and those it dropped (filtered, duplicate) or sent late", ["node", "dir"], (c) => {
    c.reset();
    for (const [node, s] of stats.nodes) {
      c.inc({ node, dir: "in" }, s.in);
      c.inc({ node, dir: "out" }, s.out);
      c.inc({ node, dir: "dropped" }, s.dropped);
      c.inc({ node, dir: "late" }, s.late);
    }
  });
  m.counter("ridge_pipeline_edge_dropped_total", "Events dropped by an inbox's policy (drop-oldest, drop-newest) or refused when a block inbox overflowed", ["from", "to"], (c) => {
    c.reset();
    for (const d of stats.edgeDrops.values()) c.inc({ from: d.from, to: d.to }, d.n);
  });
  m.gauge("ridge_pipeline_queue_depth", "Events waiting in each node's inbox (sinks: including the batch in flight)", ["node"], (g) => {
    g.reset();
    for (const [node, d] of Object.entries(depths())) g.set({ node }, d);
  });
  m.gauge("ridge_pipeline_operator_seconds_per_event", "Average processing time per event of each operator", ["node"], (g) => {
    g.reset();
    for (const [node, s] of stats.nodes) if (s.in) g.set({ node }, s.busyMs / 1000 / s.in);
  });
  m.gauge("ridge_pipeline_latency_seconds", "End-to-end latency from ingest to sink (HDR histogram quantiles)", ["quantile"], (g) => {
    for (const [q, label] of [[50, "0.5"], [99, "0.99"], [99.9, "0.999"]] as const) g.set({ quantile: label }, stats.latencyUs(q) / 1e6);
  });
  m.counter("ridge_pipeline_reloads_total", "Pipeline reloads by result", ["result"], (c) => {
    c.reset();
    c.inc({ result: "ok" }, stats.reloads.ok);
    c.inc({ result: "rejected" }, stats.reloads.rejected);
  });
}
