/**
 * The verifier's PCR rules without a TPM: quotes over resettable PCRs refused; TPM-mode boot
 * binding (boot marker of the quoted resetCount, a PCR's log only grows within one TPM boot and
 * starts again after a reset); verdicts independent of the order of events across PCRs
 * (generated interleavings); the TPM_CAP_PCR_PROPERTIES codec on a real swtpm answer and on
 * generated hostile bytes.
 *
 * TPM mode is signed here by a software ECDSA P-256 key: in that mode the verifier checks an
 * ECDSA signature over SHA-256(TPMS_ATTEST), which is what the software signer makes, so the
 * resetCount is the test's to choose.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import Database from "better-sqlite3";
import { FakeClock } from "../../core/clock.js";
import {
  Attester,
  MeasurementLog,
  REASON,
  bootMarker,
  decodePcrPropertiesResponse,
  encodeGetPcrPropertiesCommand,
  generateKeyPair,
  publicKeyToPem,
  resettablePcrsOf,
  softwareBackend,
  softwareSigner,
  TPM_PT_PCR,
} from "../../attest/index.js";
import type { Evidence, MeasurementEvent } from "../../attest/index.js";
import { GOOD, basePolicy, makeGateway, makeVerifier, reference } from "../helpers/attest-fixture.js";

const codes = (r: { reasons: { code: string }[] }) => r.reasons.map((x) => x.code);
const kp = generateKeyPair("ecdsa-p256-sha256");
const pem = publicKeyToPem("ecdsa-p256-sha256", kp.publicKey);

/** A "TPM" gateway on PCR 14 in TPM boot `resetCount`, its log begun with the boot marker unless `marker: false`. */
async function tpmGateway(clock: FakeClock, resetCount: number, o: { marker?: boolean; markerCount?: number } = {}) {
  const attester = new Attester({
    gatewayId: "gw-1",
    runtimeVersion: "0.3.0",
    backend: { ...softwareBackend({ signer: softwareSigner("ecdsa-p256-sha256", kp.privateKey, kp.publicKey), clock, resetCount, runtimeVersion: "0.3.0" }), mode: "tpm" },
    pcrFor: () => 14,
  });
  if (o.marker !== false) await attester.measure(bootMarker(14, o.markerCount ?? resetCount, "b-1"));
  await attester.measure({ type: "runtime", component: "runtime", version: "0.3.0", description: "slot a", data: GOOD.runtime });
  await attester.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  return attester;
}

function tpmVerifier(clock: FakeClock, db = new Database(":memory:")) {
  return makeVerifier(
    {
      requirePcrs: [14],
      gateways: [{ id: "gw-1", key: pem, mode: "tpm" }],
      reference: { runtime: [reference(GOOD.runtime, "0.3.0")], config: [reference(GOOD.config)] },
    },
    clock,
    db,
  ).verifier;
}

async function ask(v: ReturnType<typeof tpmVerifier>, a: Attester, clock: FakeClock) {
  await clock.advance(1000);
  const nonce = v.issueNonce("gw-1");
  return v.verify(await a.quote(nonce), { expectedNonce: nonce });
}

test("a quote over a resettable PCR is refused, whatever it holds (software quotes too)", async () => {
  const { attester, clock, pem: swPem } = await makeGateway("sm2-sm3");
  await attester.measure({ type: "model", pcr: 16, component: "model:anomaly", description: "models/anomaly", data: GOOD.model });
  const { verifier } = makeVerifier(basePolicy(swPem), clock);
  let nonce = verifier.issueNonce("gw-1");
  const r = verifier.verify(await attester.quote(nonce), { expectedNonce: nonce });
  assert.equal(codes(r), [REASON.PCR_RESETTABLE]);
  assert.match(r.reasons[0]!.detail, /PCR 16/);
  // the policy decides which PCRs count as resettable
  const { verifier: narrow } = makeVerifier(basePolicy(swPem, { resettablePcrs: [23] }), clock);
  nonce = narrow.issueNonce("gw-1");
  assert.equal(narrow.verify(await attester.quote(nonce), { expectedNonce: nonce }).reasons, []);
});

