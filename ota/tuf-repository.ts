/**
 * The publisher's side: a TUF repository as plain files, servable by any static HTTP server.
 *
 *   DIR/metadata/N.root.json, root.json          every root version, and the latest
 *   DIR/metadata/V.targets.json, V.snapshot.json  consistent snapshots (tuf-spec §6.2)
 *   DIR/metadata/timestamp.json
 *   DIR/targets/SHA256.NAME                       artifacts, content-addressed
 *   DIR/staged/ROLE.json                          new metadata waiting for a threshold of signatures
 *
 * A role's new version is staged, signed (by one or more `ridge ota sign` calls, so k-of-n works
 * with keys held by different people) and published once it meets its threshold; publishing
 * targets stages a new snapshot, publishing a snapshot stages a new timestamp. A new root must meet
 * the threshold of the old root and of itself (§5.3.4). Signing keys never enter DIR.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, copyFileSync, openSync, fsyncSync, closeSync, mkdtempSync } from "node:fs";
import { basename, join } from "node:path";
import { tmpdir } from "node:os";
import { BundleExtractor } from "./bundle-extractor.js";
import { MANIFEST_NAME } from "./bundle-manifest.js";
import { RidgeError, type Clock } from "../core/index.js";
import { buildChunkIndex, chunkPath, indexPath, readRange, CHUNK_FORMAT, type ChunkRef } from "./chunk-index.js";
import { keyId, signSigned, type SigningKey, type TufKey, type TufSignature } from "./tuf-keys.js";
import {
  SPEC_VERSION,
  countValidSignatures,
  formatExpires,
  parseMetadata,
  type Envelope,
  type RoleName,
  type RootSigned,
  type SnapshotSigned,
  type TargetCustom,
  type TargetsSigned,
  type TimestampSigned,
} from "./tuf-metadata.js";

const DAY = 86_400_000;
export const DEFAULT_EXPIRY: Record<RoleName, number> = { root: 365 * DAY, targets: 90 * DAY, snapshot: 7 * DAY, timestamp: 1 * DAY };

export interface RoleKeySpec {
  keys: TufKey[];
  threshold: number;
}

export interface InitOptions {
  root: RoleKeySpec;
  targets?: RoleKeySpec;
  snapshot?: RoleKeySpec;
  timestamp?: RoleKeySpec;
  expiry?: Partial<Record<RoleName, number>>;
}

interface StoredDoc {
  signed: Record<string, unknown>;
  signatures: TufSignature[];
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Metadata files are plain JSON (canonical JSON is what is signed, not what is stored: it leaves
 * control characters such as a PEM key's newlines unescaped, which JSON parsers refuse).
 */
function serialize(doc: StoredDoc): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ signatures: doc.signatures, signed: doc.signed }));
}

/**
 * A Ridgeline bundle (its manifest first) is extracted into a scratch directory with every check
 * the devices make, file hashes included, before its chunk index is signed: a bundle every device
 * would refuse is never published, and devices streaming it need not hash each file again.
 * Throws the extractor's refusal; false when the file is not a bundle (a model, firmware).
 */
async function checkBundle(file: string): Promise<boolean> {
  const fd = openSync(file, "r");
  let first: Buffer;
  try {
    first = readRange(fd, 0, 512);
  } finally {
    closeSync(fd);
  }
  if (first.length < 512 || first.subarray(0, 100).toString("latin1").replace(/\0.*$/s, "") !== MANIFEST_NAME) return false;
  const scratch = mkdtempSync(join(tmpdir(), "ridge-publish-check-"));
  try {
    const x = new BundleExtractor(join(scratch, "slot"));
    for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) x.push(c as Buffer);
    x.finish();
    return true;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function hashFile(path: string): Promise<{ length: number; sha256: string; sm3: string }> {
  const a = createHash("sha256");
  const b = createHash("sm3");
  let length = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const c = chunk as Buffer;
    a.update(c);
    b.update(c);
    length += c.length;
  }
  return { length, sha256: a.digest("hex"), sm3: b.digest("hex") };
}

export interface PublishReport {
  published: RoleName[];
  staged: RoleName[];
  /** Per staged role: valid signatures / threshold (for a new root: of the old and the new root). */
  waiting: Record<string, string>;
}

export class TufRepository {
  constructor(
    readonly dir: string,
    private readonly clock: Clock,
  ) {}

  private meta(...p: string[]) {
    return join(this.dir, "metadata", ...p);
  }

