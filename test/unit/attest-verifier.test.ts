/** The verifier: golden quotes pass; every hostile variation fails with its own reason and is recorded. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { REASON, versionToFirmware, decodeQuoteInfo, encodeQuoteInfo, encodeTpmSignature, toTpmSignature, sign } from "../../attest/index.js";
import type { Evidence, Verdict } from "../../attest/index.js";
import { basePolicy, makeGateway, makeVerifier } from "../helpers/attest-fixture.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const codes = (v: Verdict) => v.reasons.map((r) => r.code);
const clone = (e: Evidence): Evidence => JSON.parse(JSON.stringify(e)) as Evidence;

for (const alg of ["sm2-sm3", "ecdsa-p256-sha256"] as const) {
  test(`${alg}: a fresh quote passes, is audited, and its runtime version comes from the reference`, async () => {
    const gw = await makeGateway(alg);
    const v = makeVerifier(basePolicy(gw.pem), gw.clock);
    const nonce = v.verifier.issueNonce("gw-1");
    const ev = await gw.attester.quote(nonce);
    const verdict = v.verifier.verify(JSON.stringify(ev), { expectedNonce: nonce, gateway: "gw-1" });
    assert.equal(verdict.reasons, []);
    assert.ok(verdict.ok);
    assert.is(verdict.runtimeVersion, "0.3.0");
    assert.is(verdict.auditSeq, 1);
    assert.is(v.audit.list()[0]!.verdict, "pass");
  });
}

test("replayed nonce, unknown nonce, expired nonce, nonce mismatch", async () => {
  const gw = await makeGateway();
  const v = makeVerifier(basePolicy(gw.pem), gw.clock);
  const nonce = v.verifier.issueNonce("gw-1");
  const ev = await gw.attester.quote(nonce);
  assert.ok(v.verifier.verify(ev, { expectedNonce: nonce }).ok);
  const replay = codes(v.verifier.verify(ev, { expectedNonce: nonce }));
  assert.ok(replay.includes(REASON.NONCE_REPLAYED), replay.join());
  assert.ok(replay.includes(REASON.CLOCK), "the replayed quote's clock did not rise either");
  const stranger = await gw.attester.quote(unhex("00112233445566778899"));
  assert.ok(codes(v.verifier.verify(stranger)).includes(REASON.NONCE_UNKNOWN));
  const n2 = v.verifier.issueNonce("gw-1");
  const ev2 = await gw.attester.quote(n2);
  await gw.clock.advance(61_000);
  assert.ok(codes(v.verifier.verify(ev2, { expectedNonce: n2 })).includes(REASON.NONCE_EXPIRED));
  const n3 = v.verifier.issueNonce("gw-1");
  const n4 = v.verifier.issueNonce("gw-1");
  const ev3 = await gw.attester.quote(n3);
  assert.equal(codes(v.verifier.verify(ev3, { expectedNonce: n4 })), [REASON.NONCE_MISMATCH]);
});

test("edited log entry, PCR value mismatch, unknown and disallowed components", async () => {
  const gw = await makeGateway();
  const v = makeVerifier(basePolicy(gw.pem), gw.clock);
  const run = async (edit: (e: Evidence) => void) => {
    const n = v.verifier.issueNonce("gw-1");
    const e = clone(await gw.attester.quote(n));
    edit(e);
    return codes(v.verifier.verify(e, { expectedNonce: n }));
  };
  // the log claims a good kernel digest while the PCR holds another: replay fails
  assert.ok((await run((e) => (e.log[2]!.digests.sm3 = "11".repeat(32)))).includes(REASON.LOG_REPLAY));
  // a reported PCR value edited: digest mismatch
  assert.ok((await run((e) => (e.pcrs.sm3!["12"] = "22".repeat(32)))).includes(REASON.PCR_DIGEST));
  // a dropped log entry
  assert.ok((await run((e) => e.log.splice(3, 1))).includes(REASON.LOG_REPLAY));
  // a reported PCR that is not in the selection
  assert.ok((await run((e) => (e.pcrs.sm3!["7"] = "00".repeat(32)))).includes(REASON.PCR_SELECTION));
  // a component with a digest outside the allowlist (new config measured on the gateway)
  await gw.attester.measure({ type: "config", component: "config", description: "gateway.yaml (edited)", data: new TextEncoder().encode("tampered") });
  assert.ok((await run(() => {})).includes(REASON.REFERENCE));
  await gw.attester.measure({ type: "driver", component: "driver:modbus", description: "driver", data: new TextEncoder().encode("x") });
  assert.ok((await run(() => {})).includes(REASON.UNKNOWN_COMPONENT));
});

test("wrong key, wrong signer ID, flipped quote byte, algorithm downgrade, hash not allowed", async () => {
  const gw = await makeGateway();
  const other = await makeGateway();
  const v = makeVerifier(basePolicy(other.pem), gw.clock);
  let n = v.verifier.issueNonce("gw-1");
  assert.equal(codes(v.verifier.verify(await gw.attester.quote(n), { expectedNonce: n })), [REASON.SIGNER_MISMATCH, REASON.SIGNATURE]);

  const idGw = await makeGateway("sm2-sm3", { id: "not-the-default-id" });
  const v2 = makeVerifier(basePolicy(idGw.pem), idGw.clock);
  n = v2.verifier.issueNonce("gw-1");
  assert.equal(codes(v2.verifier.verify(await idGw.attester.quote(n), { expectedNonce: n })), [REASON.SIGNATURE]);

  const v3 = makeVerifier(basePolicy(gw.pem), gw.clock);
  n = v3.verifier.issueNonce("gw-1");
  const e = clone(await gw.attester.quote(n));
  const q = unhex(e.quote);
  q[q.length - 1]! ^= 1;
  e.quote = hex(q);
  assert.equal(codes(v3.verifier.verify(e, { expectedNonce: n })), [REASON.SIGNATURE]);

  const p256 = await makeGateway("ecdsa-p256-sha256");
  const v4 = makeVerifier(basePolicy(p256.pem, { algorithms: ["sm2-sm3"] }), p256.clock);
  n = v4.verifier.issueNonce("gw-1");
  assert.equal(codes(v4.verifier.verify(await p256.attester.quote(n), { expectedNonce: n })), [REASON.ALGORITHM]);

  const v5 = makeVerifier(basePolicy(gw.pem, { hashes: ["sha256"] }), gw.clock);
  n = v5.verifier.issueNonce("gw-1");
  assert.equal(codes(v5.verifier.verify(await gw.attester.quote(n), { expectedNonce: n })), [REASON.HASH]);

  // SM2 evidence against a P-256 registration
  const v6 = makeVerifier(basePolicy(p256.pem), gw.clock);
  n = v6.verifier.issueNonce("gw-1");
  assert.equal(codes(v6.verifier.verify(await gw.attester.quote(n), { expectedNonce: n })), [REASON.SIGNER_MISMATCH, REASON.ALGORITHM]);
});

test("re-signed quotes: bad magic, wrong PCR selection (missing PCRs), clock checks, old runtime", async () => {
  const gw = await makeGateway();
  const v = makeVerifier(basePolicy(gw.pem), gw.clock);
  // re-sign an edited TPMS_ATTEST with the real key, to reach the checks after the signature
  const resign = (e: Evidence, edit: (q: ReturnType<typeof decodeQuoteInfo> & { ok: true }) => Uint8Array | void) => {
    const d = decodeQuoteInfo(unhex(e.quote));
    if (!d.ok) throw new Error(d.reason);
    const bytes = edit(d) ?? encodeQuoteInfo(d.value);
    e.quote = hex(bytes);
    e.signature = hex(encodeTpmSignature(toTpmSignature("sm2-sm3", sign("sm2-sm3", gw.kp.privateKey, bytes))));
    return e;
  };
  let n = v.verifier.issueNonce("gw-1");
  let e = resign(clone(await gw.attester.quote(n)), (d) => {
    const b = encodeQuoteInfo(d.value);
    b[0] = 0xfe;
    return b;
  });
  assert.equal(codes(v.verifier.verify(e, { expectedNonce: n })), [REASON.QUOTE_MAGIC]);

  n = v.verifier.issueNonce("gw-1");
  e = clone(await gw.attester.quote(n));
  const good = v.verifier.verify(e, { expectedNonce: n });
  assert.ok(good.ok, JSON.stringify(good.reasons));
  // same counters, clock not increasing
  n = v.verifier.issueNonce("gw-1");
  e = resign(clone(await gw.attester.quote(n)), (d) => void (d.value.clockInfo.clock = BigInt(good.clock!.clock)));
  assert.ok(codes(v.verifier.verify(e, { expectedNonce: n })).includes(REASON.CLOCK));
  n = v.verifier.issueNonce("gw-1");
  e = resign(clone(await gw.attester.quote(n)), (d) => void (d.value.clockInfo.resetCount = 0));
  assert.ok(codes(v.verifier.verify(e, { expectedNonce: n })).includes(REASON.RESET_COUNT));
  n = v.verifier.issueNonce("gw-1");
  e = resign(clone(await gw.attester.quote(n)), (d) => void (d.value.clockInfo.safe = false));
  assert.ok(codes(v.verifier.verify(e, { expectedNonce: n })).includes(REASON.CLOCK_UNSAFE));
  // quote only PCR 4 and 11: the policy wants 12 too
  n = v.verifier.issueNonce("gw-1");
  e = resign(clone(await gw.attester.quote(n)), (d) => void (d.value.pcrSelect = [{ hash: "sm3", pcrs: [4, 11] }]));
  const c = codes(v.verifier.verify(e, { expectedNonce: n }));
  assert.ok(c.includes(REASON.MISSING_PCRS) && c.includes(REASON.PCR_SELECTION), c.join());

  // the process claims (and quotes) another version than the runtime that was measured: refused
  n = v.verifier.issueNonce("gw-1");
  e = resign(clone(await gw.attester.quote(n)), (d) => void (d.value.firmwareVersion = versionToFirmware("9.9.9")));
  e.runtimeVersion = "9.9.9";
  const lying = v.verifier.verify(e, { expectedNonce: n });
  assert.ok(codes(lying).includes(REASON.FIRMWARE_VERSION), codes(lying).join());
  assert.match(lying.reasons.find((r) => r.code === REASON.FIRMWARE_VERSION)!.detail, /the runtime measured is version 0\.3\.0 by the reference values, the quote says 9\.9\.9/);

  const old = await makeGateway("sm2-sm3", { version: "0.1.0" });
  const v2 = makeVerifier(basePolicy(old.pem, { reference: { kernel: [{ any: true }], runtime: [{ any: true }], config: [{ any: true }], "model:*": [{ any: true }] } }), old.clock);
  n = v2.verifier.issueNonce("gw-1");
  assert.equal(codes(v2.verifier.verify(await old.attester.quote(n), { expectedNonce: n })), [REASON.RUNTIME_VERSION]);
});

test("incremental replay: a grown log still verifies; an early event edited after a pass is caught", async () => {
  const gw = await makeGateway();
  const policy = basePolicy(gw.pem);
  const extra = new TextEncoder().encode("second model");
  (policy.reference as Record<string, unknown[]>)["model:*"]!.push({ sm3: Buffer.from((await import("../../attest/index.js")).sm3(extra)).toString("hex") });
  const v = makeVerifier(policy, gw.clock);
  let n = v.verifier.issueNonce("gw-1");
  assert.ok(v.verifier.verify(await gw.attester.quote(n), { expectedNonce: n }).ok);
  await gw.attester.measure({ type: "model", component: "model:second", description: "models/second", data: extra });
  n = v.verifier.issueNonce("gw-1");
  const grown = v.verifier.verify(await gw.attester.quote(n), { expectedNonce: n });
  assert.equal(grown.reasons, []);
  n = v.verifier.issueNonce("gw-1");
  const e = clone(await gw.attester.quote(n));
  e.log[0]!.digests.sm3 = "77".repeat(32);
  assert.ok(codes(v.verifier.verify(e, { expectedNonce: n })).includes(REASON.LOG_REPLAY));
  // and the memo was not poisoned by the bad log
  n = v.verifier.issueNonce("gw-1");
  assert.equal(v.verifier.verify(await gw.attester.quote(n), { expectedNonce: n }).reasons, []);
});

test("hostile evidence: garbage, truncated, oversize, unknown gateway — fail verdicts, recorded, no throw", async () => {
  const gw = await makeGateway();
  const v = makeVerifier(basePolicy(gw.pem), gw.clock);
  const n = v.verifier.issueNonce("gw-1");
  const text = JSON.stringify(await gw.attester.quote(n));
  const inputs: (string | Uint8Array | unknown)[] = [
    "",
    "garbage",
    new Uint8Array([0xff, 0x00, 0x13]),
    text.slice(0, text.length / 2),
    "x".repeat(2 << 20),
    { format: "ridgeline-evidence/1" },
    null,
    42,
    JSON.parse(text.replace('"gw-1"', '"gw-404"')),
    JSON.parse(text.replace(/"signature":"[0-9a-f]+"/, '"signature":"001b"')),
    JSON.parse(text.replace(/"quote":"[0-9a-f]+"/, '"quote":"ff544347"')),
  ];
  for (const i of inputs) {
    const verdict = v.verifier.verify(i, { expectedNonce: n });
    assert.not.ok(verdict.ok);
    assert.ok(verdict.reasons.length > 0);
  }
  assert.is(v.audit.list().length, inputs.length);
  assert.ok(v.audit.verifyChain().ok);
});

test.run();
