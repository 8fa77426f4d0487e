/**
 * Issue 17 item 1, against swtpm: the forgery over a resettable PCR. A local process with the TPM
 * resets PCR 16 (tpm2_pcrreset, locality 0), re-extends the approved log into it exactly as the
 * backend extends events, and runs tpm2_quote with the attestation key and the verifier's fresh
 * nonce; the evidence is built as the Attester builds it. The verifier refuses it
 * (E_ATTEST_PCR_RESETTABLE), the same forgery cannot be done on the runtime PCR (14: bad
 * locality), the backend refuses resettable PCRs and never resets one, and a log replayed into
 * the PCR after a reboot is refused by the boot binding.
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { FakeClock } from "../../core/clock.js";
import { isRidgeError } from "../../core/index.js";
import {
  Attester,
  AuditLog,
  EVIDENCE_FORMAT,
  MeasurementLog,
  REASON,
  Verifier,
  VerifierStore,
  bootMarker,
  openTpmBackend,
  policyFrom,
  publicKeyToPem,
  templateDigest,
  tpm2Tools,
} from "../../attest/index.js";
import type { Evidence, MeasurementEvent, PolicyInput, QuoteAlg, TpmBackend } from "../../attest/index.js";
import { withPackages } from "../../peers/required-packages.js";
import { startSwtpm } from "../helpers/tpm.js";
import type { Swtpm } from "../helpers/tpm.js";
import { rebootTpm, tpmTool } from "../helpers/tpm-reboot.js";
import { GOOD, reference } from "../helpers/attest-fixture.js";

const test = withPackages(uvuTest, ["swtpm", "swtpm-tools", "tpm2-tools", "libtss2-tcti-swtpm0"]);
let tpm: Swtpm | undefined;

test.before(async () => {
  tpm = await startSwtpm(240);
});
test.after(async () => {
  await tpm?.stop();
});

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const codes = (r: { reasons: { code: string }[] }) => r.reasons.map((x) => x.code);

function run(tool: string, args: string[]): string {
  const r = tpmTool(tpm!.tcti, tool, args);
  assert.is(r.status, 0, `${tool} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function readPcr(pcr: number): string {
  const out = join(tpm!.dir, `read-${pcr}.bin`);
  run("tpm2_pcrread", [`sha256:${pcr}`, "-o", out]);
  return hex(new Uint8Array(readFileSync(out)));
}

function resetCount(): number {
  return Number(/reset_count:\s*(\d+)/.exec(run("tpm2_readclock", []))![1]);
}

async function gateway(alg: QuoteAlg, name: string, pcr?: number): Promise<{ attester: Attester; backend: TpmBackend }> {
  const backend = await openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, name), alg, ...(pcr !== undefined ? { pcr } : {}) });
  const attester = new Attester({ gatewayId: "gw-tpm", runtimeVersion: "0.3.0", backend });
  await attester.measure({ type: "runtime", component: "runtime", version: "0.3.0", description: "slot a", data: GOOD.runtime });
  await attester.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  return { attester, backend };
}

function verifierFor(backend: TpmBackend, extra: Partial<PolicyInput> = {}, db = new Database(":memory:")) {
  const policy: PolicyInput = {
    minRuntimeVersion: "0.2.0",
    gateways: [{ id: "gw-tpm", key: publicKeyToPem(backend.alg, backend.publicKey), mode: "tpm" }],
    reference: { runtime: [reference(GOOD.runtime, "0.3.0")], config: [reference(GOOD.config)] },
    ...extra,
  };
  return new Verifier({ policy: policyFrom(policy), store: new VerifierStore(db), audit: new AuditLog(db), clock: new FakeClock(1_700_000_000_000) });
}

/**
 * The forger's side, with nothing but tpm2-tools and what a gateway publishes (its log, its AK's
 * persistent handle): extend `events` into `pcr` as the backend does (ima-ng template digests,
 * sha256 bank), quote `pcr` with the AK and `nonce`, and wrap it as the Attester wraps a quote.
 */
