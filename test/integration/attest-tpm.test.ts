/**
 * TPM 2.0 backend against swtpm: an ECDSA P-256 AK's quotes verified by tpm2_checkquote and by
 * Ridgeline; an SM2 AK's quotes verified by Ridgeline's digest-mode SM2; a quote for the wrong
 * PCR selection rejected. Every backend measures into its own PCR of 8-15 (a PCR cannot be reset
 * without a reboot, and one swtpm serves the file).
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { FakeClock } from "../../core/clock.js";
import { isRidgeError } from "../../core/index.js";
import { Attester, AuditLog, REASON, Verifier, VerifierStore, openTpmBackend, policyFrom, publicKeyToPem } from "../../attest/index.js";
import type { PolicyInput, QuoteAlg, TpmBackend } from "../../attest/index.js";
import { startSwtpm } from "../helpers/tpm.js";
import { withPackages } from "../../peers/required-packages.js";
import type { Swtpm } from "../helpers/tpm.js";
import { GOOD, reference } from "../helpers/attest-fixture.js";
import { attestBackendContract } from "../helpers/attest-backend-contract.js";

const test = withPackages(uvuTest, ["swtpm", "swtpm-tools", "tpm2-tools", "libtss2-tcti-swtpm0"]);
let tpm: Swtpm | undefined;

test.before(async () => {
  tpm = await startSwtpm(180);
});
test.after(async () => {
  await tpm?.stop();
});

async function gateway(alg: QuoteAlg, pcr: number): Promise<{ attester: Attester; backend: TpmBackend }> {
  const backend = await openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, `${alg}-${pcr}`), alg, pcr });
  const attester = new Attester({ gatewayId: "gw-tpm", runtimeVersion: "0.3.0", backend });
  await attester.measure({ type: "runtime", component: "runtime", version: "0.3.0", description: "slot a", data: GOOD.runtime });
  await attester.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  return { attester, backend };
}

function verifierFor(backend: TpmBackend, extra: Partial<PolicyInput> = {}) {
  const db = new Database(":memory:");
  const clock = new FakeClock(1_700_000_000_000);
  const policy: PolicyInput = {
    requirePcrs: [backend.pcr],
    minRuntimeVersion: "0.2.0",
    gateways: [{ id: "gw-tpm", key: publicKeyToPem(backend.alg, backend.publicKey), mode: "tpm" }],
    reference: { runtime: [reference(GOOD.runtime, "0.3.0")], config: [reference(GOOD.config)] },
    ...extra,
  };
  return new Verifier({ policy: policyFrom(policy), store: new VerifierStore(db), audit: new AuditLog(db), clock });
}

test("ECDSA P-256 AK: quote passes Ridgeline's verifier and tpm2_checkquote; a wrong nonce fails both", async () => {
  const { attester, backend } = await gateway("ecdsa-p256-sha256", 8);
  const v = verifierFor(backend);
  const nonce = v.issueNonce("gw-tpm");
  const ev = await attester.quote(nonce);
  const verdict = v.verify(ev, { expectedNonce: nonce, gateway: "gw-tpm" });
  assert.equal(verdict.reasons, []);
  assert.is(verdict.runtimeVersion, "0.3.0");

  const pem = join(tpm!.dir, "ak-p256.pem");
  await backend.exportAkPem(pem);
  const f = backend.lastQuoteFiles;
  const check = (n: string) =>
    spawnSync("tpm2_checkquote", ["-u", pem, "-m", f.msg, "-s", f.sig, "-f", f.pcrs, "-g", "sha256", "-q", n], { encoding: "utf8", timeout: 20_000 });
  const good = check(Buffer.from(nonce).toString("hex"));
  assert.is(good.status, 0, good.stderr);
  assert.is.not(check("00" + Buffer.from(nonce).toString("hex")).status, 0);
  // the exported PEM is the same key Ridgeline registered
  assert.is(readFileSync(pem, "utf8").replace(/\s/g, ""), publicKeyToPem("ecdsa-p256-sha256", backend.publicKey).replace(/\s/g, ""));
});

test("SM2 AK: the TPM's digest-mode SM2 quote passes Ridgeline's verifier; GM-mode registration rejects it", async () => {
  const { attester, backend } = await gateway("sm2-sm3", 9);
  const v = verifierFor(backend);
  let nonce = v.issueNonce("gw-tpm");
  const verdict = v.verify(await attester.quote(nonce), { expectedNonce: nonce });
  assert.equal(verdict.reasons, []);
  // the same key registered for GM-mode (software) quotes: the mode confusion is caught
  const gm = verifierFor(backend, { gateways: [{ id: "gw-tpm", key: publicKeyToPem("sm2-sm3", backend.publicKey), mode: "gm" }] });
  nonce = gm.issueNonce("gw-tpm");
  const bad = gm.verify(await attester.quote(nonce), { expectedNonce: nonce });
  assert.ok(bad.reasons.some((r) => r.code === REASON.HASH || r.code === REASON.SIGNATURE), JSON.stringify(bad.reasons));
});

test("a TPM quote for the wrong PCR selection, an edited log, a measurement outside the policy", async () => {
  const { attester, backend } = await gateway("ecdsa-p256-sha256", 10);
  const v = verifierFor(backend, { requirePcrs: [10, 15] });
  let nonce = v.issueNonce("gw-tpm");
  let r = v.verify(await attester.quote(nonce), { expectedNonce: nonce });
  assert.ok(r.reasons.some((x) => x.code === REASON.MISSING_PCRS));

  const v2 = verifierFor(backend);
  nonce = v2.issueNonce("gw-tpm");
  const ev = JSON.parse(JSON.stringify(await attester.quote(nonce))) as { log: { digests: { sha256: string } }[] };
  ev.log[0]!.digests.sha256 = "ab".repeat(32);
  r = v2.verify(ev, { expectedNonce: nonce });
  assert.ok(r.reasons.some((x) => x.code === REASON.LOG_REPLAY), JSON.stringify(r.reasons));

  await attester.measure({ type: "model", component: "model:rogue", description: "models/rogue", data: new TextEncoder().encode("rogue") });
  nonce = v2.issueNonce("gw-tpm");
  r = v2.verify(await attester.quote(nonce), { expectedNonce: nonce });
  assert.equal(r.reasons.map((x) => x.code), [REASON.UNKNOWN_COMPONENT]);
});

for (const [alg, pcr] of [["ecdsa-p256-sha256", 11], ["sm2-sm3", 12]] as const) {
  attestBackendContract(test, `tpm ${alg}`, async () => {
    return { backend: await openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, `contract-${alg}`), alg, pcr }), pcr };
  });
}

test("swtpm gone: quoting fails with E_ATTEST_TPM (a board fault), never a crash", async () => {
  const other = await startSwtpm(60);
  const backend = await openTpmBackend({ tcti: other.tcti, dir: join(tpm!.dir, "gone"), alg: "ecdsa-p256-sha256" });
  assert.is(backend.pcr, 14, "the default PCR");
  const attester = new Attester({ gatewayId: "gw-tpm", runtimeVersion: "0.3.0", backend });
  await other.stop();
  try {
    await attester.quote(new Uint8Array(16));
    assert.unreachable("quote on a dead TPM");
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_TPM"), String(e));
  }
  try {
    await attester.measure({ type: "config", component: "config", description: "x", data: new Uint8Array(1) });
    assert.unreachable("extend on a dead TPM");
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_TPM"), String(e));
  }
});

test.run();
