/** The cloud link state machine as a transition table, and full-jitter backoff. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { SeededRandom, type Random } from "../../core/clock.js";
import { OPEN_GATE, gateStep, linkStep, type GateInput, type GateState, type LinkInput, type LinkState } from "../../runtime/cloud/link-machine.js";
import { fullJitterDelay } from "../../core/backoff.js";

const half: Random = { next: () => 0.5 };
const env = { backoff: { base: 1000, cap: 60_000 }, random: half };

const table: [string, LinkState, LinkInput, LinkState["tag"], string[]][] = [
  ["start connects", { tag: "stopped" }, { type: "start" }, "connecting", ["connect"]],
  ["connected with backlog drains", { tag: "connecting", attempt: 0 }, { type: "connected", backlog: true }, "draining", ["on_connected"]],
  ["connected without backlog is online", { tag: "connecting", attempt: 3 }, { type: "connected", backlog: false }, "online", ["on_connected"]],
  ["a failed attempt waits", { tag: "connecting", attempt: 2 }, { type: "connect_failed", reason: "E_CLOUD_REFUSED" }, "offline", ["rewind", "schedule_retry"]],
  ["a lost link rewinds and waits", { tag: "online", attempt: 0 }, { type: "lost", reason: "x", upForMs: 60_000 }, "offline", ["rewind", "schedule_retry"]],
  ["a lost link while draining", { tag: "draining", attempt: 0 }, { type: "lost", reason: "x", upForMs: 1 }, "offline", ["rewind", "schedule_retry"]],
  ["retry connects", { tag: "offline", attempt: 2, retryInMs: 5, reason: "x" }, { type: "retry_due" }, "connecting", ["connect"]],
  ["caught up", { tag: "draining", attempt: 0 }, { type: "backlog", pending: false }, "online", []],
  ["backlog grows", { tag: "online", attempt: 0 }, { type: "backlog", pending: true }, "draining", []],
  ["backlog while offline is ignored", { tag: "offline", attempt: 1, retryInMs: 5, reason: "x" }, { type: "backlog", pending: true }, "offline", []],
  ["stop from online", { tag: "online", attempt: 0 }, { type: "stop" }, "stopped", ["cancel_retry", "disconnect", "rewind"]],
  ["stop while waiting", { tag: "offline", attempt: 1, retryInMs: 5, reason: "x" }, { type: "stop" }, "stopped", ["cancel_retry", "disconnect", "rewind"]],
  ["a stale connected is ignored", { tag: "offline", attempt: 1, retryInMs: 5, reason: "x" }, { type: "connected", backlog: false }, "offline", []],
  ["start twice is a no-op", { tag: "online", attempt: 0 }, { type: "start" }, "online", []],
];

for (const [name, from, input, to, effects] of table) {
  test(`link: ${name}`, () => {
    const r = linkStep(from, input, env);
    assert.is(r.state.tag, to);
    assert.equal(r.effects.map((e) => e.type), effects);
  });
}

test("backoff grows per failed attempt and restarts after a link that was up", () => {
  let s: LinkState = { tag: "connecting", attempt: 0 };
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = linkStep(s, { type: "connect_failed", reason: "x" }, env);
    const eff = r.effects.find((e) => e.type === "schedule_retry") as { delayMs: number };
    delays.push(eff.delayMs);
    s = linkStep(r.state, { type: "retry_due" }, env).state;
  }
  assert.equal(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  s = linkStep(s, { type: "connected", backlog: false }, env).state;
  // dropped at once: the backoff keeps growing (a broker that accepts and kicks us is no reason to hammer it)
  const kicked = linkStep(s, { type: "lost", reason: "x", upForMs: 50 }, env);
  assert.equal(kicked.effects.find((e) => e.type === "schedule_retry"), { type: "schedule_retry", delayMs: 30000 });
  // up for a while: afresh
  const lost = linkStep(s, { type: "lost", reason: "x", upForMs: 60_000 }, env);
  assert.equal(lost.effects.find((e) => e.type === "schedule_retry"), { type: "schedule_retry", delayMs: 500 });
});

test("full jitter: delay in [0, min(cap, base·2^n)) and spread over the range", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 200 }), fc.integer(), (base, cap, attempt, seed) => {
      const d = fullJitterDelay({ base, cap }, attempt, new SeededRandom(seed));
      return d >= 0 && d < Math.max(1, Math.min(cap, base * 2 ** attempt)) && Number.isInteger(d);
    }),
  );
  // a thousand gateways retrying at attempt 6 with base 1 s, cap 60 s spread over the whole window
  const r = new SeededRandom(42);
  const ds = Array.from({ length: 1000 }, () => fullJitterDelay({ base: 1000, cap: 60_000 }, 6, r));
  const buckets = new Array(6).fill(0) as number[];
  for (const d of ds) buckets[Math.floor(d / 10_000)]!++;
  assert.ok(buckets.every((b) => b > 100), `spread ${buckets.join(",")}`);
});

const gateTable: [string, GateState, GateInput, GateState["tag"], string[]][] = [
  ["a refusal holds the class and rewinds it", OPEN_GATE, { type: "refused", reason: "Not authorized (0x87)" }, "held", ["rewind_class", "schedule_class_retry"]],
  ["a late refusal while held changes nothing", { tag: "held", refusals: 1, retryInMs: 5, reason: "x" }, { type: "refused", reason: "x" }, "held", []],
  ["the retry opens the gate", { tag: "held", refusals: 2, retryInMs: 5, reason: "x" }, { type: "retry_due" }, "open", []],
  ["an ack forgets the refusals", { tag: "open", refusals: 3 }, { type: "acked" }, "open", []],
  ["a lost link opens a held gate and cancels its timer", { tag: "held", refusals: 1, retryInMs: 5, reason: "x" }, { type: "reset" }, "open", ["cancel_class_retry"]],
  ["reset while open does nothing", OPEN_GATE, { type: "reset" }, "open", []],
];
for (const [name, from, input, to, effects] of gateTable) {
  test(`publish gate: ${name}`, () => {
    const r = gateStep(from, input, env);
    assert.is(r.state.tag, to);
    assert.equal(r.effects.map((e) => e.type), effects);
  });
}

test("publish gate: a standing refusal backs off exponentially (full jitter), and an ack starts afresh", () => {
  let g: GateState = OPEN_GATE;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const r = gateStep(g, { type: "refused", reason: "Quota exceeded (0x97)" }, env);
    delays.push((r.effects.find((e) => e.type === "schedule_class_retry") as { delayMs: number }).delayMs);
    g = gateStep(r.state, { type: "retry_due" }, env).state;
  }
  assert.equal(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  // a refusal after reconnecting keeps growing; one after an ack does not
  g = gateStep(g, { type: "reset" }, env).state;
  assert.equal((gateStep(g, { type: "refused", reason: "x" }, env).effects[1] as { delayMs: number }).delayMs, 30000);
  g = gateStep(g, { type: "acked" }, env).state;
  assert.equal(g, OPEN_GATE);
  assert.equal((gateStep(g, { type: "refused", reason: "x" }, env).effects[1] as { delayMs: number }).delayMs, 500);
});

test.run();