function forge(backend: TpmBackend, events: readonly MeasurementEvent[], pcr: number, nonce: Uint8Array): Evidence {
  const log: MeasurementEvent[] = events.map((e, seq) => ({ ...e, seq, pcr, digests: { sha256: e.digests.sha256! } }));
  for (const e of log) {
    const t = templateDigest("sha256", e, Uint8Array.from(Buffer.from(e.digests.sha256!, "hex")));
    run("tpm2_pcrextend", [`${pcr}:sha256=${hex(t)}`]);
  }
  const f = { msg: join(tpm!.dir, "forged.msg"), sig: join(tpm!.dir, "forged.sig"), pcrs: join(tpm!.dir, "forged.pcrs") };
  const args = ["-c", backend.akHandle, "-l", `sha256:${pcr}`, "-q", hex(nonce), "-m", f.msg, "-s", f.sig, "-o", f.pcrs, "-g", "sha256"];
  if (backend.alg === "sm2-sm3") args.push("--scheme", "sm2");
  run("tpm2_quote", args);
  tpmTool(tpm!.tcti, "tpm2_flushcontext", ["-t"]);
  tpmTool(tpm!.tcti, "tpm2_flushcontext", ["-s"]);
  return {
    format: EVIDENCE_FORMAT,
    gateway: "gw-tpm",
    runtimeVersion: "0.3.0",
    signer: { alg: backend.alg, mode: "tpm", publicKey: hex(backend.publicKey) },
    quote: hex(new Uint8Array(readFileSync(f.msg))),
    signature: hex(new Uint8Array(readFileSync(f.sig))),
    pcrs: { sha256: { [String(pcr)]: readPcr(pcr) } },
    log,
  };
}

/** The approved log re-created for PCR 16 in this TPM boot: a boot marker naming it, then the approved events. */
function approvedLogFor(pcr: number, approved: readonly MeasurementEvent[]): MeasurementEvent[] {
  const marker = new MeasurementLog().record(bootMarker(pcr, resetCount(), "forged"));
  return [marker, ...approved.filter((e) => e.component !== "tpm-boot")];
}

// the ECDSA gateway on the default PCR (14), the SM2 one on 15 (one swtpm serves both)
for (const [alg, pcr] of [["ecdsa-p256-sha256", undefined], ["sm2-sm3", 15]] as const) {
  test(`${alg}: reset PCR 16, re-extend the approved log, tpm2_quote with the AK and a fresh nonce: E_ATTEST_PCR_RESETTABLE`, async () => {
    const { attester, backend } = await gateway(alg, `forgery-${alg}`, pcr);
    assert.is(backend.pcr, pcr ?? 14);
    const v = verifierFor(backend);
    let nonce = v.issueNonce("gw-tpm");
    const honest = v.verify(await attester.quote(nonce), { expectedNonce: nonce, gateway: "gw-tpm" });
    assert.equal(honest.reasons, [], "the honest gateway passes");

    // the forgery, exactly as in the issue
    const approved = attester.log.entries();
    const junk = new Uint8Array(32).fill(7);
    run("tpm2_pcrextend", [`16:sha256=${hex(junk)}`]); // whatever PCR 16 held before
    run("tpm2_pcrreset", ["16"]);
    assert.is(readPcr(16), "00".repeat(32), "a locality-0 process reset PCR 16");
    nonce = v.issueNonce("gw-tpm");
    const forged = forge(backend, approvedLogFor(16, approved), 16, nonce);
    const r = v.verify(forged, { expectedNonce: nonce, gateway: "gw-tpm" });
    assert.not.ok(r.ok);
    assert.ok(codes(r).includes(REASON.PCR_RESETTABLE), JSON.stringify(r.reasons));

    // to a verifier that never saw this gateway, the resettable PCR is the only thing wrong with it
    run("tpm2_pcrreset", ["16"]);
    const fresh = verifierFor(backend);
    nonce = fresh.issueNonce("gw-tpm");
    const r2 = fresh.verify(forge(backend, approvedLogFor(16, approved), 16, nonce), { expectedNonce: nonce, gateway: "gw-tpm" });
    assert.equal(codes(r2), [REASON.PCR_RESETTABLE]);

    // the control: with the rule switched off in the policy the same forgery would pass (it is faithful)
    run("tpm2_pcrreset", ["16"]);
    const blind = verifierFor(backend, { resettablePcrs: [] });
    nonce = blind.issueNonce("gw-tpm");
    const r3 = blind.verify(forge(backend, approvedLogFor(16, approved), 16, nonce), { expectedNonce: nonce, gateway: "gw-tpm" });
    assert.equal(r3.reasons, []);

    // and on the PCR the runtime really uses the reset itself is refused by the TPM
    const before = readPcr(backend.pcr);
    const resetOurs = tpmTool(tpm!.tcti, "tpm2_pcrreset", [String(backend.pcr)]);
    assert.is.not(resetOurs.status, 0);
    assert.match(resetOurs.stderr, /locality/);
    assert.is(readPcr(backend.pcr), before);
    nonce = v.issueNonce("gw-tpm");
    assert.equal(v.verify(await attester.quote(nonce), { expectedNonce: nonce, gateway: "gw-tpm" }).reasons, [], "the honest gateway still passes");
  });
}