test("TPM mode: the log must begin with the boot marker of the quoted resetCount", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  assert.equal((await ask(tpmVerifier(clock), await tpmGateway(clock, 5), clock)).reasons, []);
  assert.equal(codes(await ask(tpmVerifier(clock), await tpmGateway(clock, 5, { marker: false }), clock)), [REASON.BOOT_MISMATCH]);
  const old = await ask(tpmVerifier(clock), await tpmGateway(clock, 6, { markerCount: 5 }), clock);
  assert.equal(codes(old), [REASON.BOOT_MISMATCH]);
  assert.match(old.reasons[0]!.detail, /resetCount=5.*resetCount=6/);
  // a second marker, or a marker whose digest is not its description's
  const twice = await tpmGateway(clock, 5);
  await twice.measure(bootMarker(14, 5, "b-2"));
  assert.equal(codes(await ask(tpmVerifier(clock), twice, clock)), [REASON.BOOT_MISMATCH]);
  const bent = await tpmGateway(clock, 5, { marker: false });
  const m = bootMarker(14, 5, "b-1");
  const lying = new Attester({ gatewayId: "gw-1", runtimeVersion: "0.3.0", backend: bent.backend, pcrFor: () => 14 });
  await lying.measure({ ...m, data: new TextEncoder().encode("something else") });
  assert.equal(codes(await ask(tpmVerifier(clock), lying, clock)), [REASON.BOOT_MISMATCH]);
});

test("TPM mode: within one resetCount a PCR's log only grows (E_ATTEST_LOG_REWOUND); after a reset it starts again (E_ATTEST_BOOT_REPLAY)", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const db = new Database(":memory:");
  const v = tpmVerifier(clock, db);
  const a = await tpmGateway(clock, 5);
  assert.equal((await ask(v, a, clock)).reasons, []);
  await a.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  assert.equal((await ask(v, a, clock)).reasons, [], "the log grew");

  // same TPM boot, a log that starts over (the PCR was reset): refused, also by a verifier restarted on the same database
  const rewound = await tpmGateway(clock, 5);
  const r = await ask(tpmVerifier(clock, db), rewound, clock);
  assert.equal(codes(r), [REASON.LOG_REWOUND]);
  assert.match(r.reasons[0]!.detail, /PCR 14: the 4 events quoted before in TPM boot resetCount=5/);

  // a reset, and the old log carried on (its marker names the old boot)
  const carried = await tpmGateway(clock, 6, { markerCount: 5 });
  await carried.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  const c = await ask(v, carried, clock);
  assert.ok(codes(c).includes(REASON.BOOT_REPLAY), JSON.stringify(c.reasons));
  assert.ok(codes(c).includes(REASON.BOOT_MISMATCH), JSON.stringify(c.reasons));

  // the honest next boot: a new log begun with its own marker
  assert.equal((await ask(v, await tpmGateway(clock, 6), clock)).reasons, []);
});

/** Interleave the per-PCR sequences of `log` in the order `picks` chooses, renumbering seq. */
function interleave(log: readonly MeasurementEvent[], picks: readonly number[]): MeasurementEvent[] {
  const queues = [...new Map(log.map((e) => [e.pcr, log.filter((x) => x.pcr === e.pcr)])).values()];
  const out: MeasurementEvent[] = [];
  let k = 0;
  while (queues.some((q) => q.length)) {
    const live = queues.filter((q) => q.length);
    out.push({ ...live[(picks[k++] ?? 0) % live.length]!.shift()!, seq: out.length });
  }
  return out;
}

test("verdicts do not depend on the order of events across PCRs (generated interleavings)", async () => {
  const { attester, clock, pem: swPem } = await makeGateway("sm2-sm3");
  await attester.measure({ type: "runtime", component: "runtime", version: "0.3.0", description: "slot a again", data: GOOD.runtime });
  await attester.measure({ type: "model", component: "model:anomaly", description: "models/anomaly", data: GOOD.model });
  const { verifier } = makeVerifier(basePolicy(swPem), clock, new Database(":memory:"));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(8), { minLength: 0, maxLength: 12 }), async (picks) => {
      await clock.advance(10);
      const nonce = verifier.issueNonce("gw-1");
      const ev = await attester.quote(nonce);
      const shuffled: Evidence = { ...ev, log: interleave(ev.log, picks) };
      const r = verifier.verify(shuffled, { expectedNonce: nonce });
      assert.equal(r.reasons, []);
      assert.is(r.runtimeVersion, "0.3.0");
    }),
    { numRuns: 40 },
  );

  // within a PCR the order is protected: swapping two events of one PCR breaks replay
  await clock.advance(10);
  const nonce = verifier.issueNonce("gw-1");
  const ev = await attester.quote(nonce);
  const i = ev.log.findIndex((e) => e.pcr === 11);
  const j = ev.log.findIndex((e, k) => k > i && e.pcr === 11);
  const log = ev.log.map((e) => ({ ...e }));
  [log[i], log[j]] = [{ ...log[j]!, seq: i }, { ...log[i]!, seq: j }];
  assert.ok(codes(verifier.verify({ ...ev, log }, { expectedNonce: nonce })).includes(REASON.LOG_REPLAY));
});

