/**
 * A mergeable quantile sketch with relative accuracy (the DDSketch idea: logarithmic buckets,
 * Masson, Rim & Lee, VLDB 2019): a value x > 0 lands in bucket ceil(log_γ x) with γ = (1+α)/(1−α),
 * so any reported quantile is within α of a true sample value. Merging adds bucket counts, so
 * window panes and sessions merge exactly. Deterministic and serialisable for checkpoints.
 */
export const SKETCH_ALPHA = 0.01;
const GAMMA = (1 + SKETCH_ALPHA) / (1 - SKETCH_ALPHA);
const LOG_GAMMA = Math.log(GAMMA);
/** Values closer to 0 than this count as zero. */
const MIN_VALUE = 1e-9;

export type SketchState = [zero: number, pos: [number, number][], neg: [number, number][]];

export class QuantileSketch {
  private zero = 0;
  private readonly pos = new Map<number, number>();
  private readonly neg = new Map<number, number>();
  count = 0;

  add(x: number): void {
    if (!Number.isFinite(x)) return;
    this.count++;
    if (Math.abs(x) < MIN_VALUE) this.zero++;
    else {
      const m = x > 0 ? this.pos : this.neg;
      const k = Math.ceil(Math.log(Math.abs(x)) / LOG_GAMMA);
      m.set(k, (m.get(k) ?? 0) + 1);
    }
  }

  clear(): void {
    this.zero = this.count = 0;
    this.pos.clear();
    this.neg.clear();
  }

  merge(o: QuantileSketch): void {
    this.count += o.count;
    this.zero += o.zero;
    for (const [k, n] of o.pos) this.pos.set(k, (this.pos.get(k) ?? 0) + n);
    for (const [k, n] of o.neg) this.neg.set(k, (this.neg.get(k) ?? 0) + n);
  }

  /** The q-quantile (0..1) by the lower rank rule: the value of rank floor(q·(n−1)); null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.floor(q * (this.count - 1));
    let seen = 0;
    const negKeys = [...this.neg.keys()].sort((a, b) => b - a);
    for (const k of negKeys) {
      seen += this.neg.get(k)!;
      if (seen > rank) return -bucketValue(k);
    }
    seen += this.zero;
    if (seen > rank) return 0;
    const posKeys = [...this.pos.keys()].sort((a, b) => a - b);
    for (const k of posKeys) {
      seen += this.pos.get(k)!;
      if (seen > rank) return bucketValue(k);
    }
    return bucketValue(posKeys[posKeys.length - 1] ?? 0);
  }

  toJSON(): SketchState {
    return [this.zero, [...this.pos], [...this.neg]];
  }

  static from(s: SketchState): QuantileSketch {
    const q = new QuantileSketch();
    q.zero = s[0];
    q.count = s[0];
    for (const [k, n] of s[1]) {
      q.pos.set(k, n);
      q.count += n;
    }
    for (const [k, n] of s[2]) {
      q.neg.set(k, n);
      q.count += n;
    }
    return q;
  }
}

/** The representative of bucket k: within α of every value in (γ^(k−1), γ^k]. */
function bucketValue(k: number): number {
  return (2 * GAMMA ** k) / (GAMMA + 1);
}
