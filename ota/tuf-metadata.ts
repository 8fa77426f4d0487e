/**
 * TUF metadata (tuf-spec 1.0.x §4): the four top-level roles in the specification's own JSON
 * (`{ signed, signatures }`), parsed from untrusted bytes without throwing, and the threshold check.
 * Unknown fields are kept: signatures cover the canonical JSON of `signed` exactly as received.
 * Ridgeline's target `custom` fields say what an artifact is and where it may be installed.
 * The bytes are read by core's strict JSON reader, so that no two readers can see two documents
 * under one signature: a repeated key, a number not spelled as a plain integer (canonical JSON
 * has integers only; `1.0` and `1e0` would verify as `1`), nesting past METADATA_MAX_DEPTH, and an
 * `expires` that is not a real date in TUF's one format are refused, each with its own code.
 */
import { z } from "zod";
import { canonicalBytes, errorCode, errorMessage, fail, ok, parseStrictJson, type Result } from "../core/index.js";
import { verifyWith, type TufKey, type TufSignature } from "./tuf-keys.js";

export const SPEC_VERSION = "1.0.31";
export const ROLES = ["root", "targets", "snapshot", "timestamp"] as const;
export type RoleName = (typeof ROLES)[number];

const version = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** Checked for real by `tufDateProblem` (E_OTA_DATE), after the schema. */
const expires = z.string();
const hexHash = z.string().regex(/^[0-9a-f]{16,128}$/);
/** tuf-spec §4.2 "spec_version": MAJOR.MINOR[.PATCH] in decimal, major 1 (what this client implements). */
const specVersion = z.string().regex(/^1\.(0|[1-9][0-9]{0,5})(\.(0|[1-9][0-9]{0,5}))?$/, "a TUF 1.x version MAJOR.MINOR.PATCH");

const keySchema = z.object({ keytype: z.string(), scheme: z.string(), keyval: z.object({ public: z.string() }).passthrough() }).passthrough();
const roleKeys = z.object({ keyids: z.array(z.string()), threshold: z.number().int().min(1) }).passthrough();

export const rootSigned = z
  .object({
    _type: z.literal("root"),
    spec_version: specVersion,
    version,
    expires,
    consistent_snapshot: z.boolean().default(false),
    keys: z.record(keySchema),
    roles: z.object({ root: roleKeys, targets: roleKeys, snapshot: roleKeys, timestamp: roleKeys }).passthrough(),
  })
  .passthrough();

export const artifactKinds = ["runtime", "model", "device-firmware"] as const;
export type ArtifactKind = (typeof artifactKinds)[number];

/** Ridgeline's `custom` object on a target. */
export const targetCustom = z
  .object({
    kind: z.enum(artifactKinds),
    version: z.string(),
    boards: z.array(z.string()).optional(),
    arch: z.array(z.string()).optional(),
    /** The lowest installed version this artifact may upgrade from. */
    minFrom: z.string().optional(),
    /**
     * A signed downgrade: the versions (or `*`) this lower version may replace. Without it a
     * version lower than the running one is never installed.
     */
    allowDowngradeFrom: z.union([z.string(), z.array(z.string())]).optional(),
    /** A content-defined chunk index of the artifact (delta download); validated by ota/target-fetch.ts. */
    chunks: z.unknown().optional(),
  })
  .passthrough();
export type TargetCustom = z.output<typeof targetCustom>;

const targetFile = z
  .object({
    length: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    hashes: z.record(hexHash).refine((h) => Object.keys(h).length > 0, "at least one hash"),
    custom: z.unknown().optional(),
  })
  .passthrough();
export type TargetFile = z.output<typeof targetFile>;

/** tuf-spec §4.5 "delegations": keys and an ordered list of delegated roles. */
const delegatedRole = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a role name of letters, digits, '.', '_' or '-'"),
    keyids: z.array(z.string()),
    threshold: z.number().int().min(1),
    terminating: z.boolean().default(false),
    paths: z.array(z.string()).optional(),
    path_hash_prefixes: z.array(z.string().regex(/^[0-9a-f]*$/)).optional(),
  })
  .passthrough();
export type DelegatedRole = z.output<typeof delegatedRole>;
const delegations = z.object({ keys: z.record(keySchema), roles: z.array(delegatedRole) }).passthrough();
export type Delegations = z.output<typeof delegations>;

export const targetsSigned = z
  .object({ _type: z.literal("targets"), spec_version: specVersion, version, expires, targets: z.record(targetFile), delegations: delegations.optional() })
  .passthrough();

const metaFile = z.object({ version, length: z.number().int().min(0).optional(), hashes: z.record(hexHash).optional() }).passthrough();
export type MetaFile = z.output<typeof metaFile>;

export const snapshotSigned = z.object({ _type: z.literal("snapshot"), spec_version: specVersion, version, expires, meta: z.record(metaFile) }).passthrough();
export const timestampSigned = z
  .object({ _type: z.literal("timestamp"), spec_version: specVersion, version, expires, meta: z.object({ "snapshot.json": metaFile }).passthrough() })
  .passthrough();

export type RootSigned = z.output<typeof rootSigned>;
export type TargetsSigned = z.output<typeof targetsSigned>;
export type SnapshotSigned = z.output<typeof snapshotSigned>;
export type TimestampSigned = z.output<typeof timestampSigned>;
export type SignedOf<R extends RoleName> = R extends "root" ? RootSigned : R extends "targets" ? TargetsSigned : R extends "snapshot" ? SnapshotSigned : TimestampSigned;

