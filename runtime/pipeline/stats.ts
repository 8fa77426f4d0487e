/**
 * Pipeline counters that outlive a topology swap: per node in/out/dropped/late and processing
 * time, per inbox backpressure drops, and the end-to-end latency (ingest → sink) as an HDR
 * histogram in microseconds. Plain numbers on the hot path; /metrics reads them on scrape.
 */
import { LatencyHistogram } from "./latency-histogram.js";

export interface NodeStats {
  in: number;
  out: number;
  dropped: number;
  late: number;
  /** Total processing time (ms) and batches, for the per-operator latency. */
  busyMs: number;
  batches: number;
}

export class PipelineStats {
  readonly nodes = new Map<string, NodeStats>();
  /**
   * Events dropped by an inbox policy (or refused at an overflowing `block` inbox), by producer
   * then consumer: counted on the edge whose arrival caused the drop (with drop-oldest the event
   * dropped may have come in on another edge into the same consumer). Counting one builds no key.
   */
  private readonly drops = new Map<string, Map<string, number>>();
  /** Events refused at ingest because a `block` inbox was at twice its capacity (a producer ignoring backpressure). */
  overflow = 0;
  /** Events that matched no source. */
  unmatched = 0;
  ingested = 0;
  delivered = 0;
  sinkErrors = 0;
  reloads = { ok: 0, rejected: 0 };
  lastReloadMs: number | undefined;
  readonly e2e = new LatencyHistogram();

  drop(from: string, to: string, n: number): void {
    let byTo = this.drops.get(from);
    if (!byTo) this.drops.set(from, (byTo = new Map()));
    byTo.set(to, (byTo.get(to) ?? 0) + n);
  }

  /** The drops per edge "from->to" (status and /metrics). */
  get edgeDrops(): Map<string, { from: string; to: string; n: number }> {
    const out = new Map<string, { from: string; to: string; n: number }>();
    for (const [from, byTo] of this.drops) for (const [to, n] of byTo) out.set(`${from}->${to}`, { from, to, n });
    return out;
  }

  node(name: string): NodeStats {
    let s = this.nodes.get(name);
    if (!s) this.nodes.set(name, (s = { in: 0, out: 0, dropped: 0, late: 0, busyMs: 0, batches: 0 }));
    return s;
  }

  /** End-to-end latency in microseconds at the given quantile (0..100). */
  latencyUs(percentile: number): number {
    return this.e2e.totalCount ? this.e2e.getValueAtPercentile(percentile) : 0;
  }

  summary(): Record<string, unknown> {
    return {
      ingested: this.ingested,
      delivered: this.delivered,
      unmatched: this.unmatched,
      overflow: this.overflow,
      sinkErrors: this.sinkErrors,
      latencyMs: { p50: this.latencyUs(50) / 1000, p99: this.latencyUs(99) / 1000, p999: this.latencyUs(99.9) / 1000, count: this.e2e.totalCount },
      nodes: Object.fromEntries([...this.nodes].map(([n, s]) => [n, { in: s.in, out: s.out, dropped: s.dropped, late: s.late, avgUsPerEvent: s.in ? Number(((s.busyMs * 1000) / s.in).toFixed(3)) : 0 }])),
      edgeDrops: Object.fromEntries([...this.edgeDrops].map(([k, d]) => [k, d.n])),
      reloads: { ...this.reloads, lastMs: this.lastReloadMs },
    };
  }
}
