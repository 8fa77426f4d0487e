/**
 * The Driver contract (core/driver.ts, design.md "Interfaces"), one uvu suite run against every
 * driver with its real peer: what the supervisor and the pipeline rely on, whatever the protocol.
 *
 *   health()  answers {up: boolean, detail?: string} and never throws: before start, running, stopped
 *   start()   resolves with a valid context; health comes up while the peer is there
 *   emit      every Event has the shape of core/event.ts; an id names one event (a repeat is
 *             the same event again, and only where the driver says it repeats on purpose)
 *   write()   if present, rejects (never throws synchronously) for an unknown device with a RidgeError
 *   emit → false: emission stops after at most `backpressureSlack` events in flight, and resumes
 *             once ctx.drained() resolves
 *   stop()    resolves, twice is fine, nothing is emitted after it, and within EXIT_GRACE_MS no
 *             ref'd handle (timer, socket, port) it opened is left to keep the process alive
 *   restart   start() after stop() works again with a fresh context (the supervisor's restart),
 *             ids stay unique across the two runs; stop() under backpressure resolves and a
 *             drained() resolving afterwards does not bring the driver back
 *
 * A driver known to break a check lists it in `knownViolations` with the reason: the check still
 * runs and must still fail (strict), so the day the driver is fixed the suite says so.
 */
import { suite, type Test } from "uvu";
import * as assert from "uvu/assert";
import type { Driver, DriverHealth } from "../../core/driver.js";
import { RidgeError } from "../../core/index.js";
import type { Event } from "../../core/event.js";
import { recordingContext, type RecordingContext } from "./driver-context.js";
import { tempDir, waitFor } from "../../peers/process.js";

export type ContractCheck = "health" | "start" | "events" | "write" | "backpressure" | "stop" | "restart";

export interface DriverContractOptions {
  /** Start the driver's peers (before the driver is made). */
  before?(): Promise<void>;
  /** Stop the peers (after the driver has stopped). */
  after?(): Promise<void>;
  /** After each start (run 1, then 2 after the restart): connect or register the peer devices. */
  afterStart?(driver: Driver, run: number): Promise<void>;
  /** After each stop: close what the test opened towards the driver (clients), so handles can be counted. */
  afterStop?(driver: Driver, run: number): Promise<void>;
  /** Make the peer produce a reading; called every `stimulateEveryMs` while events are watched. Omit for drivers that poll. */
  stimulate?(): void | Promise<void>;
  stimulateEveryMs?: number;
  /** The device ids the driver may emit for. */
  devices?: readonly string[];
  /** The driver emits some events twice on purpose (same id, same event): allowed, a different event under a used id never is. */
  identicalDuplicates?: boolean;
  /** Events a driver may still emit after the first refused emit (work already in flight). Default 16. */
  backpressureSlack?: number;
  /** Checks this driver is known to break, with the reason; each must still fail. */
  knownViolations?: Partial<Record<ContractCheck, string>>;
  /** Bound for start(), stop(), the first events, health coming up (ms, default 15 000). */
  waitMs?: number;
}

/** How soon after stop() the driver's handles must be gone (the process could exit). */
const EXIT_GRACE_MS = 1500;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reject when `p` has not settled after `ms` (and leave no timer behind when it has). */
async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

function healthProblems(h: unknown): string[] {
  if (typeof h !== "object" || h === null) return [`health() returned ${String(h)}, not an object`];
  const o = h as Record<string, unknown>;
  const out: string[] = [];
  if (typeof o.up !== "boolean") out.push(`health().up is ${typeof o.up}, not boolean`);
  if ("detail" in o && typeof o.detail !== "string") out.push(`health().detail is ${typeof o.detail}, not string`);
  return out;
}

/** health() must answer, never throw, with the right shape. */
function callHealth(driver: Driver, when: string): DriverHealth {
  let h: DriverHealth;
  try {
    h = driver.health();
  } catch (e) {
    assert.unreachable(`health() threw ${when}: ${String(e)}`);
    throw e;
  }
  const problems = healthProblems(h);
  assert.ok(problems.length === 0, `${when}: ${problems.join("; ")}`);
  return h;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null);

