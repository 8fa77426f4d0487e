/** A software-attested gateway and a verifier wired to an in-memory SQLite, for attestation tests. */
import Database from "better-sqlite3";
import { FakeClock } from "../../core/clock.js";
import {
  Attester,
  AuditLog,
  Verifier,
  VerifierStore,
  generateKeyPair,
  policyFrom,
  publicKeyToPem,
  softwareBackend,
  softwareSigner,
  sm3,
  sha256,
} from "../../attest/index.js";
import type { PolicyInput, QuoteAlg } from "../../attest/index.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

export const GOOD = {
  kernel: utf8("kernel image v6.6"),
  runtime: utf8("runtime bundle 0.3.0"),
  config: utf8("gateway: { id: gw-1 }\n"),
  model: utf8("onnx model bytes"),
};

export function reference(data: Uint8Array, version?: string) {
  return { sha256: hex(sha256(data)), sm3: hex(sm3(data)), ...(version ? { version } : {}) };
}

export async function makeGateway(alg: QuoteAlg = "sm2-sm3", opts: { id?: string; clock?: FakeClock; resetCount?: number; version?: string } = {}) {
  const kp = generateKeyPair(alg);
  const clock = opts.clock ?? new FakeClock(1_700_000_000_000);
  const version = opts.version ?? "0.3.0";
  const attester = new Attester({
    gatewayId: "gw-1",
    runtimeVersion: version,
    backend: softwareBackend({ signer: softwareSigner(alg, kp.privateKey, kp.publicKey, opts.id), clock, resetCount: opts.resetCount ?? 1, runtimeVersion: version }),
  });
  await attester.measure({ type: "boot", pcr: 4, component: "kernel", description: "/boot/Image", data: GOOD.kernel });
  await attester.measure({ type: "runtime", component: "runtime", version, description: "slot a", data: GOOD.runtime });
  await attester.measure({ type: "config", component: "config", description: "gateway.yaml", data: GOOD.config });
  await attester.measure({ type: "model", component: "model:anomaly", description: "models/anomaly", data: GOOD.model });
  return { kp, attester, clock, pem: publicKeyToPem(alg, kp.publicKey) };
}

export function basePolicy(pem: string, extra: Partial<PolicyInput> = {}): PolicyInput {
  return {
    nonceTtl: "60s",
    minRuntimeVersion: "0.2.0",
    requirePcrs: [11, 12],
    gateways: [{ id: "gw-1", key: pem, mode: "gm" }],
    reference: {
      kernel: [reference(GOOD.kernel)],
      runtime: [reference(GOOD.runtime, "0.3.0")],
      config: [reference(GOOD.config)],
      "model:*": [reference(GOOD.model)],
    },
    ...extra,
  };
}

export function makeVerifier(policy: PolicyInput, clock: FakeClock, db = new Database(":memory:")) {
  const store = new VerifierStore(db);
  const audit = new AuditLog(db);
  const verifier = new Verifier({ policy: policyFrom(policy), store, audit, clock });
  return { db, store, audit, verifier };
}
