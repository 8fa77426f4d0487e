/**
 * A log-linear latency histogram in the HDR style: exact below 2048, then 1024 linear sub-buckets
 * per power of two (relative error under 0.1 %), fixed memory (~200 KB), O(1) record. Replaces a
 * dependency whose eager WASM load cost ~14 MB of RSS at start-up for one histogram.
 */
const SUB = 1024;
const EXACT = 2 * SUB; // values below this are their own bucket
const MAX_EXP = 32; // up to 2^(11+32) µs: far beyond an hour

export class LatencyHistogram {
  private readonly counts = new Float64Array(EXACT + MAX_EXP * SUB);
  totalCount = 0;
  maxValue = 0;

  private static index(v: number): number {
    if (v < EXACT) return v;
    if (v < 2 ** 31) {
      // integer shifts, no log2 or pow: the common case (under 35 minutes in µs)
      const e = 21 - Math.clz32(v); // v >> e lands in [1024, 2048)
      return EXACT + (e - 1) * SUB + ((v >>> e) - SUB);
    }
    const e = Math.min(MAX_EXP, Math.floor(Math.log2(v)) - 10); // v >> e lands in [1024, 2048)
    const m = Math.min(EXACT - 1, Math.floor(v / 2 ** e));
    return EXACT + (e - 1) * SUB + (m - SUB);
  }

  /** The highest value that falls into bucket `i`. */
  private static upper(i: number): number {
    if (i < EXACT) return i;
    const e = Math.floor((i - EXACT) / SUB) + 1;
    const m = ((i - EXACT) % SUB) + SUB;
    return (m + 1) * 2 ** e - 1;
  }

  recordValue(v: number): void {
    const x = v < 0 || !Number.isFinite(v) ? 0 : Math.round(v);
    this.counts[LatencyHistogram.index(x)]! += 1;
    this.totalCount++;
    if (x > this.maxValue) this.maxValue = x;
  }

  /** The value at `percentile` (0–100), as the upper bound of its bucket (never above the max seen). */
  getValueAtPercentile(percentile: number): number {
    if (this.totalCount === 0) return 0;
    const want = Math.max(1, Math.ceil((Math.min(100, Math.max(0, percentile)) / 100) * this.totalCount));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= want) return Math.min(LatencyHistogram.upper(i), this.maxValue);
    }
    return this.maxValue;
  }

  reset(): void {
    this.counts.fill(0);
    this.totalCount = 0;
    this.maxValue = 0;
  }
}
