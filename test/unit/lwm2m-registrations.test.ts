/** Registration lifetime and admission machines (transition tables) and the registration set on a fake clock. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { FakeClock } from "../../core/clock.js";
import { lifetimeStep, type LifetimeEnv, type LifetimeInput, type LifetimeState } from "../../drivers/lwm2m/registration-lifetime.js";
import { admissionStep, type AdmissionEnv, type AdmissionInput, type AdmissionState } from "../../drivers/lwm2m/registration-admission.js";
import { Registrations, type RegisterRequest } from "../../drivers/lwm2m/registrations.js";
import { RegistrationStore, type Registration } from "../../drivers/lwm2m/registration-store.js";
import { tempDir } from "../../peers/process.js";
import { join } from "node:path";

const live: LifetimeState = { kind: "registered", lifetimeS: 10, expiresAt: 10_000 };
const bounds: LifetimeEnv = { minLifetimeS: 1, maxLifetimeS: 3600 };
const table: [string, LifetimeState | undefined, LifetimeInput, LifetimeState | undefined, string[]][] = [
  ["new register", undefined, { kind: "register", now: 0, lifetimeS: 10 }, { kind: "registered", lifetimeS: 10, expiresAt: 10_000 }, ["acknowledge", "online", "schedule"]],
  ["register clamps the lifetime", undefined, { kind: "register", now: 0, lifetimeS: 99_999 }, { kind: "registered", lifetimeS: 3600, expiresAt: 3_600_000 }, ["acknowledge", "online", "schedule"]],
  ["re-register while live", live, { kind: "register", now: 5000, lifetimeS: 10 }, { kind: "registered", lifetimeS: 10, expiresAt: 15_000 }, ["acknowledge", "schedule"]],
  ["update keeps lifetime", live, { kind: "update", now: 4000 }, { kind: "registered", lifetimeS: 10, expiresAt: 14_000 }, ["acknowledge", "schedule"]],
  ["update with lt", live, { kind: "update", now: 4000, lifetimeS: 60 }, { kind: "registered", lifetimeS: 60, expiresAt: 64_000 }, ["acknowledge", "schedule"]],
  ["update when expired", { kind: "expired", at: 1 }, { kind: "update", now: 4000 }, { kind: "expired", at: 1 }, ["reject"]],
  ["deregister", live, { kind: "deregister", now: 3000 }, { kind: "deregistered", at: 3000 }, ["offline"]],
  ["deregister unknown", undefined, { kind: "deregister", now: 3000 }, undefined, ["reject"]],
  ["tick early", live, { kind: "tick", now: 9999 }, live, ["schedule"]],
  ["tick at expiry", live, { kind: "tick", now: 10_000 }, { kind: "expired", at: 10_000 }, ["offline"]],
  ["tick after expiry is idle", { kind: "expired", at: 1 }, { kind: "tick", now: 20_000 }, { kind: "expired", at: 1 }, []],
];
for (const [name, s, i, next, fx] of table) {
  test(`lifetime: ${name}`, () => {
    const r = lifetimeStep(s, i, bounds);
    assert.equal(r.state, next);
    assert.equal(r.effects.map((e) => e.kind), fx);
  });
}

const bucket: AdmissionEnv = { maxUnknown: 2, ratePerSecond: 1, burst: 1 };
const full: AdmissionState = { tokens: 1, refilledAt: 0 };
const empty: AdmissionState = { tokens: 0, refilledAt: 0 };
const ask = (admission: AdmissionInput["admission"], o: Partial<AdmissionInput> = {}): AdmissionInput => ({ kind: "register", admission, endpoint: "ep", replacing: false, unknownRegistered: 0, now: 0, ...o });
/** [name, state, input, next tokens, verdict (admit:known|admit:unknown|refusal code)] */
const admissions: [string, AdmissionState, AdmissionInput, number, string][] = [
  ["a configured endpoint bypasses cap and bucket", empty, ask("known", { unknownRegistered: 9 }), 0, "admit:known"],
  ["a rejected endpoint never gets in", full, ask("reject"), 1, "E_LWM2M_ENDPOINT_REJECTED"],
  ["an unknown endpoint takes a token", full, ask("unknown"), 0, "admit:unknown"],
  ["no token: rate limited", empty, ask("unknown", { now: 500 }), 0.5, "E_LWM2M_RATE_LIMITED"],
  ["the bucket refills with time", empty, ask("unknown", { now: 1000 }), 0, "admit:unknown"],
  ["the cap comes before the bucket", full, ask("unknown", { unknownRegistered: 2 }), 1, "E_LWM2M_REGISTRATION_CAP"],
  ["a replacing Register takes no place and no token", empty, ask("unknown", { replacing: true, unknownRegistered: 2 }), 0, "admit:unknown"],
];
for (const [name, s, i, tokens, verdict] of admissions) {
  test(`admission: ${name}`, () => {
    const r = admissionStep(s, i, bucket);
    assert.is(r.state.tokens, tokens);
    const e = r.effects[0]!;
    assert.is(e.kind === "admit" ? `admit:${e.known ? "known" : "unknown"}` : e.code, verdict);
  });
}

