/**
 * Attestation benchmark: SM2 sign/verify, P-256 and Ed25519 verify per second, each beside
 * `openssl speed` for the same algorithm in the same run; and verifier throughput (quotes/s with
 * 100-event logs, one core, SQLite audit in memory) beside the raw SM2 verify rate it is built on.
 * Rates are per CPU-second of user time, as `openssl speed` reports them (it divides by user time
 * unless given -elapsed), so other load on the machine skews both sides alike.
 *
 *   npm run bench -- attest
 */
import { spawnSync } from "node:child_process";
import Database from "better-sqlite3";
import { FakeClock } from "../core/index.js";
import {
  Attester,
  AuditLog,
  Verifier,
  VerifierStore,
  generateKeyPair,
  policyFrom,
  publicKeyToPem,
  sign,
  softwareBackend,
  softwareSigner,
  sm3,
  verify,
} from "../attest/index.js";
import type { SigAlg } from "../attest/index.js";
import { median, report } from "./harness.js";

const DURATION_MS = Number(process.env.RIDGE_BENCH_MS ?? 1500);

/** CPU user time in seconds: `openssl speed` divides by user time too (without -elapsed), so a busy machine skews both alike. */
const userSeconds = () => process.cpuUsage().user / 1e6;

/** Operations per CPU-second of `fn` over about DURATION_MS of wall time (median of 3 runs). */
function rate(fn: (i: number) => void): number {
  for (let i = 0; i < 20; i++) fn(i);
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    let n = 0;
    const w0 = performance.now();
    const c0 = userSeconds();
    while (performance.now() - w0 < DURATION_MS / 3) for (let k = 0; k < 10; k++) fn(n++);
    runs.push(n / Math.max(1e-6, userSeconds() - c0));
  }
  return median(runs);
}

/** `openssl speed` sign/s and verify/s for sm2, ecdsap256, ed25519 (0 when openssl is absent). */
function opensslSpeed(): Record<string, { sign: number; verify: number }> {
  const r = spawnSync("openssl", ["speed", "-seconds", "1", "sm2", "ecdsap256", "ed25519"], { encoding: "utf8", timeout: 60_000 });
  const out: Record<string, { sign: number; verify: number }> = {};
  for (const line of (r.stdout ?? "").split("\n")) {
    const m = /\((nistp256|Ed25519|CurveSM2)\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)/.exec(line);
    if (m) out[m[1]!] = { sign: Number(m[2]), verify: Number(m[3]) };
  }
  return out;
}

const msg = new Uint8Array(256).fill(7);
const ossl = opensslSpeed();
const rows: Parameters<typeof report>[1] = [];

/** `target`: ops per CPU-second; `ratio`: at least this share of `openssl speed`'s rate measured in the same run. */
function cryptoRow(metric: string, alg: SigAlg, what: "sign" | "verify", osslName: string, goal: { target?: number; ratio?: number } = {}) {
  const { target, ratio } = goal;
  const kp = generateKeyPair(alg);
  const sig = sign(alg, kp.privateKey, msg);
  const v = what === "sign" ? rate(() => sign(alg, kp.privateKey, msg)) : rate(() => verify(alg, kp.publicKey, msg, sig));
  const base = ossl[osslName]?.[what] ?? 0;
  rows.push({
    metric,
    value: Math.round(v),
    unit: "ops/cpu-s",
    baseline: `openssl speed ${osslName} ${what}`,
    baselineValue: Math.round(base),
    target: [target ? `>= ${target}/s` : "", ratio ? `>= ${ratio}x openssl` : ""].filter(Boolean).join(", ") || "report",
    pass: (target ? v >= target : true) && (ratio && base ? v >= ratio * base : true),
  });
  return v;
}

// SM2 with a signer ID stays in JS (Node's OpenSSL computes Z_A over an empty ID only). One registered
// key verified again and again, as a verifier does: its window table and Z_A are cached
// (attest/crypto/sm2-window-tables.ts); `openssl speed sm2` also reuses one key.
const sm2Verify = cryptoRow("SM2-with-SM3 verify (GM mode, Z_A; a registered key, tables cached)", "sm2-sm3", "verify", "CurveSM2", { target: 1000, ratio: 0.8 });
cryptoRow("SM2-with-SM3 sign", "sm2-sm3", "sign", "CurveSM2");
cryptoRow("ECDSA P-256 verify (high-S accepted; through node:crypto)", "ecdsa-p256-sha256", "verify", "nistp256", { ratio: 0.8 });
cryptoRow("Ed25519 verify (through node:crypto)", "ed25519", "verify", "Ed25519", { ratio: 0.8 });

// verifier throughput: 100-event logs, fresh nonce per quote, audit + nonce store in SQLite (memory)
const clock = new FakeClock(1_700_000_000_000);
const kp = generateKeyPair("sm2-sm3");
const attester = new Attester({
  gatewayId: "gw-bench",
  runtimeVersion: "0.3.0",
  backend: softwareBackend({ signer: softwareSigner("sm2-sm3", kp.privateKey, kp.publicKey), clock, resetCount: 1, runtimeVersion: "0.3.0" }),
});
const reference: Record<string, { sm3: string }[]> = {};
for (let i = 0; i < 100; i++) {
  const data = new TextEncoder().encode(`component ${i} bytes`);
  const component = i === 0 ? "runtime" : `model:m${i}`;
  await attester.measure({ type: i === 0 ? "runtime" : "model", component, description: `component ${i}`, data });
  (reference[component] ??= []).push({ sm3: Buffer.from(sm3(data)).toString("hex") });
}
const N = Number(process.env.RIDGE_BENCH_QUOTES ?? 600);
for (const incremental of [true, false]) {
  const db = new Database(":memory:");
  const verifier = new Verifier({
    policy: policyFrom({ gateways: [{ id: "gw-bench", key: publicKeyToPem("sm2-sm3", kp.publicKey) }], reference, nonceTtl: "1h" }),
    store: new VerifierStore(db),
    audit: new AuditLog(db),
    clock,
    incrementalReplay: incremental,
  });
  const batch: { nonce: Uint8Array; text: string }[] = [];
  for (let i = 0; i < N; i++) {
    const nonce = verifier.issueNonce("gw-bench");
    batch.push({ nonce, text: JSON.stringify(await attester.quote(nonce)) });
  }
  const c0 = userSeconds();
  let passed = 0;
  for (const b of batch) if (verifier.verify(b.text, { expectedNonce: b.nonce, gateway: "gw-bench" }).ok) passed++;
  const qps = N / Math.max(1e-6, userSeconds() - c0);
  if (passed !== N) throw new Error(`only ${passed}/${N} bench quotes passed`);
  if (!new AuditLog(db).verifyChain().ok) throw new Error("audit chain broken in bench");
  rows.push({
    metric: `verifier, ${N} quotes of 100-event logs, audit in SQLite, ${incremental ? "incremental replay (log unchanged since last quote)" : "full replay of every log"}`,
    value: Math.round(qps),
    unit: "quotes/cpu-s",
    baseline: "Ridgeline SM2 verify alone",
    baselineValue: Math.round(sm2Verify),
    target: incremental ? ">= 500/s" : "report",
    pass: incremental ? qps >= 500 : true,
  });
  db.close();
}

report("attest", rows);
