/**
 * Benchmark rows, printed as a Markdown table and merged into bench/results/latest.json
 * (a run replaces only its own bench's earlier rows). Every figure sits beside a baseline
 * measured in the same run, so the ratio means something on a noisy machine.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BenchRow {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  /** value / baselineValue */
  ratio: number;
  /** e.g. "< 400 ms" */
  target: string;
  pass: boolean;
}

export type RowInput = Omit<BenchRow, "bench" | "ratio" | "pass"> & { pass: boolean };

const resultsFile = join(dirname(fileURLToPath(import.meta.url)), "results", "latest.json");

export function report(bench: string, rows: RowInput[]): BenchRow[] {
  const full: BenchRow[] = rows.map((r) => ({ bench, ...r, ratio: r.baselineValue ? Number((r.value / r.baselineValue).toFixed(3)) : 0 }));
  const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3));
  console.log(`\n### ${bench}\n`);
  console.log("| metric | value | baseline | baseline value | ratio | target | pass |");
  console.log("| --- | ---: | --- | ---: | ---: | --- | --- |");
  for (const r of full) console.log(`| ${r.metric} | ${fmt(r.value)} ${r.unit} | ${r.baseline} | ${fmt(r.baselineValue)} ${r.unit} | ${r.ratio} | ${r.target} | ${r.pass ? "yes" : "NO"} |`);
  mkdirSync(dirname(resultsFile), { recursive: true });
  let prev: { results: BenchRow[] } = { results: [] };
  if (existsSync(resultsFile)) {
    try {
      prev = JSON.parse(readFileSync(resultsFile, "utf8")) as { results: BenchRow[] };
    } catch {
      /* a broken results file is replaced */
    }
  }
  const results = [...prev.results.filter((r) => r.bench !== bench), ...full];
  const host = { platform: platform(), arch: arch(), cpus: cpus().length, cpu: cpus()[0]?.model ?? "?", memGiB: Number((totalmem() / 2 ** 30).toFixed(1)), node: process.version, at: new Date().toISOString() };
  writeFileSync(resultsFile, JSON.stringify({ results, host }, null, 2) + "\n");
  return full;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}