function eventProblems(e: Event, devices: readonly string[] | undefined): string[] {
  const out: string[] = [];
  if (!isPlainObject(e)) return [`not a plain object: ${String(e)}`];
  if (typeof e.id !== "string" || e.id.length === 0) out.push(`id ${JSON.stringify(e.id)} is not a non-empty string`);
  if (typeof e.ts !== "number" || !Number.isFinite(e.ts)) out.push(`ts ${String(e.ts)} is not a finite number`);
  if (typeof e.device !== "string" || e.device.length === 0) out.push(`device ${JSON.stringify(e.device)} is not a non-empty string`);
  else if (devices && !devices.includes(e.device)) out.push(`device "${e.device}" is not one of ${devices.join(", ")}`);
  if (typeof e.kind !== "string" || e.kind.length === 0) out.push(`kind ${JSON.stringify(e.kind)} is not a non-empty string`);
  if (!isPlainObject(e.payload)) out.push(`payload is not a plain object: ${JSON.stringify(e.payload)}`);
  if (e.meta !== undefined && (!isPlainObject(e.meta) || Object.values(e.meta).some((v) => typeof v !== "string"))) out.push(`meta is not a Record<string, string>: ${JSON.stringify(e.meta)}`);
  return out;
}

/** Ref'd handles by type (Timeout, TCPServerWrap, UDPWrap, ...): what keeps the process alive. */
function handles(): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of process.getActiveResourcesInfo()) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

function extraHandles(before: Map<string, number>, after: Map<string, number>): string[] {
  return [...after].filter(([t, n]) => n > (before.get(t) ?? 0)).map(([t, n]) => `${t} ×${n - (before.get(t) ?? 0)}`);
}

interface Run {
  rec: RecordingContext;
  fails: unknown[];
  /** Events already checked by checkEvents (each failure is reported once, by the check that saw it). */
  checked: number;
  /** Events recorded when stop() resolved. */
  atStop?: number;
}

/**
 * The contract suite for one driver. `makeDriver` is called once (after `opts.before`); the same
 * instance is started, stopped and started again, as the supervisor does. Call `.run()` on the result.
 */
