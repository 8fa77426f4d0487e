/**
 * The device's TUF client: tuf-spec 1.0.x §5 "Detailed client workflow", step by step, over any
 * number of mirrors. Each step's check and the attack it stops is named beside it. Verification of
 * what a repository sends never throws: `refresh()` resolves to core's Result (a failure with its code, reason and role).
 * Trusted metadata is persisted after every step (§5.3.8, §5.4.5, §5.5.7, §5.6.6), so an error or
 * a power cut mid-cycle leaves the client where the last good step left it.
 * Delegated targets roles are resolved by `resolveTargets` (§5.6.7).
 */
import { RidgeError, errorCode, errorMessage, fail, ok, type Clock, type ErrorCode, type Failure, type Success } from "../core/index.js";
import { createHash } from "node:crypto";
import {
  countValidSignatures,
  isExpired,
  meetsThreshold,
  parseMetadata,
  type Envelope,
  type MetaFile,
  type RoleName,
  type RootSigned,
  type SignedOf,
  type SnapshotSigned,
  type TargetsSigned,
  type TimestampSigned,
  type DelegatedRole,
  type TargetFile,
  type Delegations,
} from "./tuf-metadata.js";

/** Where trusted metadata lives between cycles (SQLite on a device, memory in tests), by role name (delegated roles too). */
export interface MetadataStore {
  get(role: string): Uint8Array | undefined;
  put(role: string, bytes: Uint8Array): void;
  delete(role: string): void;
}

/** One mirror of the repository. */
export interface RepoFetcher {
  readonly name: string;
  /**
   * A repository file, at most `maxBytes` long; undefined when the mirror does not have it (404).
   * Throws RidgeError E_OTA_TOO_LARGE past `maxBytes` (endless data), E_OTA_SLOW when the file
   * does not arrive within the mirror's deadline for `maxBytes` bytes (slow retrieval), and
   * E_OTA_FETCH otherwise.
   */
  fetch(path: string, maxBytes: number): Promise<Uint8Array | undefined>;
}

export interface ClientLimits {
  rootBytes: number;
  timestampBytes: number;
  snapshotBytes: number;
  targetsBytes: number;
  /** §5.3.3: stop after this many root rotations in one cycle. */
  maxRootRotations: number;
  /** §5.6.7: visit at most this many targets roles (top-level included) in one lookup. */
  maxDelegations: number;
}

export const DEFAULT_LIMITS: ClientLimits = { rootBytes: 512 * 1024, timestampBytes: 16 * 1024, snapshotBytes: 2 * 1024 * 1024, targetsBytes: 8 * 1024 * 1024, maxRootRotations: 32, maxDelegations: 32 };

export interface TrustedMetadata {
  root: RootSigned;
  timestamp: TimestampSigned;
  snapshot: SnapshotSigned;
  targets: TargetsSigned;
}

export interface Refreshed {
  trusted: TrustedMetadata;
  rootRotations: number;
  mirror: string;
  /** §5.1: the cycle's fixed start time. */
  startedAt: number;
}

/** A failed check names the role whose metadata failed, when one did. */
export type TufFailure = Failure<ErrorCode> & { readonly role?: string };
export type RefreshResult = Success<Refreshed> | TufFailure;
export type ResolveResult = Success<Record<string, TargetFile>> | TufFailure;

/** What the repository sent does not verify: a RidgeError carrying the role (caught at the client's edge into a TufFailure). */
function abort(code: ErrorCode, reason: string, role?: string): RidgeError {
  return new RidgeError(code, reason, role ? { detail: { role } } : {});
}

function roleOf(e: RidgeError): string | undefined {
  const r = e.detail?.role;
  return typeof r === "string" ? r : undefined;
}

/** The client's edge: a verification failure becomes a result, anything else is a bug and is thrown. */
function failure(e: unknown): TufFailure {
  if (!(e instanceof RidgeError)) throw e;
  const role = roleOf(e);
  return { ...fail(e.code, e.message), ...(role ? { role } : {}) };
}

function sha(alg: string, data: Uint8Array): string | undefined {
  try {
    return createHash(alg).update(data).digest("hex");
  } catch {
    return undefined;
  }
}

