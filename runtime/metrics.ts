/**
 * Prometheus metrics: one registry per gateway, get-or-create helpers so components share names.
 * A `collect` callback fills a metric from the component's own counters at scrape time, so the
 * hot path only bumps plain numbers.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: "ridge_" });
  }

  counter(name: string, help: string, labelNames: readonly string[] = [], collect?: (c: Counter<string>) => void): Counter<string> {
    const m = this.registry.getSingleMetric(name);
    if (m) return m as Counter<string>;
    return new Counter({ name, help, labelNames: [...labelNames], registers: [this.registry], ...(collect ? { collect() { collect(this); } } : {}) });
  }

  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: (g: Gauge<string>) => void): Gauge<string> {
    const m = this.registry.getSingleMetric(name);
    if (m) return m as Gauge<string>;
    return new Gauge({ name, help, labelNames: [...labelNames], registers: [this.registry], ...(collect ? { collect() { collect(this); } } : {}) });
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: number[]): Histogram<string> {
    const m = this.registry.getSingleMetric(name);
    if (m) return m as Histogram<string>;
    return new Histogram({ name, help, labelNames: [...labelNames], registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
