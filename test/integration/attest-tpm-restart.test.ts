/**
 * Issue 17 item 5, against swtpm: the TPM backend's measurement log survives a process restart
 * without a reboot (saved, replayed against the PCR at open, resumed), an event written but never
 * extended is dropped, and a saved log that does not match the PCR is refused at start with
 * E_ATTEST_TPM_LOG_MISMATCH; a deleted log over a used PCR is E_ATTEST_TPM_PCR_IN_USE.
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { FakeClock } from "../../core/clock.js";
import { isRidgeError } from "../../core/index.js";
import { Attester, AuditLog, MeasurementLog, Verifier, VerifierStore, openTpmBackend, policyFrom, publicKeyToPem } from "../../attest/index.js";
import type { TpmBackend } from "../../attest/index.js";
import { withPackages } from "../../peers/required-packages.js";
import { startSwtpm } from "../helpers/tpm.js";
import type { Swtpm } from "../helpers/tpm.js";
import { GOOD, reference } from "../helpers/attest-fixture.js";

const test = withPackages(uvuTest, ["swtpm", "swtpm-tools", "tpm2-tools", "libtss2-tcti-swtpm0"]);
let tpm: Swtpm | undefined;

test.before(async () => {
  tpm = await startSwtpm(240);
});
test.after(async () => {
  await tpm?.stop();
});

const open = (name: string, pcr: number) => openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, name), alg: "ecdsa-p256-sha256", pcr });

/** What runtime/attestation does at every start. */
async function start(backend: TpmBackend): Promise<Attester> {
  const attester = new Attester({ gatewayId: "gw-tpm", runtimeVersion: "0.3.0", backend });
  await attester.measure({ type: "runtime", component: "runtime", version: "0.3.0", description: "slot a", data: GOOD.runtime });
  await attester.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  return attester;
}

function verifierFor(backend: TpmBackend) {
  const db = new Database(":memory:");
  const policy = policyFrom({
    requirePcrs: [backend.pcr],
    gateways: [{ id: "gw-tpm", key: publicKeyToPem(backend.alg, backend.publicKey), mode: "tpm" }],
    reference: { runtime: [reference(GOOD.runtime, "0.3.0")], config: [reference(GOOD.config)] },
  });
  return new Verifier({ policy, store: new VerifierStore(db), audit: new AuditLog(db), clock: new FakeClock(1_700_000_000_000) });
}

function expectRefused(p: Promise<unknown>, code: "E_ATTEST_TPM_LOG_MISMATCH" | "E_ATTEST_TPM_PCR_IN_USE", what: RegExp) {
  return p.then(
    () => assert.unreachable("the backend started"),
    (e: unknown) => {
      assert.ok(isRidgeError(e, code), String(e));
      assert.match(String(e), what);
    },
  );
}

test("restarted without a TPM reset, the backend resumes its log; the resumed gateway's quotes verify with the same verifier", async () => {
  const first = await open("resume", 8);
  assert.is(first.resumedEvents, 0);
  const a1 = await start(first);
  assert.is(a1.log.length, 3, "boot marker, runtime, config");
  const v = verifierFor(first);
  let nonce = v.issueNonce("gw-tpm");
  assert.equal(v.verify(await a1.quote(nonce), { expectedNonce: nonce }).reasons, []);

  // the process restarts (same TPM boot): the log comes back, the new start's measurements follow it
  const second = await open("resume", 8);
  assert.is(second.resumedEvents, 3);
  assert.is(second.resetCount, first.resetCount);
  const a2 = await start(second);
  assert.equal(
    a2.log.entries().map((e) => [e.seq, e.component]),
    [[0, "tpm-boot"], [1, "runtime"], [2, "config"], [3, "runtime"], [4, "config"]],
  );
  assert.equal(a2.log.entries().slice(0, 3), a1.log.entries());
  nonce = v.issueNonce("gw-tpm");
  const r = v.verify(await a2.quote(nonce), { expectedNonce: nonce });
  assert.equal(r.reasons, []);
  assert.is(r.runtimeVersion, "0.3.0");

  // an event written ahead but never extended (a crash between the two) is dropped at the next open
  const lines = readFileSync(second.logFile, "utf8").trimEnd().split("\n");
  const ghost = new MeasurementLog().record({ pcr: 8, type: "model", component: "model:x", description: "never extended", data: GOOD.model });
  appendFileSync(second.logFile, JSON.stringify({ ...ghost, seq: 5 }) + "\n" + '{"seq":6,"pcr":8,"ty');
  const third = await open("resume", 8);
  assert.is(third.resumedEvents, 5);
  assert.equal(readFileSync(third.logFile, "utf8").trimEnd().split("\n"), lines, "the file is back to what the PCR holds");
  const a3 = new Attester({ gatewayId: "gw-tpm", runtimeVersion: "0.3.0", backend: third });
  nonce = v.issueNonce("gw-tpm");
  assert.equal(v.verify(await a3.quote(nonce), { expectedNonce: nonce }).reasons, []);
});

test("a saved log that does not match the PCR is refused at start (E_ATTEST_TPM_LOG_MISMATCH), never resumed nor reset", async () => {
  const b = await open("edited", 9);
  await start(b);
  const text = readFileSync(b.logFile, "utf8");

  // an edited event (the description is bound into the PCR by the template digest)
  writeFileSync(b.logFile, text.replace('"description":"gateway.yaml"', '"description":"other.yaml"'));
  await expectRefused(open("edited", 9), "E_ATTEST_TPM_LOG_MISMATCH", /pcr9-log\.jsonl: its 3 events replay to PCR 9/);
  // an event dropped from the middle
  const lines = text.trimEnd().split("\n");
  writeFileSync(b.logFile, [lines[0], lines[1], lines[3]!.replace('"seq":2', '"seq":1')].join("\n") + "\n");
  await expectRefused(open("edited", 9), "E_ATTEST_TPM_LOG_MISMATCH", /replay to PCR 9/);
  // not a log at all, or one for another PCR
  writeFileSync(b.logFile, "garbage\n");
  await expectRefused(open("edited", 9), "E_ATTEST_TPM_LOG_MISMATCH", /line 1 is not a ridgeline-tpm-log\/1 header for PCR 9/);
  writeFileSync(b.logFile, text.replace('"pcr":9,"resetCount"', '"pcr":10,"resetCount"'));
  await expectRefused(open("edited", 9), "E_ATTEST_TPM_LOG_MISMATCH", /header for PCR 9/);
  // a hostile event line
  writeFileSync(b.logFile, lines.slice(0, 2).join("\n") + '\n{"seq":1,"pcr":99}\n' + lines[2] + "\n");
  await expectRefused(open("edited", 9), "E_ATTEST_TPM_LOG_MISMATCH", /line 3: log\.1\.pcr: an integer 0\.\.23/);

  // the log deleted: the PCR holds measurements nobody has a log of
  rmSync(b.logFile);
  await expectRefused(open("edited", 9), "E_ATTEST_TPM_PCR_IN_USE", /PCR 9 already holds measurements/);

  // the original file back: it still matches, so nothing above reset or extended the PCR
  writeFileSync(b.logFile, text);
  assert.is((await open("edited", 9)).resumedEvents, 3);
});

test.run();