test("runtime versions ending differently in two PCRs: no trustworthy version, whatever the interleaving", async () => {
  const { attester, clock, pem: swPem } = await makeGateway("sm2-sm3");
  const other = new TextEncoder().encode("runtime bundle 0.4.0");
  await attester.measure({ type: "runtime", pcr: 10, component: "runtime", version: "0.4.0", description: "slot b", data: other });
  const policy = basePolicy(swPem);
  policy.reference!.runtime!.push(reference(other, "0.4.0"));
  const { verifier } = makeVerifier(policy, clock);
  for (const picks of [[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [3, 2, 1, 0, 4]]) {
    await clock.advance(10);
    const nonce = verifier.issueNonce("gw-1");
    const ev = await attester.quote(nonce);
    const r = verifier.verify({ ...ev, log: interleave(ev.log, picks) }, { expectedNonce: nonce });
    assert.ok(codes(r).includes(REASON.RUNTIME_VERSION), JSON.stringify(r.reasons));
  }
});

test("MeasurementLog.from carries on from a saved log: same PCRs, seq continues; misuse throws", async () => {
  const { attester } = await makeGateway("sm2-sm3");
  const saved = attester.log.entries();
  const again = MeasurementLog.from(saved);
  for (const bank of ["sha256", "sm3"] as const) for (const i of [4, 11, 12, 13]) assert.equal(again.pcr(bank, i), attester.log.pcr(bank, i));
  assert.is(again.record({ pcr: 12, type: "config", component: "config", description: "reload", data: GOOD.config }).seq, saved.length);
  assert.throws(() => MeasurementLog.from(saved.slice(1)), RangeError);
  assert.throws(() => MeasurementLog.from([{ ...saved[0]!, digests: { sha256: saved[0]!.digests.sha256! } }]), RangeError);
});

// swtpm 0.7.1 (libtpms), TPM2_GetCapability(TPM_CAP_PCR_PROPERTIES, 0, 32) answered through tpm2_send
const SWTPM_PCR_PROPERTIES =
  "80010000008b0000000000000000070000000f0000000003ffff000000000103ffff8100000002030000810000000303ffff9100000004030000810000000503ffffff00000006030000f10000000703ffff9f00000008030000810000000903ffff870000000a0300007e00000011030000e1000000120300007e00000013030000700000001403000070";

test("TPM_CAP_PCR_PROPERTIES: the command, swtpm's answer, resettable PCRs per locality", () => {
  assert.is(Buffer.from(encodeGetPcrPropertiesCommand()).toString("hex"), "8001000000160000017a000000070000000000000020");
  const d = decodePcrPropertiesResponse(Buffer.from(SWTPM_PCR_PROPERTIES, "hex"));
  assert.ok(d.ok, d.ok ? "" : d.reason);
  if (!d.ok) return;
  assert.equal(d.value.get(TPM_PT_PCR.RESET_L0), [16, 23]);
  assert.equal(d.value.get(TPM_PT_PCR.RESET_L2), [16, 20, 21, 22, 23]);
  assert.equal(d.value.get(TPM_PT_PCR.RESET_L4), [17, 18, 19, 20, 21, 22]);
  assert.equal(resettablePcrsOf(d.value), [16, 17, 18, 19, 20, 21, 22, 23]);
});

test("TPM_CAP_PCR_PROPERTIES decoder is total over hostile bytes (generated)", () => {
  const real = Buffer.from(SWTPM_PCR_PROPERTIES, "hex");
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(real.length).map((n) => real.subarray(0, n)),
        fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
          const c = Uint8Array.from(real);
          c[i] = b;
          return c;
        }),
      ),
      (bytes) => {
        const d = decodePcrPropertiesResponse(bytes);
        if (!d.ok) assert.is(d.code, "E_ATTEST_TPM");
        else for (const pcrs of d.value.values()) for (const i of pcrs) assert.ok(i >= 0 && i < 64);
      },
    ),
    { numRuns: 500 },
  );
});

test.run();