function req(endpoint: string, lifetime = 60): RegisterRequest {
  return { endpoint, address: "127.0.0.1", port: 5000, lifetime, binding: "U", version: "1.1", rootPath: "", links: [], objects: ["/3/0"] };
}

function setup(store?: RegistrationStore, clock = new FakeClock(1_000_000)) {
  const log: string[] = [];
  let n = 0;
  const regs = new Registrations(
    clock,
    { maxUnknown: 3, ratePerSecond: 2, burst: 2, minLifetimeS: 1, maxLifetimeS: 3600 },
    (ep) => (ep.startsWith("known") ? "known" : ep.startsWith("bad") ? "reject" : "unknown"),
    {
      online: (r, how) => void log.push(`online ${r.endpoint} ${how}`),
      registered: (r, isNew) => void log.push(`registered ${r.endpoint} ${isNew}`),
      updated: (r) => void log.push(`updated ${r.endpoint}`),
      offline: (r, why) => void log.push(`offline ${r.endpoint} ${why}`),
    },
    () => `id${++n}`,
    store,
  );
  return { regs, log, clock };
}

test("lifetime expiry on the fake clock marks the device offline; Update extends it", async () => {
  const { regs, log, clock } = setup();
  const r = regs.register(req("known-1", 10));
  assert.ok(r.ok);
  await clock.advance(9000);
  assert.ok(regs.update("id1", { address: "127.0.0.1", port: 5000 }));
  await clock.advance(9000);
  assert.ok(regs.byEndpoint("known-1"));
  await clock.advance(1000);
  assert.is(regs.byEndpoint("known-1"), undefined);
  assert.equal(log, ["online known-1 register", "registered known-1 true", "updated known-1", "offline known-1 lifetime"]);
  assert.is(regs.update("id1", { address: "127.0.0.1", port: 5000 }), undefined);
});

test("admission: rate limit and cap apply to unknown endpoints only; rejected endpoints are refused", async () => {
  const { regs, clock } = setup();
  assert.ok(regs.register(req("u1")).ok);
  assert.ok(regs.register(req("u2")).ok);
  const limited = regs.register(req("u3"));
  assert.is(limited.ok, false);
  if (!limited.ok) assert.is(limited.code, "E_LWM2M_RATE_LIMITED");
  await clock.advance(1000);
  assert.ok(regs.register(req("u3")).ok);
  await clock.advance(1000);
  const capped = regs.register(req("u4"));
  assert.is(!capped.ok && capped.code, "E_LWM2M_REGISTRATION_CAP");
  for (let i = 0; i < 10; i++) assert.ok(regs.register(req(`known-${i}`)).ok, "configured endpoints bypass cap and rate");
  const bad = regs.register(req("bad-1"));
  assert.is(!bad.ok && bad.code, "E_LWM2M_ENDPOINT_REJECTED");
  // re-registering an already registered unknown endpoint is not blocked by the cap
  assert.ok(regs.register(req("u1")).ok);
  assert.is(regs.unknownSize, 3);
  assert.equal(regs.rejected, { rate: 1, cap: 1, endpoint: 1 });
});

