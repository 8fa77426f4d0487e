import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakeClock, SeededRandom, type Random } from "../../core/clock.js";
import { RidgeError, silentLogger } from "../../core/index.js";
import type { Component } from "../../runtime/component.js";
import { fullJitterDelay } from "../../core/backoff.js";
import { Supervisor } from "../../runtime/supervisor.js";

const quiet = silentLogger;
const maxRandom: Random = { next: () => 0.999999 };

function comp(name: string, log: string[], opts: Partial<Component> & { failStarts?: number } = {}): Component & { starts: number } {
  let failures = opts.failStarts ?? 0;
  const c = {
    name,
    starts: 0,
    ...(opts.dependsOn ? { dependsOn: opts.dependsOn } : {}),
    async start() {
      c.starts++;
      log.push(`start ${name}`);
      if (failures > 0) {
        failures--;
        throw new RidgeError("E_MODBUS_PORT_DOWN", "serial port vanished");
      }
    },
    async stop() {
      log.push(`stop ${name}`);
      await opts.stop?.();
    },
    health: () => ({ up: true }),
  };
  return c;
}

test("starts in dependency order and stops in reverse", async () => {
  const log: string[] = [];
  const s = new Supervisor(new FakeClock(), new SeededRandom(1), quiet);
  s.add(comp("control", log, { dependsOn: ["pipeline"] }));
  s.add(comp("driver", log, { dependsOn: ["pipeline"] }), { restartable: true });
  s.add(comp("pipeline", log, { dependsOn: ["store"] }));
  s.add(comp("store", log));
  await s.startAll();
  await s.stopAll(1000);
  assert.equal(log, ["start store", "start pipeline", "start control", "start driver", "stop driver", "stop control", "stop pipeline", "stop store"]);
});

test("a dependency cycle is a wiring error", async () => {
  const s = new Supervisor(new FakeClock(), new SeededRandom(1), quiet);
  s.add(comp("a", [], { dependsOn: ["b"] }));
  s.add(comp("b", [], { dependsOn: ["a"] }));
  try {
    await s.startAll();
    assert.unreachable();
  } catch (e) {
    assert.is((e as RidgeError).code, "E_SUPERVISOR_CYCLE");
  }
});

test("full-jitter backoff stays within [0, min(cap, base·2^n)]", () => {
  const p = { base: 500, cap: 60_000 };
  assert.is(fullJitterDelay(p, 0, maxRandom), 499);
  assert.is(fullJitterDelay(p, 3, maxRandom), 3999);
  assert.is(fullJitterDelay(p, 20, maxRandom), 59_999);
  assert.is(fullJitterDelay(p, 5, { next: () => 0 }), 0);
});

test("a failing driver is restarted with exponential backoff (injected clock) and never takes the gateway down", async () => {
  const clock = new FakeClock(1_000_000);
  const log: string[] = [];
  const s = new Supervisor(clock, maxRandom, quiet, { baseMs: 100, capMs: 1000, resetAfterMs: 10_000 });
  const store = comp("store", log);
  const driver = comp("driver:rs485", log, { dependsOn: ["store"], failStarts: 4 });
  s.add(store);
  s.add(driver, { restartable: true });
  await s.startAll(); // does not throw: the driver is restartable
  assert.is(s.status()["driver:rs485"]!.state, "backoff");
  assert.is(s.status()["driver:rs485"]!.lastError?.code, "E_MODBUS_PORT_DOWN");
  assert.is(s.status()["store"]!.state, "up");
  // Delays (random at its max): 99, 199, 399, 799 ms; then it starts.
  const waits = [99, 199, 399, 799];
  for (const [i, w] of waits.entries()) {
    await clock.advance(w - 1);
    assert.is(driver.starts, i + 1, `not restarted before ${w} ms`);
    await clock.advance(1);
    assert.is(driver.starts, i + 2, `restarted after ${w} ms`);
  }
  assert.is(s.status()["driver:rs485"]!.state, "up");
  assert.is(s.status()["driver:rs485"]!.restarts, 4);
  // A failure reported later (peer vanished) restarts it again; the attempt counter keeps growing
  // because it was not up for resetAfterMs.
  s.fail("driver:rs485", new RidgeError("E_MODBUS_TIMEOUT", "gone"));
  await clock.advance(0);
  assert.is(s.status()["driver:rs485"]!.state, "backoff");
  await clock.advance(1000);
  assert.is(s.status()["driver:rs485"]!.state, "up");
  // Up for longer than resetAfterMs: the next failure starts from the base delay again.
  await clock.advance(20_000);
  s.fail("driver:rs485", new Error("again"));
  await clock.advance(0);
  const next = s.status()["driver:rs485"]!.nextStartAt! - clock.now();
  assert.is(next, 99);
  await s.stopAll(100);
});

test("a non-restartable component failing to start is fatal with its code", async () => {
  const s = new Supervisor(new FakeClock(), new SeededRandom(1), quiet);
  s.add(comp("store", [], { failStarts: 1 }));
  try {
    await s.startAll();
    assert.unreachable();
  } catch (e) {
    assert.is((e as RidgeError).code, "E_MODBUS_PORT_DOWN");
  }
});

test("stop is bounded by the deadline: a hung component is reported, the others still stop", async () => {
  const clock = new FakeClock();
  const log: string[] = [];
  const s = new Supervisor(clock, new SeededRandom(1), quiet);
  s.add(comp("store", log));
  s.add(comp("hung", log, { dependsOn: ["store"], stop: () => new Promise(() => undefined) }));
  await s.startAll();
  const p = s.stopAll(10_000);
  await clock.advance(10_000);
  const r = await p;
  assert.equal(r.timedOut, ["hung"]);
  assert.ok(log.includes("stop store"));
});

test("the runtime's restart exit code is the one the OTA launcher restarts on", async () => {
  const { EXIT } = await import("../../runtime/cli/args.js");
  const { EXIT_RESTART } = await import("../../core/index.js");
  assert.is(EXIT.restart, EXIT_RESTART);
});

test.run();
