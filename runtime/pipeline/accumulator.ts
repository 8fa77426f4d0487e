/**
 * Window aggregates as small mergeable accumulators: count, sum, min, max, avg, first, last,
 * stddev (population, Welford/Chan so panes and sessions merge), p50/p95/p99 (quantile sketch).
 * `first`/`last` follow event time (ties: arrival order), so out-of-order arrival does not change them.
 */
import type { Event } from "../../core/index.js";
import type { AggregateSpec } from "./expression.js";
import { QuantileSketch, type SketchState } from "./quantile-sketch.js";

export interface Accumulator {
  add(v: unknown, ts: number): void;
  merge(o: Accumulator): void;
  result(): unknown;
  state(): unknown;
  /** Back to empty (a window object reused for a new window). */
  reset(): void;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

class Count implements Accumulator {
  constructor(
    private readonly all: boolean,
    public n = 0,
  ) {}
  add(v: unknown): void {
    if (this.all || (v !== undefined && v !== null)) this.n++;
  }
  reset(): void {
    this.n = 0;
  }
  merge(o: Count): void {
    this.n += o.n;
  }
  result(): number {
    return this.n;
  }
  state(): number {
    return this.n;
  }
}

class Sum implements Accumulator {
  constructor(
    public s = 0,
    public n = 0,
  ) {}
  add(v: unknown): void {
    if (isNum(v)) {
      this.s += v;
      this.n++;
    }
  }
  reset(): void {
    this.s = this.n = 0;
  }
  merge(o: Sum): void {
    this.s += o.s;
    this.n += o.n;
  }
  result(): number | null {
    return this.n ? this.s : null;
  }
  state(): [number, number] {
    return [this.s, this.n];
  }
}

class Avg extends Sum {
  override result(): number | null {
    return this.n ? this.s / this.n : null;
  }
}

class Extreme implements Accumulator {
  constructor(
    private readonly max: boolean,
    public v: number | null = null,
  ) {}
  add(v: unknown): void {
    if (isNum(v) && (this.v === null || (this.max ? v > this.v : v < this.v))) this.v = v;
  }
  reset(): void {
    this.v = null;
  }
  merge(o: Extreme): void {
    if (o.v !== null) this.add(o.v);
  }
  result(): number | null {
    return this.v;
  }
  state(): number | null {
    return this.v;
  }
}

class Edge implements Accumulator {
  constructor(
    private readonly last: boolean,
    public v: unknown = null,
    public ts: number | null = null,
  ) {}
  add(v: unknown, ts: number): void {
    if (v === undefined) v = null;
    if (this.ts === null || (this.last ? ts >= this.ts : ts < this.ts)) {
      this.v = v;
      this.ts = ts;
    }
  }
  reset(): void {
    this.v = this.ts = null;
  }
  merge(o: Edge): void {
    if (o.ts !== null) this.add(o.v, o.ts);
  }
  result(): unknown {
    return this.v;
  }
  state(): [unknown, number | null] {
    return [this.v, this.ts];
  }
}

class Stddev implements Accumulator {
  constructor(
    public n = 0,
    public mean = 0,
    public m2 = 0,
  ) {}
  add(v: unknown): void {
    if (!isNum(v)) return;
    this.n++;
    const d = v - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (v - this.mean);
  }
  reset(): void {
    this.n = this.mean = this.m2 = 0;
  }
  merge(o: Stddev): void {
    if (o.n === 0) return;
    const n = this.n + o.n;
    const d = o.mean - this.mean;
    this.m2 += o.m2 + (d * d * this.n * o.n) / n;
    this.mean += (d * o.n) / n;
    this.n = n;
  }
  result(): number | null {
    return this.n ? Math.sqrt(Math.max(0, this.m2 / this.n)) : null;
  }
  state(): [number, number, number] {
    return [this.n, this.mean, this.m2];
  }
}

class Quantile implements Accumulator {
  constructor(
    private readonly q: number,
    public sk = new QuantileSketch(),
  ) {}
  add(v: unknown): void {
    if (isNum(v)) this.sk.add(v);
  }
  reset(): void {
    this.sk.clear();
  }
  merge(o: Quantile): void {
    this.sk.merge(o.sk);
  }
  result(): number | null {
    return this.sk.quantile(this.q);
  }
  state(): SketchState {
    return this.sk.toJSON();
  }
}

/** A fresh accumulator for a spec, or one restored from `state()`. */
export function makeAccumulator(spec: AggregateSpec, state?: unknown): Accumulator {
  const s = state as never;
  switch (spec.fn) {
    case "count":
      return new Count(spec.arg === undefined, s ?? 0);
    case "sum":
      return state ? new Sum(...(s as [number, number])) : new Sum();
    case "avg":
      return state ? new Avg(...(s as [number, number])) : new Avg();
    case "min":
      return new Extreme(false, s ?? null);
    case "max":
      return new Extreme(true, s ?? null);
    case "first":
      return state ? new Edge(false, ...(s as [unknown, number | null])) : new Edge(false);
    case "last":
      return state ? new Edge(true, ...(s as [unknown, number | null])) : new Edge(true);
    case "stddev":
      return state ? new Stddev(...(s as [number, number, number])) : new Stddev();
    case "p50":
    case "p95":
    case "p99": {
      const q = spec.fn === "p50" ? 0.5 : spec.fn === "p95" ? 0.95 : 0.99;
      return new Quantile(q, state ? QuantileSketch.from(s) : new QuantileSketch());
    }
  }
}

/** The value an aggregate reads from one event. */
export function aggregateInput(spec: AggregateSpec, e: Event): unknown {
  return spec.arg ? spec.arg(e) : 1;
}