  static async init(dir: string, clock: Clock, opts: InitOptions, keys: SigningKey[]): Promise<{ repo: TufRepository; report: PublishReport }> {
    if (existsSync(join(dir, "metadata", "1.root.json")) || existsSync(join(dir, "staged", "root.json")))
      throw new RidgeError("E_OTA_REPO_EXISTS", `${dir} already holds a repository`);
    mkdirSync(join(dir, "metadata"), { recursive: true });
    mkdirSync(join(dir, "targets"), { recursive: true });
    mkdirSync(join(dir, "staged"), { recursive: true });
    const repo = new TufRepository(dir, clock);
    const root = repo.buildRoot(1, opts);
    repo.stage("root", root as unknown as Record<string, unknown>);
    repo.stage("targets", { _type: "targets", spec_version: SPEC_VERSION, version: 1, expires: formatExpires(clock.now() + (opts.expiry?.targets ?? DEFAULT_EXPIRY.targets)), targets: {} });
    const report = repo.sign(keys);
    return { repo, report };
  }

  static open(dir: string, clock: Clock): TufRepository {
    if (!existsSync(join(dir, "metadata")) || !existsSync(join(dir, "staged")))
      throw new RidgeError("E_OTA_REPO_MISSING", `${dir} is not a repository made by "ridge ota init-repo"`);
    return new TufRepository(dir, clock);
  }

  private buildRoot(version: number, opts: InitOptions): RootSigned {
    const keys: Record<string, TufKey> = {};
    const role = (spec: RoleKeySpec) => {
      const ids = spec.keys.map((k) => {
        const id = keyId(k);
        keys[id] = { keytype: k.keytype, scheme: k.scheme, keyval: { public: k.keyval.public } };
        return id;
      });
      const uniq = [...new Set(ids)];
      if (spec.threshold < 1 || spec.threshold > uniq.length)
        throw new RidgeError("E_OTA_THRESHOLD", `threshold ${spec.threshold} needs between 1 and ${uniq.length} distinct keys`);
      return { keyids: uniq, threshold: spec.threshold };
    };
    const roles = {
      root: role(opts.root),
      targets: role(opts.targets ?? opts.root),
      snapshot: role(opts.snapshot ?? opts.root),
      timestamp: role(opts.timestamp ?? opts.root),
    };
    return {
      _type: "root",
      spec_version: SPEC_VERSION,
      version,
      expires: formatExpires(this.clock.now() + (opts.expiry?.root ?? DEFAULT_EXPIRY.root)),
      consistent_snapshot: true,
      keys: keys as RootSigned["keys"],
      roles,
    };
  }

  /** The latest published metadata of a role, or undefined. */
  published<R extends RoleName>(role: R): Envelope<import("./tuf-metadata.js").SignedOf<R>> | undefined {
    const f = this.meta(`${role}.json`);
    if (!existsSync(f)) return undefined;
    const p = parseMetadata(role, readFileSync(f));
    if (!p.ok) throw new RidgeError("E_OTA_REPO_CORRUPT", `${f}: ${p.reason}`);
    return p.value;
  }

  private stagedDoc(role: RoleName): StoredDoc | undefined {
    const f = join(this.dir, "staged", `${role}.json`);
    if (!existsSync(f)) return undefined;
    return JSON.parse(readFileSync(f, "utf8")) as StoredDoc;
  }

  private stage(role: RoleName, signed: Record<string, unknown>): void {
    writeAtomic(join(this.dir, "staged", `${role}.json`), serialize({ signed, signatures: [] }));
  }

  stagedRoles(): RoleName[] {
    return (["root", "targets", "snapshot", "timestamp"] as const).filter((r) => this.stagedDoc(r));
  }

  private currentRoot(): RootSigned | undefined {
    return this.published("root")?.signed;
  }

  /** Which root (or roots) a staged role's signatures must satisfy. */
  private authorities(role: RoleName, signed: Record<string, unknown>): RootSigned[] {
    const cur = this.currentRoot();
    if (role === "root") {
      const self = signed as unknown as RootSigned;
      return cur ? [cur, self] : [self];
    }
    if (!cur) throw new RidgeError("E_OTA_REPO_NO_ROOT", "publish the root first: it is still waiting for signatures");
    return [cur];
  }

  private tally(role: RoleName, doc: StoredDoc): { met: boolean; text: string } {
    const env = { signed: doc.signed, signatures: doc.signatures, raw: doc.signed };
    const parts = this.authorities(role, doc.signed).map((r) => {
      const n = countValidSignatures(env, r.roles[role], r.keys);
      return { n, t: r.roles[role].threshold, v: r.version };
    });
    return { met: parts.every((p) => p.n >= p.t), text: parts.map((p) => `${p.n}/${p.t} of root v${p.v}`).join(", ") };
  }

