/**
 * The auditor's side: judge one piece of evidence against the policy, and record the verdict in
 * the hash-chained audit log. Every check has its own stable reason code. The order follows
 * Keylime's (signature first: if it fails nothing else in the evidence can be trusted; then
 * structure, nonce, clock, PCR digest, log replay, reference values, versions). Hostile input
 * never throws: it becomes a fail verdict with a reason, recorded like any other.
 *
 * A quote over a PCR that can be reset without a reboot (policy resettablePcrs, default 16-23) is
 * refused whatever it holds: reset, re-extend the approved log, quote with a fresh nonce, and it
 * would look perfect. TPM-mode quotes are bound to the TPM boot: each PCR's events must begin
 * with the boot marker of the quoted resetCount; within one resetCount a PCR's events only grow
 * (E_ATTEST_LOG_REWOUND); after a reset the log must start again (E_ATTEST_BOOT_REPLAY). Only the
 * order within a PCR is protected (TCG), so no check here depends on the order across PCRs.
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../core/index.js";
import { digest, sha256 } from "./crypto/hash.js";
import type { HashAlg } from "./crypto/hash.js";
import { verify, verifyHashed } from "./crypto/index.js";
import { compareVersions, firmwareToVersion, parseEvidence } from "./evidence.js";
import type { Evidence } from "./evidence.js";
import { TPM_BOOT_COMPONENT, eventsByPcr, parseBootMarker, replayLog } from "./measurement-log.js";
import type { MeasurementEvent } from "./measurement-log.js";
import { initialPcr, pcrCompositeDigest } from "./pcr-bank.js";
import { referenceFor } from "./policy.js";
import type { Policy } from "./policy.js";
import { softwareKeyName } from "./quote-signer.js";
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, decodeQuoteInfo, decodeTpmSignature, hashAlgName, rawRs } from "./tpm-structures.js";
import type { QuoteInfo } from "./tpm-structures.js";
import type { AuditLog, AuditReason } from "./audit-log.js";
import type { BootBinding, VerifierStore } from "./verifier-store.js";

/** Stable reason codes (asserted by tests and by the auditor's tooling). */
export const REASON = {
  MALFORMED: "E_ATTEST_MALFORMED",
  UNKNOWN_GATEWAY: "E_ATTEST_UNKNOWN_GATEWAY",
  GATEWAY_MISMATCH: "E_ATTEST_GATEWAY_MISMATCH",
  SIGNER_MISMATCH: "E_ATTEST_SIGNER_MISMATCH",
  ALGORITHM: "E_ATTEST_ALGORITHM",
  HASH: "E_ATTEST_HASH",
  SIGNATURE: "E_ATTEST_SIGNATURE",
  QUOTE_MALFORMED: "E_ATTEST_QUOTE_MALFORMED",
  QUOTE_MAGIC: "E_ATTEST_QUOTE_MAGIC",
  QUOTE_TYPE: "E_ATTEST_QUOTE_TYPE",
  SIGNER_NAME: "E_ATTEST_SIGNER_NAME",
  NONCE_MISMATCH: "E_ATTEST_NONCE_MISMATCH",
  NONCE_UNKNOWN: "E_ATTEST_NONCE_UNKNOWN",
  NONCE_REPLAYED: "E_ATTEST_NONCE_REPLAYED",
  NONCE_EXPIRED: "E_ATTEST_NONCE_EXPIRED",
  CLOCK_UNSAFE: "E_ATTEST_CLOCK_UNSAFE",
  RESET_COUNT: "E_ATTEST_RESET_COUNT",
  RESTART_COUNT: "E_ATTEST_RESTART_COUNT",
  CLOCK: "E_ATTEST_CLOCK",
  PCR_SELECTION: "E_ATTEST_PCR_SELECTION",
  MISSING_PCRS: "E_ATTEST_MISSING_PCRS",
  PCR_DIGEST: "E_ATTEST_PCR_DIGEST",
  PCR_RESETTABLE: "E_ATTEST_PCR_RESETTABLE",
  BOOT_MISMATCH: "E_ATTEST_BOOT_MISMATCH",
  BOOT_REPLAY: "E_ATTEST_BOOT_REPLAY",
  LOG_REWOUND: "E_ATTEST_LOG_REWOUND",
  LOG_REPLAY: "E_ATTEST_LOG_REPLAY",
  REFERENCE: "E_ATTEST_REFERENCE",
  UNKNOWN_COMPONENT: "E_ATTEST_UNKNOWN_COMPONENT",
  FIRMWARE_VERSION: "E_ATTEST_FIRMWARE_VERSION",
  RUNTIME_VERSION: "E_ATTEST_RUNTIME_VERSION",
} as const;

