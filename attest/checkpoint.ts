/**
 * Signed checkpoints of the audit trail: the verifier's own Ed25519 key (created at first use
 * as checkpoint-key.pem in the verifier's data directory, mode 0600) signs
 *   {"keyId":…,"rootHash":…,"time":…,"treeSize":…}
 * (canonical JSON; rootHash is the RFC 6962 Merkle root over the records, hex; keyId the hex
 * SHA-256 of the raw public key). The text form is one JSON line:
 *   {"checkpoint":{…},"signature":"<base64 Ed25519 over the canonical checkpoint>"}
 * checkExtends() proves the current log extends a checkpoint: the signature by the verifier's
 * key, then an RFC 6962 consistency proof from the checkpoint's size to the current size.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalJson, fail, ok, type Result } from "../core/index.js";
import type { AuditLog } from "./audit-log.js";
import { consistencyProof, treeHash, verifyConsistency } from "./merkle.js";

export interface Checkpoint {
  treeSize: number;
  rootHash: string;
  time: number;
  keyId: string;
}

export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  signature: string;
}

export interface CheckpointKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

function keyIdOf(pub: KeyObject): string {
  const raw = pub.export({ format: "der", type: "spki" });
  return createHash("sha256").update(raw.subarray(raw.length - 32)).digest("hex");
}

/** The verifier's checkpoint key in `dir`, created at first use. */
export function checkpointKey(dir: string, create = true): CheckpointKey | undefined {
  const file = join(dir, "checkpoint-key.pem");
  if (!existsSync(file)) {
    if (!create) return undefined;
    mkdirSync(dir, { recursive: true });
    const { privateKey } = generateKeyPairSync("ed25519");
    writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
  }
  const privateKey = createPrivateKey(readFileSync(file));
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Sign the log's current tree. */
export function makeCheckpoint(audit: AuditLog, key: CheckpointKey, time: number): SignedCheckpoint {
  const leaves = audit.leaves();
  const checkpoint: Checkpoint = { treeSize: leaves.length, rootHash: hex(treeHash(leaves)), time, keyId: key.keyId };
  const signature = sign(null, Buffer.from(canonicalJson(checkpoint)), key.privateKey).toString("base64");
  return { checkpoint, signature };
}

export function formatCheckpoint(c: SignedCheckpoint): string {
  return canonicalJson(c);
}

/** Append one line per checkpoint to a file outside the data directory. */
export function publishCheckpoint(file: string, c: SignedCheckpoint): void {
  appendFileSync(file, `${formatCheckpoint(c)}\n`);
}

export type CheckpointCheck = Result<{ from: number; to: number }, "E_ATTEST_CHECKPOINT_INVALID" | "E_ATTEST_CHECKPOINT_KEY" | "E_ATTEST_AUDIT_REWRITTEN">;

/** Parse a checkpoint's text (the last non-empty line, so a published file works too). */
export function parseCheckpoint(text: string): SignedCheckpoint | undefined {
  const line = text.split("\n").filter((l) => l.trim()).pop();
  if (!line) return undefined;
  try {
    const o = JSON.parse(line) as SignedCheckpoint;
    const c = o.checkpoint;
    if (typeof o.signature !== "string" || !c || !Number.isSafeInteger(c.treeSize) || c.treeSize < 0 || !/^[0-9a-f]{64}$/.test(c.rootHash) || !Number.isSafeInteger(c.time) || typeof c.keyId !== "string") return undefined;
    return { checkpoint: { treeSize: c.treeSize, rootHash: c.rootHash, time: c.time, keyId: c.keyId }, signature: o.signature };
  } catch {
    return undefined;
  }
}

/** Does the current log extend the checkpoint? Signature first, then the consistency proof. */
export function checkExtends(audit: AuditLog, key: CheckpointKey, c: SignedCheckpoint): CheckpointCheck {
  if (c.checkpoint.keyId !== key.keyId) return fail("E_ATTEST_CHECKPOINT_KEY", `checkpoint signed by key ${c.checkpoint.keyId.slice(0, 16)}…, this verifier's key is ${key.keyId.slice(0, 16)}…`);
  if (!verify(null, Buffer.from(canonicalJson(c.checkpoint)), key.publicKey, Buffer.from(c.signature, "base64"))) {
    return fail("E_ATTEST_CHECKPOINT_INVALID", "the checkpoint's signature does not verify");
  }
  const leaves = audit.leaves();
  const m = c.checkpoint.treeSize;
  if (leaves.length < m) return fail("E_ATTEST_AUDIT_REWRITTEN", `the log has ${leaves.length} record(s), the checkpoint ${m}: records were removed`, leaves.length + 1);
  const proof = consistencyProof(leaves, m);
  if (!verifyConsistency(m, leaves.length, Buffer.from(c.checkpoint.rootHash, "hex"), treeHash(leaves), proof)) {
    return fail("E_ATTEST_AUDIT_REWRITTEN", `the log of ${leaves.length} record(s) does not extend the checkpoint of ${m}: its first ${m} records were rewritten`, 1);
  }
  return ok({ from: m, to: leaves.length });
}