const schemas = { root: rootSigned, targets: targetsSigned, snapshot: snapshotSigned, timestamp: timestampSigned } as const;

export interface Envelope<S> {
  signed: S;
  signatures: TufSignature[];
  /** `signed` exactly as received, for canonical re-encoding in signature checks. */
  raw: unknown;
}

/** Containers nested at most this deep in metadata (ours nest 7 at most: targets → custom → chunks). */
export const METADATA_MAX_DEPTH = 32;

export type MetadataCode = "E_OTA_PARSE" | "E_OTA_JSON_DUPLICATE_KEY" | "E_OTA_JSON_NUMBER" | "E_OTA_JSON_DEPTH" | "E_OTA_DATE";
const JSON_CODES = { syntax: "E_OTA_PARSE", duplicateKey: "E_OTA_JSON_DUPLICATE_KEY", depth: "E_OTA_JSON_DEPTH", number: "E_OTA_JSON_NUMBER" } as const;

const TUF_DATE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?Z$/;

/**
 * Why `s` is not a TUF date (tuf-spec §4.2 "expires": `YYYY-MM-DDTHH:MM:SSZ`, UTC, a real
 * calendar day of the proleptic Gregorian calendar), or undefined when it is one. Fractional
 * seconds are accepted: tuf-js writes them (Date.toISOString) and reads them back.
 */
export function tufDateProblem(s: string): string | undefined {
  const m = TUF_DATE.exec(s);
  if (!m) return `${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)} is not in TUF's format YYYY-MM-DDTHH:MM:SSZ`;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (days === undefined) return `${s}: month ${mo} does not exist`;
  if (d < 1 || d > days) return `${s}: day ${d} does not exist in ${y}-${String(mo).padStart(2, "0")}`;
  if (h > 23 || mi > 59 || sec > 59) return `${s}: ${m[4]}:${m[5]}:${m[6]} is not a time of day`;
  return undefined;
}

/**
 * Parse untrusted metadata bytes as role R; never throws. Failures: E_OTA_PARSE (not JSON, or not
 * the role's schema), E_OTA_JSON_DUPLICATE_KEY, E_OTA_JSON_NUMBER, E_OTA_JSON_DEPTH (each with the
 * byte offset), E_OTA_DATE.
 */
export function parseMetadata<R extends RoleName>(role: R, bytes: Uint8Array): Result<Envelope<SignedOf<R>>, MetadataCode> {
  const j = parseStrictJson(bytes, { codes: JSON_CODES, maxDepth: METADATA_MAX_DEPTH, numbers: "integers" });
  if (!j.ok) return fail(j.code, `${role}: ${j.code === "E_OTA_PARSE" ? `not JSON: ${j.reason}` : j.reason}`, j.offset);
  const doc: unknown = j.value;
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return fail("E_OTA_PARSE", `${role}: not an object`);
  const d = doc as { signed?: unknown; signatures?: unknown };
  const sigs = z.array(z.object({ keyid: z.string(), sig: z.string() }).passthrough()).safeParse(d.signatures);
  if (!sigs.success) return fail("E_OTA_PARSE", `${role}: signatures must be a list of {keyid, sig}`);
  const r = schemas[role].safeParse(d.signed);
  if (!r.success) {
    const is = r.error.issues[0];
    return fail("E_OTA_PARSE", `${role}: ${is ? `${is.path.join(".")}: ${is.message}` : "invalid"}`);
  }
  const bad = tufDateProblem(r.data.expires);
  if (bad) return fail("E_OTA_DATE", `${role}: expires: ${bad}`);
  try {
    canonicalBytes(d.signed);
  } catch (e) {
    // The reader's limits are tighter than the encoder's; this is a backstop, with the real reason.
    return fail(errorCode(e) === "E_CANONICAL_JSON_DEPTH" ? "E_OTA_JSON_DEPTH" : "E_OTA_PARSE", `${role}: ${errorMessage(e)}`);
  }
  return ok({ signed: r.data as SignedOf<R>, signatures: sigs.data, raw: d.signed });
}

/**
 * tuf-spec §5.3.4 / §5.4.2: count distinct key ids of the role whose signature verifies over the
 * canonical bytes; a key id appearing twice counts once.
 */
export function countValidSignatures(env: Envelope<unknown>, role: { keyids: string[] }, keys: Record<string, TufKey | unknown>): number {
  const msg = canonicalBytes(env.raw);
  const allowed = new Set(role.keyids);
  const counted = new Set<string>();
  for (const s of env.signatures) {
    if (!allowed.has(s.keyid) || counted.has(s.keyid)) continue;
    const key = Object.prototype.hasOwnProperty.call(keys, s.keyid) ? keys[s.keyid] : undefined;
    if (key && verifyWith(key, msg, s.sig)) counted.add(s.keyid);
  }
  return counted.size;
}

export function meetsThreshold(env: Envelope<unknown>, root: RootSigned, role: RoleName): boolean {
  const r = root.roles[role];
  return countValidSignatures(env, r, root.keys) >= r.threshold;
}

export function isExpired(expiresIso: string, at: number): boolean {
  const t = Date.parse(expiresIso);
  return !Number.isFinite(t) || t <= at;
}

/** TUF's expiry format: second precision, UTC, `Z`. */
export function formatExpires(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

export function parseTargetCustom(f: TargetFile): TargetCustom | undefined {
  const r = targetCustom.safeParse(f.custom);
  return r.success ? r.data : undefined;
}