export type ReasonCode = (typeof REASON)[keyof typeof REASON];

export interface Verdict {
  ok: boolean;
  gateway: string;
  at: number;
  reasons: AuditReason[];
  nonce: string;
  evidenceSha256: string;
  /** The runtime version the verdict relied on, where one was established. */
  runtimeVersion?: string;
  clock?: { clock: string; resetCount: number; restartCount: number };
  auditSeq?: number;
}

export interface VerifyOptions {
  /** The nonce this verifier sent (required unless the store knows it). */
  expectedNonce?: Uint8Array;
  /** The gateway the challenge went to; evidence claiming another id fails. */
  gateway?: string;
  /** Accept a nonce the store did not issue (offline `ridge attest verify --nonce`), still single-use. */
  adoptNonce?: boolean;
}

export interface VerifierOptions {
  policy: Policy;
  store: VerifierStore;
  audit?: AuditLog;
  clock: Clock;
  /** Replay only the events new since the gateway's last quote when the rest is unchanged (default true). */
  incrementalReplay?: boolean;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Hash of one PCR's event sequence (seq left out: it is the order across PCRs, which nothing protects). */
function pcrSequenceHash(events: readonly MeasurementEvent[]): string {
  const rows = events.map((e) => [e.type, e.component, e.version ?? "", e.description, Object.entries(e.digests).sort(([a], [b]) => (a < b ? -1 : 1))]);
  return hex(sha256(new TextEncoder().encode(JSON.stringify(rows))));
}

/** What the last replay of a gateway's log gave, so the next quote replays only the new events. */
interface ReplayMemo {
  count: number;
  prefixHash: string;
  pcrs: Map<number, Uint8Array>;
}

export class Verifier {
  private readonly replayMemo = new Map<string, ReplayMemo>();
  constructor(private readonly o: VerifierOptions) {}

  /**
   * Replay incrementally: a gateway's log only grows between quotes of one boot, so when the
   * evidence's first `count` events are byte-for-byte those replayed last time, start from there.
   */
  private replay(gateway: string, log: Evidence["log"], bank: HashAlg) {
    const key = `${gateway}\u0000${bank}`;
    const memo = this.replayMemo.get(key);
    const prefixHash = (n: number) => hex(sha256(new TextEncoder().encode(JSON.stringify(log.slice(0, n)))));
    if (this.o.incrementalReplay === false) return replayLog(log, bank);
    const from = memo && memo.count <= log.length && prefixHash(memo.count) === memo.prefixHash ? memo : undefined;
    const rp = replayLog(log, bank, from);
    if (rp.ok) {
      if (this.replayMemo.size > 10_000) this.replayMemo.clear();
      this.replayMemo.set(key, { count: log.length, prefixHash: prefixHash(log.length), pcrs: rp.value });
    }
    return rp;
  }

  get policy(): Policy {
    return this.o.policy;
  }

  /** A fresh 20-byte nonce for `gateway`, single use, expiring after the policy's nonceTtl. */
  issueNonce(gateway: string): Uint8Array {
    const n = new Uint8Array(randomBytes(20));
    this.o.store.issue(gateway, hex(n), this.o.clock.now(), this.o.policy.nonceTtlMs);
    return n;
  }

