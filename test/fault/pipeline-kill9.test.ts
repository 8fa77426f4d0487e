/**
 * kill -9 and restart equivalence: a run killed mid-stream and restarted (its source replaying from
 * the start) produces the same final window results and late events as an uninterrupted run, apart
 * from re-emissions that carry the same deterministic ids.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Event } from "../../core/event.js";
import { tempDir, waitFor } from "../../peers/process.js";

const child = new URL("../helpers/pipeline-child.ts", import.meta.url).pathname;

function runChild(dir: string): { done: Promise<number | null>; pid: number; output: () => string } {
  const c = spawn(process.execPath, ["--import", "tsx", child, dir], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  c.stdout.on("data", (d: Buffer) => (out += d.toString()));
  c.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => c.kill("SIGKILL"), 90_000);
  const done = new Promise<number | null>((r) => c.on("exit", (code) => (clearTimeout(timer), r(code))));
  return { done, pid: c.pid!, output: () => out };
}

/** JSON lines; a line torn by kill -9 mid-write is skipped (its window is re-emitted after restart). */
function lines(file: string): Event[] {
  if (!existsSync(file)) return [];
  const out: Event[] = [];
  for (const l of readFileSync(file, "utf8").split("\n")) {
    if (!l) continue;
    try {
      out.push(JSON.parse(l) as Event);
    } catch {
      /* torn */
    }
  }
  return out;
}

function finalById(evs: Event[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of evs) m.set(e.id, JSON.stringify(e.payload));
  return m;
}

test("a run killed with kill -9 and restarted gives the same window results as an uninterrupted one", async () => {
  const a = tempDir("ridge-k9a-");
  const b = tempDir("ridge-k9b-");
  try {
    const ra = runChild(a.dir);
    assert.is(await ra.done, 0, ra.output());
    const wantWins = finalById(lines(join(a.dir, "results.jsonl")));
    const wantLate = new Set(lines(join(a.dir, "late.jsonl")).map((e) => e.id));
    assert.ok(wantWins.size > 100, `only ${wantWins.size} windows`);
    assert.ok(wantLate.size > 0, "the stream has late events");

    const rb1 = runChild(b.dir);
    await waitFor("some results before the kill", () => lines(join(b.dir, "results.jsonl")).length > 200, 60_000, 5);
    process.kill(rb1.pid, "SIGKILL");
    await rb1.done;
    const partial = lines(join(b.dir, "results.jsonl")).length;
    const rb2 = runChild(b.dir);
    assert.is(await rb2.done, 0, rb2.output());
    const allB = lines(join(b.dir, "results.jsonl"));
    const gotWins = finalById(allB);
    console.log(`  killed after ${partial} result lines; restarted run: ${allB.length} lines for ${gotWins.size} windows (uninterrupted: ${wantWins.size})`);
    assert.ok(partial < wantWins.size, "the kill landed mid-stream");
    assert.equal([...gotWins.keys()].sort(), [...wantWins.keys()].sort());
    for (const [id, v] of wantWins) assert.is(gotWins.get(id), v, id);
    assert.equal(new Set(lines(join(b.dir, "late.jsonl")).map((e) => e.id)), wantLate);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test.run();
