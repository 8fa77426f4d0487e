/**
 * The AttestBackend contract, run against every implementation (software keys, the TPM through
 * tpm2-tools): what a backend promises the Attester and the verifier.
 */
import * as assert from "uvu/assert";
import type { Test } from "uvu";
import { Attester, decodeQuoteInfo, decodeTpmSignature, digest, hashAlgName, pcrCompositeDigest, rawRs, replayLog, verify, verifyDigest } from "../../attest/index.js";
import type { AttestBackend } from "../../attest/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export function attestBackendContract(t: Test, name: string, make: () => Promise<{ backend: AttestBackend; pcr?: number }>): void {
  t(`${name} contract: quotes carry the nonce, PCRs match the log's replay, the signature verifies in the backend's mode`, async () => {
    const { backend, pcr } = await make();
    const attester = new Attester({ gatewayId: "contract", runtimeVersion: "1.2.3", backend, ...(pcr !== undefined ? { pcrFor: () => pcr } : {}) });
    await attester.measure({ type: "runtime", component: "runtime", description: "r", data: new TextEncoder().encode("runtime") });
    await attester.measure({ type: "config", component: "config", description: "c", data: new TextEncoder().encode("config") });
    const nonce = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
    const ev = await attester.quote(nonce);
    assert.is(ev.signer.alg, backend.alg);
    assert.is(ev.signer.publicKey, hex(backend.publicKey));
    const q = decodeQuoteInfo(Buffer.from(ev.quote, "hex"));
    assert.ok(q.ok, q.ok ? "" : q.reason);
    if (!q.ok) return;
    assert.is(hex(q.value.extraData), hex(nonce));
    assert.is(q.value.pcrSelect.length, 1);
    const sel = q.value.pcrSelect[0]!;
    assert.is(sel.hash, backend.bank);
    const replay = replayLog(ev.log, backend.bank);
    assert.ok(replay.ok);
    if (!replay.ok) return;
    const values = sel.pcrs.map((i) => Buffer.from(ev.pcrs[backend.bank]![String(i)]!, "hex"));
    sel.pcrs.forEach((i, k) => assert.is(hex(values[k]!), hex(replay.value.get(i)!), `PCR ${i}`));
    const sig = decodeTpmSignature(Buffer.from(ev.signature, "hex"));
    assert.ok(sig.ok);
    if (!sig.ok) return;
    const h = hashAlgName(sig.value.hash)!;
    assert.is(hex(pcrCompositeDigest(h, values)), hex(q.value.pcrDigest));
    const rs = rawRs(sig.value)!;
    const attest = Buffer.from(ev.quote, "hex");
    const ok = backend.mode === "gm" ? verify(backend.alg, backend.publicKey, attest, rs) : verifyDigest(backend.alg, backend.publicKey, digest(h, attest), rs);
    assert.ok(ok, "signature");
    // a second quote: clock moves on within one reset
    const q2 = decodeQuoteInfo(Buffer.from((await attester.quote(nonce)).quote, "hex"));
    assert.ok(q2.ok && (q2.value.clockInfo.resetCount > q.value.clockInfo.resetCount || q2.value.clockInfo.clock > q.value.clockInfo.clock));
    await backend.close?.();
  });
}