  /** Judge evidence (bytes, text or a parsed object) and record the verdict. Never throws on bad evidence. */
  verify(input: Uint8Array | string | unknown, opts: VerifyOptions = {}): Verdict {
    let verdict: Verdict;
    try {
      verdict = this.judge(input, opts);
    } catch (e) {
      // a bug in a check must not crash the verifier nor pass the evidence
      verdict = {
        ok: false,
        gateway: opts.gateway ?? "?",
        at: this.o.clock.now(),
        reasons: [{ code: REASON.MALFORMED, detail: `verifier error: ${e instanceof Error ? e.message : String(e)}` }],
        nonce: "",
        evidenceSha256: "",
      };
    }
    if (this.o.audit) {
      const rec = this.o.audit.append({
        ts: verdict.at,
        gateway: verdict.gateway,
        verdict: verdict.ok ? "pass" : "fail",
        reasons: verdict.reasons,
        evidenceSha256: verdict.evidenceSha256,
        nonce: verdict.nonce,
      });
      verdict.auditSeq = rec.seq;
    }
    return verdict;
  }

  private judge(input: Uint8Array | string | unknown, opts: VerifyOptions): Verdict {
    const at = this.o.clock.now();
    const bytes =
      typeof input === "string" ? new TextEncoder().encode(input) : input instanceof Uint8Array ? input : new TextEncoder().encode(JSON.stringify(input) ?? "");
    const evidenceSha256 = hex(sha256(bytes));
    const reasons: AuditReason[] = [];
    const fail = (code: ReasonCode, detail: string) => reasons.push({ code, detail });
    const done = (gateway: string, nonce: string, extra: Partial<Verdict> = {}): Verdict => ({
      ok: reasons.length === 0,
      gateway,
      at,
      reasons,
      nonce,
      evidenceSha256,
      ...extra,
    });

    const parsed = parseEvidence(input instanceof Uint8Array || typeof input === "string" ? input : input);
    if (!parsed.ok) {
      fail(REASON.MALFORMED, parsed.reason);
      return done(opts.gateway ?? "?", opts.expectedNonce ? hex(opts.expectedNonce) : "");
    }
    const ev: Evidence = parsed.value;
    const gwId = opts.gateway ?? ev.gateway;
    const expectedNonceHex = opts.expectedNonce ? hex(opts.expectedNonce) : "";
    if (opts.gateway !== undefined && ev.gateway !== opts.gateway) {
      fail(REASON.GATEWAY_MISMATCH, `evidence names gateway ${ev.gateway}, the challenge went to ${opts.gateway}`);
      return done(gwId, expectedNonceHex);
    }
    const reg = this.o.policy.gateways.get(gwId);
    if (!reg) {
      fail(REASON.UNKNOWN_GATEWAY, `gateway ${gwId} is not registered in the policy`);
      return done(gwId, expectedNonceHex);
    }

    // the evidence's own description of its signer must be the registration (nothing unbound in evidence)
    if (ev.signer.alg !== reg.alg || ev.signer.mode !== reg.mode || ev.signer.publicKey !== hex(reg.publicKey)) {
      fail(REASON.SIGNER_MISMATCH, `evidence says ${ev.signer.alg}/${ev.signer.mode} key ${ev.signer.publicKey.slice(0, 16)}…; gateway ${gwId} is registered with ${reg.alg}/${reg.mode} key ${hex(reg.publicKey).slice(0, 16)}…`);
    }

    // 1. signature over the exact TPMS_ATTEST bytes, with the registered key and mode
    const attest = unhex(ev.quote);
    const sigD = decodeTpmSignature(unhex(ev.signature));
    if (!sigD.ok) {
      fail(REASON.MALFORMED, `signature: ${sigD.reason}`);
      return done(gwId, expectedNonceHex);
    }
    const sig = sigD.value;
    const sigAlg = sig.sigAlg === TPM_ALG.SM2 ? "sm2-sm3" : "ecdsa-p256-sha256";
    if (sigAlg !== reg.alg) {
      fail(REASON.ALGORITHM, `signature is ${sigAlg}, gateway ${gwId} is registered with ${reg.alg}`);
      return done(gwId, expectedNonceHex);
    }
    if (!this.o.policy.algorithms.includes(sigAlg)) {
      fail(REASON.ALGORITHM, `${sigAlg} is not in the policy's algorithms (${this.o.policy.algorithms.join(", ")})`);
      return done(gwId, expectedNonceHex);
    }
    const sigHash = hashAlgName(sig.hash);
    if (!sigHash || !this.o.policy.hashes.includes(sigHash)) {
      fail(REASON.HASH, `signature hash ${sigHash ?? `0x${sig.hash.toString(16)}`} is not allowed (${this.o.policy.hashes.join(", ")})`);
      return done(gwId, expectedNonceHex);
    }
    if (reg.mode === "gm" && sigHash !== (sigAlg === "sm2-sm3" ? "sm3" : "sha256")) {
      fail(REASON.HASH, `a ${sigAlg} software quote is hashed with ${sigAlg === "sm2-sm3" ? "sm3" : "sha256"}, not ${sigHash}`);
      return done(gwId, expectedNonceHex);
    }
    const rs = rawRs(sig);
    const sigOk =
      rs !== undefined &&
      (reg.mode === "gm"
        ? verify(reg.alg, reg.publicKey, attest, rs, { id: reg.sm2Id })
        : verifyHashed(reg.alg, reg.publicKey, sigHash, attest, rs));
    if (!sigOk) {
      fail(REASON.SIGNATURE, `the quote's ${sigAlg} signature (${reg.mode} mode) does not verify with gateway ${gwId}'s registered key`);
      return done(gwId, expectedNonceHex);
    }

    // 2. structure
    if (attest.length >= 6) {
      const magic = ((attest[0]! << 24) | (attest[1]! << 16) | (attest[2]! << 8) | attest[3]!) >>> 0;
      const type = (attest[4]! << 8) | attest[5]!;
      if (magic !== TPM_GENERATED_VALUE) fail(REASON.QUOTE_MAGIC, `magic 0x${magic.toString(16)} is not TPM_GENERATED_VALUE`);
      if (type !== TPM_ST_ATTEST_QUOTE) fail(REASON.QUOTE_TYPE, `type 0x${type.toString(16)} is not TPM_ST_ATTEST_QUOTE`);
      if (reasons.length) return done(gwId, expectedNonceHex);
    }
    const qd = decodeQuoteInfo(attest);
    if (!qd.ok) {
      fail(REASON.QUOTE_MALFORMED, qd.reason);
      return done(gwId, expectedNonceHex);
    }
    const q: QuoteInfo = qd.value;
    const nonceHex = hex(q.extraData);
    const clockOut = { clock: q.clockInfo.clock.toString(), resetCount: q.clockInfo.resetCount, restartCount: q.clockInfo.restartCount };
    if (reg.mode === "gm" && !eq(q.qualifiedSigner, softwareKeyName(reg.alg, reg.publicKey))) {
      fail(REASON.SIGNER_NAME, "qualifiedSigner is not the registered key's name");
    }

    // 3. nonce: equal to the one sent, issued by us, unused, unexpired
    if (opts.expectedNonce && nonceHex !== expectedNonceHex) {
      fail(REASON.NONCE_MISMATCH, `extraData ${nonceHex.slice(0, 16)}… is not the nonce sent (${expectedNonceHex.slice(0, 16)}…)`);
    } else {
      const c = this.o.store.consume(gwId, nonceHex, at, opts.adoptNonce === true && opts.expectedNonce !== undefined);
      if (c === "unknown") fail(REASON.NONCE_UNKNOWN, `nonce ${nonceHex.slice(0, 16)}… was not issued by this verifier`);
      else if (c === "replayed") fail(REASON.NONCE_REPLAYED, `nonce ${nonceHex.slice(0, 16)}… was already used`);
      else if (c === "expired") fail(REASON.NONCE_EXPIRED, `nonce ${nonceHex.slice(0, 16)}… expired`);
      else if (c === "wrong-gateway") fail(REASON.NONCE_UNKNOWN, `nonce ${nonceHex.slice(0, 16)}… was issued to another gateway`);
    }
    const fresh = reasons.length === 0;

    // 4. clock: counters never go back; the clock rises within one reset/restart
    if (!q.clockInfo.safe) fail(REASON.CLOCK_UNSAFE, "clockInfo.safe is 0");
    const prev = this.o.store.lastClock(gwId);
    if (prev) {
      const ci = q.clockInfo;
      if (ci.resetCount < prev.resetCount) fail(REASON.RESET_COUNT, `resetCount went back from ${prev.resetCount} to ${ci.resetCount}`);
      else if (ci.resetCount === prev.resetCount && ci.restartCount < prev.restartCount) {
        fail(REASON.RESTART_COUNT, `restartCount went back from ${prev.restartCount} to ${ci.restartCount}`);
      } else if (ci.resetCount === prev.resetCount && ci.restartCount === prev.restartCount && ci.clock <= prev.clock) {
        fail(REASON.CLOCK, `clock did not increase (${prev.clock} → ${ci.clock}) without a reset or restart`);
      }
    }
    if (fresh && reasons.length === 0) this.o.store.saveClock(gwId, q.clockInfo, at);

    // 5. PCR selection and digest
    const reported = new Map<string, Map<number, Uint8Array>>();
    for (const [bank, vals] of Object.entries(ev.pcrs)) {
      reported.set(bank, new Map(Object.entries(vals).map(([i, v]) => [Number(i), unhex(v)])));
    }
    const ordered: Uint8Array[] = [];
    const selected = new Set<string>();
    let selectionOk = true;
    for (const s of q.pcrSelect) {
      const vals = reported.get(s.hash);
      for (const i of s.pcrs) {
        selected.add(`${s.hash}:${i}`);
        const v = vals?.get(i);
        if (!v) {
          selectionOk = false;
          fail(REASON.PCR_SELECTION, `quoted PCR ${s.hash}:${i} has no reported value`);
        } else ordered.push(v);
      }
    }
    for (const [bank, vals] of reported) {
      for (const i of vals.keys()) {
        if (!selected.has(`${bank}:${i}`)) {
          selectionOk = false;
          fail(REASON.PCR_SELECTION, `reported PCR ${bank}:${i} is not in the quote's selection`);
        }
      }
    }
    const quotedIdx = new Set(q.pcrSelect.flatMap((s) => s.pcrs));
    const missing = this.o.policy.requirePcrs.filter((i) => !quotedIdx.has(i));
    if (missing.length) fail(REASON.MISSING_PCRS, `the policy requires PCR ${missing.join(", ")}, not quoted`);
    const resettable = [...quotedIdx].filter((i) => this.o.policy.resettablePcrs.includes(i)).sort((a, b) => a - b);
    if (resettable.length) {
      fail(
        REASON.PCR_RESETTABLE,
        `the quote covers PCR ${resettable.join(", ")}, which a process can reset without a reboot (policy resettablePcrs): its value can be rebuilt at will and proves nothing; measure into PCR 8-15`,
      );
    }
    if (selectionOk && !eq(pcrCompositeDigest(sigHash, ordered), q.pcrDigest)) {
      fail(REASON.PCR_DIGEST, "the reported PCR values do not hash to the quoted pcrDigest");
    }

    // 6. replay the log in each quoted bank; a digest for a bank the quote does not cover is unverifiable
    const quotedBanks = new Set<string>(q.pcrSelect.map((s) => s.hash));
    for (const e of ev.log) {
      const extraBank = Object.keys(e.digests).find((b) => !quotedBanks.has(b));
      if (extraBank) {
        fail(REASON.LOG_REPLAY, `event ${e.seq} carries a ${extraBank} digest, a bank the quote does not cover`);
        break;
      }
    }
    let runtimeVersion: string | undefined;
    const lastRuntime = new Map<number, string>();
    for (const s of q.pcrSelect) {
      const rp = this.replay(gwId, ev.log, s.hash);
      if (!rp.ok) {
        fail(REASON.LOG_REPLAY, rp.reason);
        continue;
      }
      for (const e of ev.log) {
        if (!s.pcrs.includes(e.pcr)) fail(REASON.PCR_SELECTION, `log event ${e.seq} (${e.component}) is in PCR ${e.pcr}, which the quote does not cover`);
      }
      const vals = reported.get(s.hash);
      for (const i of s.pcrs) {
        const want = rp.value.get(i) ?? initialPcr(s.hash, i);
        const got = vals?.get(i);
        if (got && !eq(want, got)) fail(REASON.LOG_REPLAY, `replaying the log gives ${s.hash}:${i} = ${hex(want).slice(0, 16)}…, quoted ${hex(got).slice(0, 16)}…`);
      }

      // 7. reference values, in the quoted bank (the digest the PCR actually holds)
      const bank = s.hash;
      if (bank !== "sha256" && bank !== "sm3") continue;
      for (const e of ev.log) {
        const d = e.digests[bank];
        if (reg.mode === "tpm" && parseBootMarker(e)) continue; // judged by checkBoot
        const refs = referenceFor(this.o.policy, e.component);
        if (!refs) {
          if (!this.o.policy.allowUnknownComponents) fail(REASON.UNKNOWN_COMPONENT, `event ${e.seq}: component ${e.component} has no reference values`);
          continue;
        }
        const hit = refs.find((r) => r.any || (d !== undefined && r[bank] === d));
        if (!hit) {
          fail(REASON.REFERENCE, `event ${e.seq}: ${e.component} ${bank} digest ${d?.slice(0, 16) ?? "?"}… is not an allowed reference value`);
        } else if (e.type === "runtime" && hit.version) lastRuntime.set(e.pcr, hit.version);
      }
    }
    // the runtime that runs is the last one measured in its PCR; across PCRs there is no order
    const runtimeVersions = new Set(lastRuntime.values());
    if (runtimeVersions.size === 1) runtimeVersion = [...runtimeVersions][0];
    else if (runtimeVersions.size > 1) {
      fail(
        REASON.RUNTIME_VERSION,
        `runtime events in PCR ${[...lastRuntime.keys()].join(", ")} end in versions ${[...runtimeVersions].join(", ")}: a PCR orders only its own events, so which one runs is unknown`,
      );
    }
    if (reg.mode === "tpm") this.checkBoot(gwId, ev, q, reported, fail);

    // 8. versions: the quote's firmwareVersion is the runtime version for software quotes
    if (reg.mode === "gm") {
      const fw = firmwareToVersion(q.firmwareVersion);
      if (compareVersions(fw, ev.runtimeVersion) !== 0) fail(REASON.FIRMWARE_VERSION, `quoted firmwareVersion ${fw} ≠ claimed runtime ${ev.runtimeVersion}`);
      // the measured runtime event (matched by the reference values) outranks what the process says of itself
      if (runtimeVersion && compareVersions(runtimeVersion, fw) !== 0) fail(REASON.FIRMWARE_VERSION, `the runtime measured is version ${runtimeVersion} by the reference values, the quote says ${fw}`);
      runtimeVersion ??= fw;
    } else if (runtimeVersion && compareVersions(runtimeVersion, ev.runtimeVersion) !== 0) {
      fail(REASON.FIRMWARE_VERSION, `the runtime measured is version ${runtimeVersion} by the reference values, evidence claims ${ev.runtimeVersion}`);
    }
    const min = this.o.policy.minRuntimeVersion;
    if (min) {
      if (!runtimeVersion) fail(REASON.RUNTIME_VERSION, `no trustworthy runtime version to compare with the fleet minimum ${min}`);
      else if (!(compareVersions(runtimeVersion, min) >= 0)) fail(REASON.RUNTIME_VERSION, `runtime ${runtimeVersion} is below the fleet minimum ${min}`);
    }
    const verdict = done(gwId, nonceHex, { clock: clockOut, ...(runtimeVersion ? { runtimeVersion } : {}) });
    if (verdict.ok && reg.mode === "tpm") this.o.store.saveBoot(gwId, bootBindingOf(q.clockInfo.resetCount, ev.log, reported), at);
    return verdict;
  }