test("lifetime: every accepted Register or Update answers first (fast-check over states and inputs)", () => {
  const state = fc.oneof(
    fc.constant(undefined),
    fc.record({ kind: fc.constant("registered" as const), lifetimeS: fc.integer({ min: 1, max: 3600 }), expiresAt: fc.nat() }),
    fc.record({ kind: fc.constantFrom("expired" as const, "deregistered" as const), at: fc.nat() }),
  );
  const input = fc.oneof(
    fc.record({ kind: fc.constant("register" as const), now: fc.nat(), lifetimeS: fc.nat() }),
    fc.record({ kind: fc.constant("update" as const), now: fc.nat(), lifetimeS: fc.option(fc.nat(), { nil: undefined }) }, { requiredKeys: ["kind", "now"] }),
    fc.record({ kind: fc.constantFrom("deregister" as const, "tick" as const), now: fc.nat() }),
  );
  fc.assert(
    fc.property(state, input, (s, i) => {
      const r = lifetimeStep(s as LifetimeState | undefined, i as LifetimeInput, bounds);
      const kinds = r.effects.map((e) => e.kind);
      const accepted = (i.kind === "register" || i.kind === "update") && r.state?.kind === "registered" && !kinds.includes("reject");
      if (accepted) assert.is(kinds[0], "acknowledge");
      else assert.not.ok(kinds.includes("acknowledge"));
    }),
  );
});

test("registrations: the answer to a Register/Update is sent before the events that lead to requests", () => {
  const { regs, log } = setup();
  const r = regs.register(req("known-a", 60), (reg) => void log.push(`ack 2.01 ${reg.endpoint} ${reg.id}`));
  assert.ok(r.ok);
  assert.equal(log, ["ack 2.01 known-a id1", "online known-a register", "registered known-a true"]);
  log.length = 0;
  regs.update("id1", { address: "127.0.0.2", port: 5001 }, () => void log.push("ack 2.04"));
  assert.equal(log, ["ack 2.04", "updated known-a"]);
  log.length = 0;
  // refused Registers and unknown Updates answer nothing through the machine (the server answers 4.xx)
  assert.is(regs.register(req("bad-x"), () => void log.push("ack")).ok, false);
  assert.is(regs.update("nope", { address: "127.0.0.1", port: 1 }, () => void log.push("ack")), undefined);
  assert.equal(log, []);
});

test("lifetimes are clamped to the configured bounds", () => {
  const { regs } = setup();
  const r = regs.register(req("known-x", 0));
  assert.ok(r.ok && r.value.registration.lifetime === 1);
  const r2 = regs.register(req("known-y", 999_999));
  assert.ok(r2.ok && r2.value.registration.lifetime === 3600);
});

test("store: registrations survive a restart; lapsed ones are dropped", async () => {
  const t = tempDir("ridge-lwm2m-store-");
  try {
    const file = join(t.dir, "lwm2m", "x.db");
    const clock = new FakeClock(1_000_000);
    const a = setup(new RegistrationStore(file), clock);
    a.regs.register(req("known-long", 600));
    a.regs.register(req("known-short", 5));
    a.regs.close();
    await clock.advance(10_000);
    const store2 = new RegistrationStore(file);
    const b = setup(store2, clock);
    const restored = b.regs.restore();
    assert.equal(restored.map((r: Registration) => r.endpoint), ["known-long"]);
    assert.ok(b.log.includes("online known-long restore"));
    assert.is(store2.load().length, 1);
    await clock.advance(600_000);
    assert.is(b.regs.size, 0);
    assert.is(store2.load().length, 0);
    store2.close();
  } finally {
    t.cleanup();
  }
});

test.run();