/** §5.5.2 / §5.6.2: every listed hash must match; an algorithm we cannot compute fails closed. */
function checkMetaFile(role: string, bytes: Uint8Array, meta: MetaFile | undefined): void {
  if (!meta) return;
  if (meta.length !== undefined && bytes.length !== meta.length) throw abort("E_OTA_LENGTH", `${role}: ${bytes.length} bytes where ${meta.length} were listed`, role);
  for (const [alg, want] of Object.entries(meta.hashes ?? {})) {
    if (sha(alg, bytes) !== want) throw abort("E_OTA_HASH", `${role}: ${alg} does not match the listed hash (mix-and-match?)`, role);
  }
}

export class TufClient {
  private readonly limits: ClientLimits;
  constructor(
    private readonly store: MetadataStore,
    private readonly mirrors: readonly RepoFetcher[],
    private readonly clock: Clock,
    limits: Partial<ClientLimits> = {},
  ) {
    if (mirrors.length === 0) throw new RidgeError("E_OTA_NO_MIRROR", "the OTA client needs at least one repository mirror");
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** The trusted root as stored; throws E_OTA_NO_ROOT when the device was never provisioned with one. */
  trustedRoot(): RootSigned {
    const b = this.store.get("root");
    const p = b ? parseMetadata("root", b) : undefined;
    if (!p?.ok) throw new RidgeError("E_OTA_NO_ROOT", "no trusted root.json: provision the device with the repository's root metadata (ridge ota install --root FILE)");
    return p.value.signed;
  }

  private trusted<R extends RoleName>(role: R): Envelope<SignedOf<R>> | undefined {
    const b = this.store.get(role);
    if (!b) return undefined;
    const p = parseMetadata(role, b);
    return p.ok ? p.value : undefined;
  }

  /**
   * Fetch `path` from each mirror in turn until one yields metadata that passes `verify`
   * (a malicious mirror cannot block updates from a good one). Resolves to undefined when every
   * mirror says 404; rethrows the first mirror's failure when none verifies.
   */
  private async fromMirrors<T>(role: string, path: string, maxBytes: number, verify: (bytes: Uint8Array) => T): Promise<{ value: T; bytes: Uint8Array; mirror: string } | undefined> {
    let first: RidgeError | undefined;
    let notFound = 0;
    for (const m of this.mirrors) {
      let bytes: Uint8Array | undefined;
      try {
        // `maxBytes` is the listed length when one is listed, else the role's cap: the mirror's
        // deadline (E_OTA_SLOW) is derived from it as well.
        bytes = await m.fetch(path, maxBytes);
      } catch (e) {
        const code = errorCode(e);
        first ??= abort(code === "E_OTA_TOO_LARGE" || code === "E_OTA_SLOW" ? code : "E_OTA_FETCH", `${m.name}: ${errorMessage(e)}`, role);
        continue;
      }
      if (!bytes) {
        notFound++;
        continue;
      }
      try {
        return { value: verify(bytes), bytes, mirror: m.name };
      } catch (e) {
        if (!(e instanceof RidgeError)) throw e;
        first ??= abort(e.code, `${m.name}: ${e.message}`, roleOf(e));
      }
    }
    if (first) throw first;
    if (notFound === this.mirrors.length) return undefined;
    return undefined;
  }

  /** One update cycle of §5.3–§5.6 (root, timestamp, snapshot, targets). */
  async refresh(): Promise<RefreshResult> {
    // §5.1: one fixed start time for every expiry check of this cycle.
    const start = this.clock.now();
    try {
      return ok(await this.cycle(start));
    } catch (e) {
      return failure(e);
    }
  }

  /**
   * §5.6.7: every target this device may consider, each resolved the way a lookup by name is:
   * a pre-order depth-first walk from the top-level targets over the delegations whose paths
   * cover the name, skipping roles already visited (cycles), visiting at most `maxDelegations`
   * roles, and stopping at a terminating delegation. The first role in that order that lists a
   * name decides its file. Delegated metadata is verified like top-level targets (hashes and
   * version from the snapshot, the delegator's keys and threshold, expiry at `start`, which is
   * the refresh's fixed start time, §5.1) and persisted.
   */
  async resolveTargets(trusted: TrustedMetadata, start = this.clock.now()): Promise<ResolveResult> {
    const loaded = new Map<string, TargetsSigned>([["targets", trusted.targets]]);
    const load = async (role: DelegatedRole, by: Delegations): Promise<TargetsSigned> => {
      const have = loaded.get(role.name);
      if (have) return have;
      const meta = trusted.snapshot.meta[`${role.name}.json`];
      if (!meta) throw abort("E_OTA_PARSE", `snapshot does not list the delegated role ${role.name}`, role.name);
      const old = this.store.get(role.name);
      const oldP = old ? parseMetadata("targets", old) : undefined;
      let t: TargetsSigned;
      if (oldP?.ok && oldP.value.signed.version === meta.version) t = oldP.value.signed;
      else {
        const path = `metadata/${trusted.root.consistent_snapshot ? `${meta.version}.` : ""}${role.name}.json`;
        const got = await this.fromMirrors(role.name, path, meta.length ?? this.limits.targetsBytes, (bytes) => {
          checkMetaFile(role.name, bytes, meta);
          const p = parseMetadata("targets", bytes);
          if (!p.ok) throw abort(p.code, `${role.name}: ${p.reason}`, role.name);
          if (countValidSignatures(p.value, role, by.keys) < role.threshold) throw abort("E_OTA_SIGNATURE", `${role.name}: not signed by a threshold of its delegated keys`, role.name);
          if (p.value.signed.version !== meta.version) throw abort("E_OTA_VERSION_MISMATCH", `${role.name}: version ${p.value.signed.version}, snapshot says ${meta.version}`, role.name);
          return p.value;
        });
        if (!got) throw abort("E_OTA_FETCH", `${path}: no mirror has it`, role.name);
        t = got.value.signed;
        this.store.put(role.name, got.bytes);
      }
      if (isExpired(t.expires, start)) throw abort("E_OTA_EXPIRED", `${role.name} v${t.version} expired at ${t.expires}`, role.name);
      loaded.set(role.name, t);
      return t;
    };
    // One lookup by name (python-tuf's and tuf-js's preorder walk).
    const lookup = async (name: string, names?: Set<string>): Promise<TargetFile | undefined> => {
      const stack: { name: string; meta: () => Promise<TargetsSigned> }[] = [{ name: "targets", meta: async () => trusted.targets }];
      const visited = new Set<string>();
      while (stack.length && visited.size < this.limits.maxDelegations) {
        const next = stack.pop()!;
        if (visited.has(next.name)) continue;
        visited.add(next.name);
        const t = await next.meta();
        if (names) for (const n of Object.keys(t.targets)) names.add(n);
        const f = Object.prototype.hasOwnProperty.call(t.targets, name) ? t.targets[name] : undefined;
        if (f) return f;
        const d = t.delegations;
        if (!d) continue;
        const children: typeof stack = [];
        for (const role of d.roles) {
          if (!names && !roleCovers(role, name)) continue;
          children.push({ name: role.name, meta: () => load(role, d) });
          if (!names && role.terminating) {
            stack.length = 0;
            break;
          }
        }
        stack.push(...children.reverse());
      }
      return undefined;
    };
    try {
      // every name listed anywhere reachable, then each resolved by the rules of a lookup
      const names = new Set<string>();
      await lookup("\u0000 walk every role", names);
      const out: Record<string, TargetFile> = {};
      for (const n of names) {
        const f = await lookup(n);
        if (f) out[n] = f;
      }
      return ok(out);
    } catch (e) {
      return failure(e);
    }
  }

  private async cycle(start: number): Promise<Refreshed> {
    // §5.2: the trusted root; its expiry does not matter yet.
    const rootEnv = this.trusted("root");
    if (!rootEnv) throw new RidgeError("E_OTA_NO_ROOT", "no trusted root.json on this device");
    let root = rootEnv.signed;
    const originalRoot = root;
    let rotations = 0;
    let mirror = this.mirrors[0]!.name;

    // §5.3.3–5.3.9: root N → N+1, one version at a time.
    for (;;) {
      if (rotations >= this.limits.maxRootRotations) break;
      const next = root.version + 1;
      const trustedNow = root;
      const got = await this.fromMirrors("root", `metadata/${next}.root.json`, this.limits.rootBytes, (bytes) => {
        const p = parseMetadata("root", bytes);
        if (!p.ok) throw abort(p.code, p.reason, "root");
        // §5.3.4: threshold of the trusted root's root keys AND of the new root's own.
        if (!meetsThreshold(p.value, trustedNow, "root")) throw abort("E_OTA_SIGNATURE", `root v${next}: not signed by a threshold of the trusted root's (v${trustedNow.version}) root keys`, "root");
        if (!meetsThreshold(p.value, p.value.signed, "root")) throw abort("E_OTA_SIGNATURE", `root v${next}: not signed by a threshold of its own root keys`, "root");
        // §5.3.5: exactly N+1.
        if (p.value.signed.version !== next) throw abort("E_OTA_ROLLBACK", `root: file ${next}.root.json holds version ${p.value.signed.version}`, "root");
        return p.value;
      });
      if (!got) break;
      root = got.value.signed;
      // §5.3.8: persist each root as it becomes trusted.
      this.store.put("root", got.bytes);
      rotations++;
    }
    // §5.3.10: the final root must not be expired (indefinite freeze).
    if (isExpired(root.expires, start)) throw abort("E_OTA_EXPIRED", `root v${root.version} expired at ${root.expires}`, "root");
    // §5.3.11: rotated timestamp/snapshot keys → forget trusted timestamp and snapshot (fast-forward recovery).
    if (rotations > 0) {
      const same = (r: "timestamp" | "snapshot") => JSON.stringify([...originalRoot.roles[r].keyids].sort()) === JSON.stringify([...root.roles[r].keyids].sort());
      if (!same("timestamp") || !same("snapshot")) {
        this.store.delete("timestamp");
        this.store.delete("snapshot");
      }
    }

    // §5.4: timestamp.
    const oldTs = this.trusted("timestamp");
    const tsGot = await this.fromMirrors("timestamp", "metadata/timestamp.json", this.limits.timestampBytes, (bytes) => {
      const p = parseMetadata("timestamp", bytes);
      if (!p.ok) throw abort(p.code, p.reason, "timestamp");
      if (!meetsThreshold(p.value, root, "timestamp")) throw abort("E_OTA_SIGNATURE", "timestamp: not signed by a threshold of the timestamp keys", "timestamp");
      const ts = p.value.signed;
      if (oldTs) {
        // §5.4.3.1: version must grow (equal: nothing new, not an error).
        if (ts.version < oldTs.signed.version) throw abort("E_OTA_ROLLBACK", `timestamp: version ${ts.version} is older than the trusted ${oldTs.signed.version}`, "timestamp");
        // §5.4.3.2: the snapshot version it names must not go back.
        if (ts.meta["snapshot.json"].version < oldTs.signed.meta["snapshot.json"].version)
          throw abort("E_OTA_ROLLBACK", `timestamp: snapshot version ${ts.meta["snapshot.json"].version} is older than the trusted ${oldTs.signed.meta["snapshot.json"].version}`, "timestamp");
      }
      // §5.4.4: not expired.
      if (isExpired(ts.expires, start)) throw abort("E_OTA_EXPIRED", `timestamp v${ts.version} expired at ${ts.expires}`, "timestamp");
      return p.value;
    });
    if (!tsGot) throw abort("E_OTA_FETCH", "metadata/timestamp.json: no mirror has it", "timestamp");
    mirror = tsGot.mirror;
    let timestamp = tsGot.value.signed;
    if (oldTs && timestamp.version === oldTs.signed.version) timestamp = oldTs.signed;
    else this.store.put("timestamp", tsGot.bytes); // §5.4.5

    // §5.5: snapshot.
    const snapMeta = timestamp.meta["snapshot.json"];
    const oldSnap = this.trusted("snapshot");
    let snapshot: SnapshotSigned;
    if (oldSnap && oldSnap.signed.version === snapMeta.version) {
      snapshot = oldSnap.signed;
    } else {
      const path = `metadata/${root.consistent_snapshot ? `${snapMeta.version}.snapshot.json` : "snapshot.json"}`;
      const got = await this.fromMirrors("snapshot", path, snapMeta.length ?? this.limits.snapshotBytes, (bytes) => {
        // §5.5.2: hashes before signatures (mix-and-match).
        checkMetaFile("snapshot", bytes, snapMeta);
        const p = parseMetadata("snapshot", bytes);
        if (!p.ok) throw abort(p.code, p.reason, "snapshot");
        if (!meetsThreshold(p.value, root, "snapshot")) throw abort("E_OTA_SIGNATURE", "snapshot: not signed by a threshold of the snapshot keys", "snapshot");
        const s = p.value.signed;
        // §5.5.4: the version the timestamp names.
        if (s.version !== snapMeta.version) throw abort("E_OTA_VERSION_MISMATCH", `snapshot: version ${s.version}, timestamp says ${snapMeta.version} (mix-and-match)`, "snapshot");
        // §5.5.5: no targets file may go back or disappear.
        if (oldSnap) {
          for (const [name, m] of Object.entries(oldSnap.signed.meta)) {
            const now = s.meta[name];
            if (!now) throw abort("E_OTA_ROLLBACK", `snapshot: ${name} disappeared`, "snapshot");
            if (now.version < m.version) throw abort("E_OTA_ROLLBACK", `snapshot: ${name} went back from version ${m.version} to ${now.version}`, "snapshot");
          }
        }
        return p.value;
      });
      if (!got) throw abort("E_OTA_FETCH", `${path}: no mirror has it`, "snapshot");
      snapshot = got.value.signed;
      this.store.put("snapshot", got.bytes); // §5.5.7
    }
    // §5.5.6 (also for a snapshot kept from an earlier cycle: python-tuf #322).
    if (isExpired(snapshot.expires, start)) throw abort("E_OTA_EXPIRED", `snapshot v${snapshot.version} expired at ${snapshot.expires}`, "snapshot");

    // §5.6: targets.
    const tMeta = snapshot.meta["targets.json"];
    if (!tMeta) throw abort("E_OTA_PARSE", "snapshot: no targets.json entry", "snapshot");
    const oldTargets = this.trusted("targets");
    let targets: TargetsSigned;
    if (oldTargets && oldTargets.signed.version === tMeta.version) {
      targets = oldTargets.signed;
    } else {
      const path = `metadata/${root.consistent_snapshot ? `${tMeta.version}.targets.json` : "targets.json"}`;
      const got = await this.fromMirrors("targets", path, tMeta.length ?? this.limits.targetsBytes, (bytes) => {
        checkMetaFile("targets", bytes, tMeta);
        const p = parseMetadata("targets", bytes);
        if (!p.ok) throw abort(p.code, p.reason, "targets");
        if (!meetsThreshold(p.value, root, "targets")) throw abort("E_OTA_SIGNATURE", "targets: not signed by a threshold of the targets keys", "targets");
        if (p.value.signed.version !== tMeta.version) throw abort("E_OTA_VERSION_MISMATCH", `targets: version ${p.value.signed.version}, snapshot says ${tMeta.version} (mix-and-match)`, "targets");
        return p.value;
      });
      if (!got) throw abort("E_OTA_FETCH", `${path}: no mirror has it`, "targets");
      targets = got.value.signed;
      this.store.put("targets", got.bytes); // §5.6.6
    }
    if (isExpired(targets.expires, start)) throw abort("E_OTA_EXPIRED", `targets v${targets.version} expired at ${targets.expires}`, "targets");
    if (isExpired(timestamp.expires, start)) throw abort("E_OTA_EXPIRED", `timestamp v${timestamp.version} expired at ${timestamp.expires}`, "timestamp");

    return { trusted: { root, timestamp, snapshot, targets }, rootRotations: rotations, mirror, startedAt: start };
  }
}

/** §5.6.7: shell-style patterns matched segment by segment ('*' never crosses '/'). */
export function pathMatches(target: string, pattern: string): boolean {
  const t = target.split("/");
  const p = pattern.split("/");
  if (t.length !== p.length) return false;
  return t.every((seg, i) => {
    const re = new RegExp(`^${p[i]!.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    return re.test(seg);
  });
}

export function roleCovers(role: DelegatedRole, target: string): boolean {
  if (role.paths) return role.paths.some((p) => pathMatches(target, p));
  if (role.path_hash_prefixes) {
    const h = createHash("sha256").update(target).digest("hex");
    return role.path_hash_prefixes.some((x) => h.startsWith(x));
  }
  return false;
}

/** The repository path of a target file (§5.7.3: `HASH.name` under consistent snapshots). */
export function targetPath(root: RootSigned, name: string, sha256: string): string {
  if (!root.consistent_snapshot) return `targets/${name}`;
  const i = name.lastIndexOf("/");
  return `targets/${name.slice(0, i + 1)}${sha256}.${name.slice(i + 1)}`;
}

export class MemoryMetadataStore implements MetadataStore {
  readonly files = new Map<string, Uint8Array>();
  constructor(root?: Uint8Array) {
    if (root) this.files.set("root", root);
  }
  get(role: string) {
    return this.files.get(role);
  }
  put(role: string, bytes: Uint8Array) {
    this.files.set(role, bytes);
  }
  delete(role: string) {
    this.files.delete(role);
  }
}