  /**
   * Add signatures from `keys` to every staged role they are authorised for (or only to `only`),
   * publishing what reaches its thresholds and staging what follows from it
   * (targets → snapshot → timestamp), until nothing moves.
   */
  sign(keys: SigningKey[], only?: RoleName): PublishReport {
    const report: PublishReport = { published: [], staged: [], waiting: {} };
    for (let progress = true; progress; ) {
      progress = false;
      for (const role of ["root", "targets", "snapshot", "timestamp"] as const) {
        const doc = this.stagedDoc(role);
        if (!doc) continue;
        if (role !== "root" && !this.currentRoot()) {
          report.waiting[role] = "the root is not published yet";
          continue;
        }
        const auth = this.authorities(role, doc.signed);
        if (!only || only === role) {
          for (const k of keys) {
            if (!auth.some((r) => r.roles[role].keyids.includes(k.keyid))) continue;
            if (doc.signatures.some((s) => s.keyid === k.keyid)) continue;
            doc.signatures.push(signSigned(k, doc.signed));
          }
          writeAtomic(join(this.dir, "staged", `${role}.json`), serialize(doc));
        }
        const t = this.tally(role, doc);
        if (!t.met) {
          report.waiting[role] = t.text;
          continue;
        }
        delete report.waiting[role];
        this.publish(role, doc);
        report.published.push(role);
        if (role === "targets") this.stageSnapshot();
        if (role === "snapshot") this.stageTimestamp();
        if (role === "targets" || role === "snapshot") report.staged.push(role === "targets" ? "snapshot" : "timestamp");
        progress = true;
      }
    }
    report.staged = report.staged.filter((r) => this.stagedDoc(r));
    return report;
  }

  private publish(role: RoleName, doc: StoredDoc): void {
    const bytes = serialize(doc);
    const version = doc.signed.version as number;
    if (role === "root" || role === "snapshot" || role === "targets") writeAtomic(this.meta(`${version}.${role}.json`), bytes);
    writeAtomic(this.meta(`${role}.json`), bytes);
    rmSync(join(this.dir, "staged", `${role}.json`), { force: true });
  }

  private stageSnapshot(): void {
    const t = this.metaFileOf("targets");
    const prev = this.published("snapshot")?.signed;
    const s: SnapshotSigned = {
      _type: "snapshot",
      spec_version: SPEC_VERSION,
      version: (prev?.version ?? 0) + 1,
      expires: formatExpires(this.clock.now() + DEFAULT_EXPIRY.snapshot),
      meta: { "targets.json": t },
    };
    this.stage("snapshot", s as unknown as Record<string, unknown>);
  }

  private stageTimestamp(): void {
    const s = this.metaFileOf("snapshot");
    const prev = this.published("timestamp")?.signed;
    const t: TimestampSigned = {
      _type: "timestamp",
      spec_version: SPEC_VERSION,
      version: (prev?.version ?? 0) + 1,
      expires: formatExpires(this.clock.now() + DEFAULT_EXPIRY.timestamp),
      meta: { "snapshot.json": s },
    };
    this.stage("timestamp", t as unknown as Record<string, unknown>);
  }

  private metaFileOf(role: "targets" | "snapshot"): { version: number; length: number; hashes: { sha256: string } } {
    const bytes = readFileSync(this.meta(`${role}.json`));
    const env = parseMetadata(role, bytes);
    if (!env.ok) throw new RidgeError("E_OTA_REPO_CORRUPT", env.reason);
    return { version: env.value.signed.version, length: bytes.length, hashes: { sha256: createHash("sha256").update(bytes).digest("hex") } };
  }

  /** Re-stage a role at version+1 (fresh expiry): how timestamp and snapshot are kept from expiring. */
  bump(role: "targets" | "snapshot" | "timestamp", expiresInMs?: number): void {
    if (role === "snapshot") this.stageSnapshot();
    else if (role === "timestamp") this.stageTimestamp();
    else {
      const cur = this.published("targets")?.signed;
      const s = (this.stagedDoc("targets")?.signed as TargetsSigned | undefined) ?? cur;
      if (!s) throw new RidgeError("E_OTA_REPO_NO_ROOT", "no targets metadata to bump");
      this.stage("targets", { ...s, version: (cur?.version ?? 0) + 1, expires: formatExpires(this.clock.now() + (expiresInMs ?? DEFAULT_EXPIRY.targets)) });
      return;
    }
    if (expiresInMs !== undefined) {
      const d = this.stagedDoc(role)!;
      d.signed.expires = formatExpires(this.clock.now() + expiresInMs);
      writeAtomic(join(this.dir, "staged", `${role}.json`), serialize(d));
    }
  }

