/** The progress meter: a line at each phase's start and end and every interval between, with rate and time left. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { ProgressMeter, describe } from "../../runtime/progress.js";

test("lines at a phase's start, every interval, and its end; the rate and time left follow the bytes", () => {
  const m = new ProgressMeter(5000);
  const MiB = 2 ** 20;
  const total = 10 * MiB;
  assert.ok(m.sample({ phase: "download", done: 0, total }, 0), "the start");
  assert.is(m.sample({ phase: "download", done: MiB, total }, 1000), undefined, "not yet");
  const l = m.sample({ phase: "download", done: 5 * MiB, total }, 5000)!;
  assert.is(l.text, "download 50% 5.0/10.0 MiB at 1.00 MiB/s, 5 s left");
  assert.is(Math.round(l.etaS!), 5);
  assert.match(m.sample({ phase: "download", done: total, total }, 6000)!.text, /^download 100% .* done$/);
  assert.is(m.sample({ phase: "download", done: total, total }, 20_000), undefined, "the end is said once");
  assert.match(m.sample({ phase: "unpack", done: 0, total }, 20_001)!.text, /^unpack 0% /);
  assert.match(describe({ phase: "verify", done: 1, total: 3 * 3600 * MiB }, MiB).text, /, 3 h 0 min left$/);
});

test("over any sample sequence: at most one line per interval besides phase starts and ends, and every phase's end is said", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(3000), fc.nat(1 << 20)), { minLength: 1, maxLength: 200 }), (steps) => {
      const m = new ProgressMeter(1000);
      const total = 1 << 24;
      let t = 0;
      let done = 0;
      const lines: { t: number; done: number }[] = [];
      for (const [dt, db] of steps) {
        t += dt;
        done = Math.min(total, done + db);
        const l = m.sample({ phase: "download", done, total }, t);
        if (l) lines.push({ t, done: l.done });
      }
      const l = m.sample({ phase: "download", done: total, total }, t + 1);
      if (l) lines.push({ t: t + 1, done: total });
      assert.is(lines.filter((x) => x.done === total).length, 1, "the end once");
      const middle = lines.slice(1).filter((x) => x.done < total);
      for (let i = 1; i < middle.length; i++) assert.ok(middle[i]!.t - middle[i - 1]!.t >= 1000);
    }),
    { numRuns: 200 },
  );
});

test.run();
