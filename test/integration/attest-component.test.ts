/**
 * The attestation component built the way the gateway builds it: measures at start, re-measures through
 * Measurements, answers POST /attest/quote and MQTT challenges (through the uplink queue), keeps its
 * key (0600) and boot counter across restarts; the evidence passes a verifier with a policy.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { FakeClock } from "../../core/clock.js";
import { isRidgeError } from "../../core/index.js";
import type { Event } from "../../core/event.js";
import { createAttestationComponent } from "../../runtime/attestation/index.js";
import type { ControlRequest } from "../../runtime/control/routes.js";
import { AuditLog, REASON, Verifier, VerifierStore, policyFrom, publicKeyToPem, sm3 } from "../../attest/index.js";
import type { Evidence } from "../../attest/index.js";
import { makeParts } from "../helpers/cloud.js";
import { tempDir } from "../../peers/process.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const tmp = tempDir("ridge-attest-comp-");
test.after(() => tmp.cleanup());

function request(body: unknown): ControlRequest {
  const raw = Buffer.from(JSON.stringify(body));
  return { method: "POST", path: "/attest/quote", query: new URLSearchParams(), headers: {}, body: async () => raw, json: async () => JSON.parse(raw.toString()) as unknown };
}

async function gateway(dataDir: string, clock: FakeClock) {
  const s = makeParts({ dataDir, clock, config: { attest: { signer: "sm2" } } });
  // a board with a readable boot file
  const kernel = join(dataDir, "Image");
  writeFileSync(kernel, "kernel bytes");
  (s as { board: typeof s.board }).board = { ...s.board, measure: [{ path: kernel, pcr: 4, what: "kernel" }, { path: "/nonexistent/dtb", pcr: 5, what: "device tree" }] };
  const uplinked: Event[] = [];
  const c = await createAttestationComponent({ ...s, uplink: { append: async (b) => void uplinked.push(...b) } });
  assert.ok(c);
  await c!.start();
  return { s, c: c!, uplinked };
}

test("no attest section → no component", async () => {
  const s = makeParts({ dataDir: join(tmp.dir, "none"), config: {} });
  assert.is(await createAttestationComponent({ ...s, uplink: { append: async () => {} } }), undefined);
});

test("tpm: required on a board without a TPM → E_ATTEST_NO_TPM (board fault)", async () => {
  const s = makeParts({ dataDir: join(tmp.dir, "req"), config: { attest: { tpm: "required" } } });
  try {
    await createAttestationComponent({ ...s, uplink: { append: async () => {} } });
    assert.unreachable();
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_NO_TPM"), String(e));
  }
  s.db.close();
});

test("measures at start, answers the control API, re-measures on hooks; evidence verifies", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const dataDir = join(tmp.dir, "gw");
  mkdirSync(dataDir, { recursive: true });
  const { s, c, uplinked } = await gateway(dataDir, clock);
  assert.is((statSync(join(dataDir, "attest", "ak-sm2.key")).mode & 0o777).toString(8), "600");

  const logRoute = s.routes.match("GET", "/attest/log")!;
  const logBody = (await logRoute(request({}))).body as { events: Evidence["log"] };
  assert.equal(logBody.events.map((e) => e.component), ["kernel", "runtime", "config"]);
  assert.is(logBody.events[0]!.digests.sm3, hex(sm3(new TextEncoder().encode("kernel bytes"))));

  s.measurements.changed({ kind: "model", name: "anomaly@3", data: new TextEncoder().encode("model v3") });
  const quote = s.routes.match("POST", "/attest/quote")!;
  const bad = await quote(request({ nonce: "zz" }));
  assert.is(bad.status, 400);

  // register this gateway with a verifier built from what it measured
  const evidence = (await quote(request({ nonce: "00112233445566778899aabbccddeeff" }))).body as Evidence;
  const comps = evidence.log.map((e) => e.component);
  assert.equal(comps, ["kernel", "runtime", "config", "model:anomaly"]);
  assert.is(evidence.log[3]!.version, "3");
  const ref: Record<string, { sm3: string }[]> = {};
  for (const e of evidence.log) ref[e.component] = [{ sm3: e.digests.sm3! }];
  const db = new Database(":memory:");
  const pem = publicKeyToPem("sm2-sm3", Buffer.from(evidence.signer.publicKey, "hex"));
  const verifier = new Verifier({ policy: policyFrom({ gateways: [{ id: "gw-test", key: pem }], reference: ref, requirePcrs: [11, 12] }), store: new VerifierStore(db), audit: new AuditLog(db), clock });
  let nonce = verifier.issueNonce("gw-test");
  let ev = (await quote(request({ nonce: hex(nonce) }))).body as Evidence;
  assert.equal(verifier.verify(ev, { expectedNonce: nonce }).reasons, []);

  // MQTT challenge → answered as an "attest" event on the uplink sink
  nonce = verifier.issueNonce("gw-test");
  await s.downlink.dispatch("attest", Buffer.from(JSON.stringify({ nonce: hex(nonce) })));
  assert.is(uplinked.length, 1);
  assert.is(uplinked[0]!.kind, "attest");
  assert.equal(verifier.verify(uplinked[0]!.payload, { expectedNonce: nonce }).reasons, []);

  // a config reload measured through the hook: the new digest is not in the policy
  s.measurements.changed({ kind: "config", name: "pipeline", data: new TextEncoder().encode("pipeline v2") });
  nonce = verifier.issueNonce("gw-test");
  ev = (await quote(request({ nonce: hex(nonce) }))).body as Evidence;
  assert.equal(verifier.verify(ev, { expectedNonce: nonce }).reasons.map((r) => r.code), [REASON.UNKNOWN_COMPONENT]);
  assert.ok(c.status!().quotes === 4);
  await c.stop();
  assert.is(s.measurements.listeners, 0);
  s.db.close();
});

test("restart: same key, boot counter (resetCount) goes up", async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const dataDir = join(tmp.dir, "gw2");
  mkdirSync(dataDir, { recursive: true });
  const reset = async () => {
    const { s, c } = await gateway(dataDir, clock);
    const ev = (await s.routes.match("POST", "/attest/quote")!(request({ nonce: "0011223344556677" }))).body as Evidence;
    await c.stop();
    s.db.close();
    const q = Buffer.from(ev.quote, "hex");
    const extraLen = q.readUInt16BE(6 + 2 + q.readUInt16BE(6));
    const off = 6 + 2 + q.readUInt16BE(6) + 2 + extraLen + 8;
    return { key: ev.signer.publicKey, resetCount: q.readUInt32BE(off) };
  };
  const a = await reset();
  const b = await reset();
  assert.is(a.key, b.key);
  assert.is(b.resetCount, a.resetCount + 1);
});

test.run();