test("the backend refuses PCR 16-23 and anything outside 0-15, and never resets one", async () => {
  run("tpm2_pcrextend", [`16:sha256=${"11".repeat(32)}`]);
  run("tpm2_pcrextend", [`23:sha256=${"22".repeat(32)}`]);
  const held = { 16: readPcr(16), 23: readPcr(23) };
  for (const pcr of [16, 17, 20, 22, 23, 24, -1, 2.5]) {
    try {
      await openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, `refused-${pcr}`), alg: "ecdsa-p256-sha256", pcr });
      assert.unreachable(`PCR ${pcr} accepted`);
    } catch (e) {
      assert.ok(isRidgeError(e, "E_ATTEST_TPM_PCR_RESETTABLE"), String(e));
      assert.match(String(e), new RegExp(`tpmPcr ${pcr}`));
    }
  }
  assert.equal({ 16: readPcr(16), 23: readPcr(23) }, held, "nothing was reset");

  // a PCR the TPM itself reports resettable (TPM_PT_PCR_RESET_L0) is refused too: a TPM that says PCR 10 is
  const real = tpm2Tools(tpm!.tcti);
  const lying = {
    async run(tool: string, args: string[]) {
      const r = await real.run(tool, args);
      if (tool === "tpm2_send") {
        const out = args[args.indexOf("-o") + 1]!;
        const b = new Uint8Array(readFileSync(out));
        // the RESET_L0 entry (tag 0x02) is the third: header 10 + moreData 1 + cap 4 + count 4, entries of 8 bytes
        const at = 19 + 2 * 8;
        assert.is(b[at + 3], 0x02);
        b[at + 5 + 1] = 0x04; // PCR 10
        writeFileSync(out, b);
      }
      return r;
    },
  };
  mkdirSync(join(tpm!.dir, "lying"), { recursive: true });
  try {
    await openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, "lying"), alg: "ecdsa-p256-sha256", pcr: 10, runner: lying });
    assert.unreachable("a PCR the TPM reports resettable was accepted");
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_TPM_PCR_RESETTABLE"), String(e));
    assert.match(String(e), /reports PCR 10 resettable/);
  }
});

test("a log replayed into the PCR after a reboot is refused (E_ATTEST_BOOT_MISMATCH, E_ATTEST_BOOT_REPLAY); the honest gateway's next boot passes", async () => {
  const dir = "reboot-gw";
  const { attester, backend } = await gateway("ecdsa-p256-sha256", dir, 13);
  const db = new Database(":memory:");
  const v = verifierFor(backend, {}, db);
  let nonce = v.issueNonce("gw-tpm");
  assert.equal(v.verify(await attester.quote(nonce), { expectedNonce: nonce, gateway: "gw-tpm" }).reasons, []);
  const oldLog = attester.log.entries();
  const rc = resetCount();

  rebootTpm(tpm!);
  assert.is(resetCount(), rc + 1);
  assert.is(readPcr(13), "00".repeat(32));
  // the old boot's log, marker and all, extended again into the fresh PCR: the same PCR values as before
  nonce = v.issueNonce("gw-tpm");
  const replayed = forge(backend, oldLog, 13, nonce);
  const r = v.verify(replayed, { expectedNonce: nonce, gateway: "gw-tpm" });
  assert.not.ok(r.ok);
  assert.ok(codes(r).includes(REASON.BOOT_MISMATCH), JSON.stringify(r.reasons));
  assert.ok(codes(r).includes(REASON.BOOT_REPLAY), JSON.stringify(r.reasons));
  // the gateway's own backend sees a PCR it has no log of for this boot and will not start on it
  try {
    await openTpmBackend({ tcti: tpm!.tcti, dir: join(tpm!.dir, dir), alg: "ecdsa-p256-sha256", pcr: 13 });
    assert.unreachable("started over a PCR holding a replayed log");
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_TPM_PCR_IN_USE"), String(e));
  }

  // the next honest boot: a new log begun with the new boot's marker passes the same verifier
  rebootTpm(tpm!);
  const next = await gateway("ecdsa-p256-sha256", dir, 13);
  assert.is(next.backend.resumedEvents, 0);
  assert.is(next.backend.resetCount, rc + 2);
  nonce = v.issueNonce("gw-tpm");
  assert.equal(v.verify(await next.attester.quote(nonce), { expectedNonce: nonce, gateway: "gw-tpm" }).reasons, []);
});

test.run();
