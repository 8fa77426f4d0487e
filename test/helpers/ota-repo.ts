/**
 * A TUF repository made by Ridgeline's own publisher in a temp directory, with one key per role
 * (or a k-of-n root), plus mirrors that tamper with what they serve, for the client's attack tests.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FakeClock } from "../../core/clock.js";
import { DirectoryFetcher } from "../../ota/repo-fetchers.js";
import { MemoryMetadataStore, TufClient, type RepoFetcher } from "../../ota/tuf-client.js";
import { generateSigningKey, signSigned, type SigAlg, type SigningKey } from "../../ota/tuf-keys.js";
import { TufRepository } from "../../ota/tuf-repository.js";
import type { TargetCustom } from "../../ota/tuf-metadata.js";
import { tempDir } from "../../peers/process.js";

export const T0 = Date.parse("2026-06-01T00:00:00Z");

export interface TestRepo {
  dir: string;
  clock: FakeClock;
  repo: TufRepository;
  keys: { root: SigningKey[]; targets: SigningKey; snapshot: SigningKey; timestamp: SigningKey };
  all(): SigningKey[];
  /** A fresh device store holding root v1 as shipped. */
  store(): MemoryMetadataStore;
  client(store?: MemoryMetadataStore, mirrors?: RepoFetcher[]): TufClient;
  addTarget(name: string, content: Uint8Array, custom: TargetCustom): Promise<void>;
  cleanup(): void;
  rootV1: Uint8Array;
}

export async function makeRepo(opts: { alg?: SigAlg; rootKeys?: number; rootThreshold?: number; now?: number } = {}): Promise<TestRepo> {
  const alg = opts.alg ?? "ed25519";
  const clock = new FakeClock(opts.now ?? T0);
  const { dir, cleanup } = tempDir("ridge-ota-repo-");
  const rootKeys = Array.from({ length: opts.rootKeys ?? 1 }, () => generateSigningKey(alg));
  const keys = { root: rootKeys, targets: generateSigningKey(alg), snapshot: generateSigningKey(alg), timestamp: generateSigningKey(alg) };
  const all = () => [...keys.root, keys.targets, keys.snapshot, keys.timestamp];
  const { repo } = await TufRepository.init(
    join(dir, "repo"),
    clock,
    {
      root: { keys: rootKeys.map((k) => k.key), threshold: opts.rootThreshold ?? 1 },
      targets: { keys: [keys.targets.key], threshold: 1 },
      snapshot: { keys: [keys.snapshot.key], threshold: 1 },
      timestamp: { keys: [keys.timestamp.key], threshold: 1 },
    },
    all(),
  );
  const rootV1 = new Uint8Array(readFileSync(join(dir, "repo", "metadata", "1.root.json")));
  const t: TestRepo = {
    dir: join(dir, "repo"),
    clock,
    repo,
    keys,
    all,
    rootV1,
    store: () => new MemoryMetadataStore(rootV1),
    client: (store, mirrors) => new TufClient(store ?? t.store(), mirrors ?? [new DirectoryFetcher(join(dir, "repo"))], clock),
    async addTarget(name, content, custom) {
      const f = join(dir, `${name.replace(/\//g, "_")}.src`);
      writeFileSync(f, content);
      await repo.addTarget(f, name, custom);
      repo.sign(all());
    },
    cleanup,
  };
  return t;
}

/** Read, edit and re-sign (with the given keys) a published metadata file in place. */
export function resign(dir: string, file: string, edit: (signed: Record<string, unknown>) => void, keys: SigningKey[]): Uint8Array {
  const p = join(dir, "metadata", file);
  const doc = JSON.parse(readFileSync(p, "utf8")) as { signed: Record<string, unknown> };
  edit(doc.signed);
  const bytes = Buffer.from(JSON.stringify({ signed: doc.signed, signatures: keys.map((k) => signSigned(k, doc.signed)) }));
  writeFileSync(p, bytes);
  return bytes;
}

/** A mirror that serves the same files as `inner` but rewrites some of them. */
export class TamperingFetcher implements RepoFetcher {
  readonly name = "tampering";
  readonly requests: string[] = [];
  constructor(
    private readonly inner: RepoFetcher,
    private readonly rewrite: (path: string, bytes: Uint8Array | undefined) => Uint8Array | undefined,
  ) {}
  async fetch(path: string, maxBytes: number): Promise<Uint8Array | undefined> {
    this.requests.push(path);
    const b = this.rewrite(path, await this.inner.fetch(path, Number.MAX_SAFE_INTEGER));
    if (b && b.length > maxBytes) {
      const { RidgeError } = await import("../../core/index.js");
      throw new RidgeError("E_OTA_TOO_LARGE", `${path}: over ${maxBytes}`);
    }
    return b;
  }
}

export function runtimeCustom(version: string, board = "sim", arch = "x64"): TargetCustom {
  return { kind: "runtime", version, boards: [board], arch: [arch] };
}