  /**
   * TPM boot binding: the log names the quoted TPM boot (boot marker first in each PCR), grows
   * only within one boot, and starts again after a reset (against the last passing quote's state).
   */
  private checkBoot(gwId: string, ev: Evidence, q: QuoteInfo, reported: Map<string, Map<number, Uint8Array>>, fail: (c: ReasonCode, d: string) => void): void {
    const rc = q.clockInfo.resetCount;
    const byPcr = eventsByPcr(ev.log);
    for (const [i, evs] of byPcr) {
      const first = evs[0]!;
      const m = parseBootMarker(first);
      if (!m) {
        fail(REASON.BOOT_MISMATCH, `PCR ${i}'s first event (${first.seq}: ${first.component}) is not the TPM boot marker; a TPM log begins with it in each PCR`);
      } else {
        if (m.resetCount !== rc) {
          fail(REASON.BOOT_MISMATCH, `PCR ${i}'s log was begun in TPM boot resetCount=${m.resetCount} (boot id ${m.bootId}), the quote is from resetCount=${rc}: a log replayed after a reboot`);
        }
        const data = new TextEncoder().encode(first.description);
        for (const [bank, d] of Object.entries(first.digests)) {
          if (d !== hex(digest(bank as HashAlg, data))) fail(REASON.BOOT_MISMATCH, `event ${first.seq}: the boot marker's ${bank} digest is not that of its description`);
        }
      }
      for (const e of evs.slice(1)) {
        if (e.component === TPM_BOOT_COMPONENT) fail(REASON.BOOT_MISMATCH, `event ${e.seq}: a second TPM boot marker in PCR ${i}`);
      }
    }
    const prev = this.o.store.lastBoot(gwId);
    if (!prev) return;
    const extendsPrev = (i: string, p: { count: number; hash: string }) => {
      const evs = byPcr.get(Number(i)) ?? [];
      return evs.length >= p.count && pcrSequenceHash(evs.slice(0, p.count)) === p.hash;
    };
    const prevPcrs = Object.entries(prev.pcrs);
    if (rc === prev.resetCount) {
      for (const [i, p] of prevPcrs) {
        if (!extendsPrev(i, p)) {
          fail(REASON.LOG_REWOUND, `PCR ${i}: the ${p.count} events quoted before in TPM boot resetCount=${rc} are no longer the start of its log: the PCR was reset or the log rewritten without a reboot`);
        }
      }
    } else if (rc > prev.resetCount) {
      if (prevPcrs.length > 0 && prevPcrs.every(([i, p]) => extendsPrev(i, p))) {
        fail(REASON.BOOT_REPLAY, `the TPM was reset (resetCount ${prev.resetCount} → ${rc}) but the log carries on from that earlier boot's log instead of starting again`);
      } else if (bootBindingOf(rc, ev.log, reported).valuesHash === prev.valuesHash) {
        fail(REASON.BOOT_REPLAY, `the quoted PCR values are those of TPM boot resetCount=${prev.resetCount}, replayed after the reset (resetCount ${rc})`);
      }
    }
  }
}

function bootBindingOf(resetCount: number, log: readonly MeasurementEvent[], reported: Map<string, Map<number, Uint8Array>>): BootBinding {
  const pcrs: BootBinding["pcrs"] = {};
  for (const [i, evs] of eventsByPcr(log)) pcrs[String(i)] = { count: evs.length, hash: pcrSequenceHash(evs) };
  const values = [...reported].flatMap(([bank, vals]) => [...vals].map(([i, v]) => `${bank}:${i}=${hex(v)}`)).sort();
  return { resetCount, pcrs, valuesHash: hex(sha256(new TextEncoder().encode(values.join("\n")))) };
}

/** The digest the signature covers, for a scheme hash (TPM mode). */
export function quoteDigest(hash: HashAlg, attest: Uint8Array): Uint8Array {
  return digest(hash, attest);
}
