/**
 * The test runner behind `npm test`: every `test/**\/*.test.ts` file runs in its own Node process
 * (uvu through tsx), a few at a time, each bounded in time. It ends with one plain line:
 * `N passed, N failed, N skipped`. A test skipped for a missing peer (peers/required-packages.ts;
 * under CI that is a failure instead) is shown with the Debian packages that would run it.
 *
 *   npm test                 # everything CI runs
 *   npm test -- unit modbus  # only files whose path contains one of the words
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);
const FILE_TIMEOUT_MS = Number(process.env.RIDGE_TEST_FILE_TIMEOUT_MS ?? 240_000);
const jobs = Number(process.env.RIDGE_TEST_JOBS ?? Math.max(2, Math.min(4, availableParallelism())));

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

interface Result {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  ms: number;
  output: string;
  code: number | null;
}

function runFile(file: string): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      output += `\n[runner] ${relative(root, file)} timed out after ${FILE_TIMEOUT_MS} ms; killed\n`;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, FILE_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      // uvu's summary: "Total: N / Passed: N / Skipped: N"
      const num = (label: string) => {
        const m = new RegExp(`${label}:\\s+(\\d+)`).exec(output);
        return m ? Number(m[1]) : undefined;
      };
      const total = num("Total");
      const passed = num("Passed");
      const skipped = num("Skipped") ?? 0;
      // uvu's Total counts the tests that ran (a skipped test is not among them)
      let failed = total !== undefined && passed !== undefined ? total - passed : 1;
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ file, passed: passed ?? 0, failed, skipped, ms: Date.now() - t0, output, code });
    });
  });
}

/** The `skipped (peer missing): PKG, …: apt-get install PKG …` lines a test file printed. */
function peerSkips(output: string): string[] {
  return output.split("\n").filter((l) => l.startsWith("skipped (peer missing): "));
}

const files = find(join(root, "test")).filter((f) => filters.length === 0 || filters.some((w) => relative(root, f).includes(w)));
const queue = [...files];
const results: Result[] = [];
const t0 = Date.now();
await Promise.all(
  Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const r = await runFile(f);
      results.push(r);
      const status = r.failed ? "FAIL" : "ok  ";
      console.log(`${status} ${relative(root, r.file).padEnd(52)} ${String(r.passed).padStart(4)} passed ${r.failed ? `${r.failed} failed ` : ""}${r.skipped ? `${r.skipped} skipped ` : ""}${(r.ms / 1000).toFixed(1)}s`);
      if (r.failed) console.log(r.output.split("\n").map((l) => `    ${l}`).join("\n"));
      else for (const l of peerSkips(r.output)) console.log(`    ${l}`);
    }
  }),
);
const sum = (k: "passed" | "failed" | "skipped") => results.reduce((a, r) => a + r[k], 0);
const missing = new Set(results.flatMap((r) => peerSkips(r.output).flatMap((l) => /apt-get install ([^(]+)/.exec(l)?.[1]?.trim().split(/\s+/) ?? [])));
console.log(`\n${files.length} files in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
if (missing.size) console.log(`skipped for missing peers: apt-get install ${[...missing].sort().join(" ")} (or npm run test:setup) runs them`);
console.log(`${sum("passed")} passed, ${sum("failed")} failed, ${sum("skipped")} skipped`);
process.exit(sum("failed") ? 1 : 0);