  /** Copy an artifact into targets/ and stage targets metadata listing it (version+1). */
  /**
   * Publish `file` as target `name`. With `chunks`, also its content-defined chunk index, glue
   * blob and chunks under targets/chunks/ (devices then fetch only the chunks their running slot
   * lacks), the index's hash and length signed in `custom.chunks`.
   */
  async addTarget(file: string, name: string, custom: TargetCustom, opts: { chunks?: boolean } = {}): Promise<{ name: string; length: number; sha256: string; sm3: string; chunks?: number }> {
    if (!/^[A-Za-z0-9._-][A-Za-z0-9._/-]*$/.test(name) || name.split("/").some((p) => p === ".." || p === "." || p === ""))
      throw new RidgeError("E_OTA_TARGET_NAME", `target name "${name}": letters, digits, '.', '_', '-', '/' only, no empty or '..' parts`);
    const h = await hashFile(file);
    const dest = join(this.dir, "targets", `${name.includes("/") ? name.slice(0, name.lastIndexOf("/") + 1) : ""}${h.sha256}.${basename(name)}`);
    mkdirSync(join(dest, ".."), { recursive: true });
    copyFileSync(file, `${dest}.tmp`);
    renameSync(`${dest}.tmp`, dest);
    let chunkCount: number | undefined;
    if (opts.chunks) {
      const ref = await this.writeChunks(file, h.length);
      custom = { ...custom, chunks: ref.ref };
      chunkCount = ref.count;
    }
    const cur = (this.stagedDoc("targets")?.signed as TargetsSigned | undefined) ?? this.published("targets")?.signed;
    const pubVersion = this.published("targets")?.signed.version ?? 0;
    const targets: TargetsSigned = {
      _type: "targets",
      spec_version: SPEC_VERSION,
      version: pubVersion + 1,
      expires: formatExpires(this.clock.now() + DEFAULT_EXPIRY.targets),
      targets: { ...(cur?.targets ?? {}), [name]: { length: h.length, hashes: { sha256: h.sha256, sm3: h.sm3 }, custom } },
    };
    this.stage("targets", targets as unknown as Record<string, unknown>);
    return { name, ...h, ...(chunkCount !== undefined ? { chunks: chunkCount } : {}) };
  }

  /** The chunk store of one artifact: every chunk by its sha256 (shared across targets), the glue blob, the index. */
  private async writeChunks(file: string, length: number): Promise<{ ref: ChunkRef; count: number }> {
    const checked = await checkBundle(file);
    const built = buildChunkIndex(file, length);
    const dir = join(this.dir, "targets", "chunks");
    mkdirSync(dir, { recursive: true });
    const fd = openSync(file, "r");
    const put = (rel: string, bytes: Uint8Array) => {
      const dest = join(this.dir, rel);
      if (existsSync(dest)) return;
      writeFileSync(`${dest}.tmp`, bytes);
      renameSync(`${dest}.tmp`, dest);
    };
    const read = (pos: number, len: number) => readRange(fd, pos, len);
    try {
      for (const [sha, at] of built.chunks) put(chunkPath(sha), read(at.offset, at.length));
      put(chunkPath(built.index.glue.sha256), Buffer.concat(built.glueRanges.map(([p, l]) => read(p, l))));
    } finally {
      closeSync(fd);
    }
    const bytes = Buffer.from(JSON.stringify(built.index));
    const ref: ChunkRef = { format: CHUNK_FORMAT, sha256: createHash("sha256").update(bytes).digest("hex"), length: bytes.length, ...(checked ? { bundleChecked: true as const } : {}) };
    put(indexPath(ref), bytes);
    return { ref, count: built.chunks.size };
  }

  /** Stage root v+1 with new keys; it publishes once signed by thresholds of both the old and the new root. */
  rotateRoot(opts: InitOptions): RootSigned {
    const cur = this.currentRoot();
    if (!cur) throw new RidgeError("E_OTA_REPO_NO_ROOT", "no published root to rotate");
    const keep = (role: "targets" | "snapshot" | "timestamp"): RoleKeySpec => ({
      keys: cur.roles[role].keyids.map((id) => cur.keys[id] as TufKey).filter(Boolean),
      threshold: cur.roles[role].threshold,
    });
    const next = this.buildRoot(cur.version + 1, {
      root: opts.root,
      targets: opts.targets ?? keep("targets"),
      snapshot: opts.snapshot ?? keep("snapshot"),
      timestamp: opts.timestamp ?? keep("timestamp"),
      ...(opts.expiry ? { expiry: opts.expiry } : {}),
    });
    this.stage("root", next as unknown as Record<string, unknown>);
    return next;
  }

  /** Every file a mirror must serve (relative paths), for copying a repository to a USB stick. */
  files(): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of readdirSync(join(this.dir, rel), { withFileTypes: true })) {
        const p = `${rel}/${e.name}`;
        if (e.isDirectory()) walk(p);
        else out.push(p);
      }
    };
    walk("metadata");
    walk("targets");
    return out.sort();
  }
}