export function driverContract(name: string, makeDriver: () => Driver | Promise<Driver>, opts: DriverContractOptions = {}): Test {
  const t = suite(`driver contract: ${name}`);
  const waitMs = opts.waitMs ?? 15_000;
  const slack = opts.backpressureSlack ?? 16;
  const data = tempDir(`ridge-contract-${name}-`);
  const runs: Run[] = [];
  let driver: Driver | undefined;
  let baseline = new Map<string, number>();
  let load: NodeJS.Timeout | undefined;
  let stimulated = 0;

  const d = (): Driver => {
    assert.ok(driver, `the driver or its peers could not be set up: ${String(setupError)}`);
    return driver!;
  };
  const current = (): Run => {
    const r = runs[runs.length - 1];
    assert.ok(r, "the driver has not been started");
    return r!;
  };
  const newRun = (): Run => {
    const rec = recordingContext();
    const run: Run = { rec, fails: [], checked: 0 };
    rec.dataDir = data.dir;
    rec.fail = (e) => void run.fails.push(e);
    runs.push(run);
    return run;
  };
  const startLoad = () => {
    if (load || !opts.stimulate) return;
    const stimulate = opts.stimulate;
    load = setInterval(() => {
      stimulated++;
      Promise.resolve()
        .then(() => stimulate())
        .catch(() => undefined);
    }, opts.stimulateEveryMs ?? 50);
    load.unref(); // not to be counted among the driver's handles
  };
  const stopLoad = () => {
    clearInterval(load);
    load = undefined;
  };
  /** Events emitted since the last check have the Event shape; an id never names two different events. */
  const seen = new Map<string, string>();
  const checkEvents = () => {
    for (const [i, run] of runs.entries()) {
      while (run.checked < run.rec.events.length) {
        const e = run.rec.events[run.checked++]!;
        const p = eventProblems(e, opts.devices);
        assert.ok(p.length === 0, `run ${i + 1}, event ${JSON.stringify(e)}: ${p.join("; ")}`);
        const json = JSON.stringify(e);
        const prev = seen.get(e.id);
        if (prev !== undefined) {
          assert.ok(prev === json, `id "${e.id}" names two different events:\n  ${prev}\n  ${json}`);
          assert.ok(opts.identicalDuplicates, `id "${e.id}" emitted twice (this driver does not declare deliberate duplicates)`);
        }
        seen.set(e.id, json);
      }
    }
  };
  const startRun = async (n: number): Promise<Run> => {
    const run = newRun();
    await within("start()", d().start(run.rec), waitMs);
    await opts.afterStart?.(d(), n);
    return run;
  };
  const stopRun = async (run: Run, n: number): Promise<void> => {
    await within("stop()", d().stop(), waitMs);
    run.atStop = run.rec.events.length;
    await opts.afterStop?.(d(), n);
  };
  const eventsAfter = (run: Run, n: number, what: string) => {
    startLoad();
    return waitFor(`${what} (${stimulated} stimuli sent)`, () => run.rec.events.length > n, waitMs);
  };

  /** A check; a known violation must still fail. */
  const check = (key: ContractCheck, title: string, fn: () => Promise<void>) =>
    t(`${key}: ${title}`, async () => {
      const known = opts.knownViolations?.[key];
      if (known === undefined) return fn();
      let failure: unknown;
      try {
        await fn();
      } catch (e) {
        failure = e;
      }
      assert.ok(failure !== undefined, `${name} now passes "${key}": remove it from knownViolations (${known})`);
      console.log(`  [${name}] known contract violation (${key}): ${known}\n    ${String((failure as Error).message ?? failure).split("\n")[0]}`);
    });

  let setupError: unknown;
  t.before(async () => {
    // a hook that throws would end the whole file's run: every check fails with the reason instead
    try {
      await opts.before?.();
      driver = await makeDriver();
    } catch (e) {
      setupError = e;
    }
  });

  t.after(async () => {
    stopLoad();
    try {
      if (driver) await within("final stop()", driver.stop(), waitMs);
    } catch (e) {
      console.error(`  [${name}] final stop() failed: ${String(e)}`);
    }
    try {
      await opts.after?.();
    } catch (e) {
      console.error(`  [${name}] stopping the peers failed: ${String(e)}`);
    }
    data.cleanup();
  });

  check("health", "before start() health() answers {up: false} without throwing", async () => {
    const h = callHealth(d(), "before start");
    assert.is(h.up, false, "a driver that was never started reports up");
  });

  check("write", "before start() write() to an unknown device rejects with a RidgeError", async () => {
    await expectUnknownDeviceRejection(d(), "before start");
  });

  check("start", "start() resolves with a valid DriverContext; health() comes up while the peer is there", async () => {
    // every handle opened from here on belongs to the driver or to the test's clients (closed in afterStop)
    baseline = handles();
    const run = await startRun(1);
    callHealth(d(), "right after start");
    await waitFor(`health().up (last: ${JSON.stringify(d().health())})`, () => callHealth(d(), "while running").up, waitMs);
    assert.equal(run.fails, [], "ctx.fail() called with a healthy peer");
  });

  check("events", "emitted events have the Event shape and unique ids", async () => {
    const run = current();
    await eventsAfter(run, 0, "a first event");
    await waitFor("5 events", () => run.rec.events.length >= 5, waitMs);
    checkEvents();
  });

  check("write", "while running write() to an unknown device rejects with a RidgeError", async () => {
    await expectUnknownDeviceRejection(d(), "while running");
    callHealth(d(), "after a refused write");
  });

  check("backpressure", "emit() → false: emission stops (bounded) and resumes once drained() resolves", async () => {
    const run = current();
    const rec = run.rec;
    await eventsAfter(run, rec.events.length, "events before pushing back");
    const n0 = rec.events.length;
    rec.backpressure = true;
    try {
      await eventsAfter(run, n0, "the first refused emit");
      await sleep(400);
      const settled = rec.events.length;
      await sleep(1000);
      const after = rec.events.length;
      assert.ok(after === settled, `still emitting while the pipeline pushes back: ${after - settled} events in 1 s (${after - n0} since the first refusal)`);
      assert.ok(after - n0 - 1 <= slack, `${after - n0 - 1} events after the first refusal (slack ${slack})`);
      callHealth(d(), "under backpressure");
    } finally {
      rec.release();
    }
    const released = rec.events.length;
    await eventsAfter(run, released, "events after drained() resolved");
    checkEvents();
  });

  check("stop", "stop() resolves, twice is fine, nothing is emitted after it, no handle keeps the process alive", async () => {
    const run = current();
    await eventsAfter(run, run.rec.events.length, "events before stop");
    await stopRun(run, 1);
    const h = callHealth(d(), "after stop");
    assert.is(h.up, false, "a stopped driver reports up");
    await within("a second stop()", d().stop(), waitMs);
    callHealth(d(), "after a second stop");
    // The process must be able to exit shortly after stop(): closing a socket or a port takes a
    // callback or two, a library may let a short guard timer run out; a timer re-armed, a backoff
    // or an interval still pending is a leak.
    const stoppedAt = Date.now();
    let extra: string[] = [];
    await waitFor("handles to close", () => (extra = extraHandles(baseline, handles())).length === 0, EXIT_GRACE_MS, 10).catch(() => undefined);
    assert.equal(extra, [], `handles left ${EXIT_GRACE_MS} ms after stop() (they keep the process alive): ${extra.join(", ")}`);
    await sleep(Math.max(0, 800 - (Date.now() - stoppedAt))); // the stimulus keeps coming
    stopLoad();
    assert.is(run.rec.events.length, run.atStop, `emitted after stop() resolved: ${JSON.stringify(run.rec.events.slice(run.atStop))}`);
    checkEvents();
  });

  check("restart", "start() after stop() works again with a fresh context, ids stay unique; stop() under backpressure holds", async () => {
    const first = runs[0];
    assert.ok(first?.atStop !== undefined, "the first run was not stopped");
    const run = await startRun(2);
    await waitFor(`health().up after restart (last: ${JSON.stringify(d().health())})`, () => callHealth(d(), "after restart").up, waitMs);
    await eventsAfter(run, 0, "events after restart");
    await waitFor("5 events after restart", () => run.rec.events.length >= 5, waitMs);
    assert.is(first!.rec.events.length, first!.atStop, "the first run's context still receives events");
    checkEvents();
    // the supervisor may stop a driver while the pipeline pushes back: stop() must not wait for
    // drained(), and drained() resolving afterwards must not bring the driver back
    run.rec.backpressure = true;
    const n0 = run.rec.events.length;
    await eventsAfter(run, n0, "a refused emit after restart");
    await stopRun(run, 2);
    run.rec.release();
    await sleep(500);
    stopLoad();
    assert.is(run.rec.events.length, run.atStop, `emitted after a stop() under backpressure once drained() resolved: ${JSON.stringify(run.rec.events.slice(run.atStop))}`);
    let extra: string[] = [];
    await waitFor("handles to close", () => (extra = extraHandles(baseline, handles())).length === 0, EXIT_GRACE_MS, 10).catch(() => undefined);
    assert.equal(extra, [], `handles left after the second stop(): ${extra.join(", ")}`);
    checkEvents();
    assert.equal(run.fails, [], "ctx.fail() called with a healthy peer");
  });

  return t;
}

async function expectUnknownDeviceRejection(driver: Driver, when: string): Promise<void> {
  if (!driver.write) return; // write() is optional
  let p: Promise<void>;
  try {
    p = driver.write("no-such-device", "no-such-point", 1);
  } catch (e) {
    assert.unreachable(`write() threw synchronously ${when} instead of rejecting: ${String(e)}`);
    return;
  }
  assert.ok(p && typeof p.then === "function", `write() did not return a promise ${when}`);
  let err: unknown;
  try {
    await within("write() to an unknown device", p, 10_000);
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `write() to an unknown device resolved ${when}`);
  assert.instance(err, RidgeError, `write() rejected ${when} with ${String(err)}, not a RidgeError`);
  const code = (err as RidgeError).code;
  assert.ok(typeof code === "string" && code.length > 0, `RidgeError without a code ${when}`);
}
