// Delta downloads (issue 16 item 11): a runtime published with its content-defined chunk index is
// assembled from the chunks the running slot already holds plus the fetched rest; every chunk
// and the whole target are checked. Generated edits keep every chunk before the edit; generated
// broken indexes, chunks and glue are refused and the device falls back to the whole download;
// a link lost mid-delta resumes without fetching again what was written; kill -9 mid-delta
// through the real launcher never bricks.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Chunker, MAX_CHUNK, MIN_CHUNK, CHUNK_FORMAT, parseChunkIndex, parseChunkRef, type ChunkRef } from "../../ota/chunk-index.js";
import { BundleExtractor, emptyDir } from "../../ota/bundle-extractor.js";
import { writeBundle } from "../../ota/bundle-writer.js";
import { writeMarker } from "../../ota/slot-marker.js";
import { fetcherFor } from "../../ota/repo-fetchers.js";
import { RidgeError } from "../../core/index.js";
import type { RepoFetcher } from "../../ota/tuf-client.js";
import { makeDevice, ARCH, SLOT_RUNTIME, type TestDevice } from "../helpers/ota-device.js";
import { serveRepo } from "../helpers/ota-http.js";
import { assertNoBrick } from "../helpers/ota-launch.js";

const cuts = (b: Uint8Array, slices = 1): number[] => {
  const out: number[] = [];
  const c = new Chunker((n) => out.push(n));
  const step = Math.max(1, Math.ceil(b.length / slices));
  for (let i = 0; i < b.length; i += step) c.push(b.subarray(i, i + step));
  c.end();
  return out;
};

test("property: cuts depend only on the content (any slicing), cover it, stay within min/max, and an edit keeps every chunk that ends before it", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1 << 30 }), fc.integer({ min: 1, max: 9 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.uint8Array({ minLength: 1, maxLength: 64 }), (seed, slices, where, insert) => {
      const size = 600_000 + (seed % 400_000);
      const data = createHash("sha256").update(String(seed)).digest();
      const buf = Buffer.alloc(size);
      for (let i = 0; i < size; i += 32) data.copy(buf, i), (data[0] = (data[0]! + 7) & 0xff), createHash("sha256").update(data).digest().copy(data);
      const a = cuts(buf);
      assert.equal(cuts(buf, slices), a);
      assert.is(a.reduce((x, y) => x + y, 0), size);
      a.forEach((n, i) => assert.ok(n <= MAX_CHUNK && (n >= MIN_CHUNK || i === a.length - 1), `chunk ${i}: ${n}`));
      const at = Math.floor(where * size);
      const edited = Buffer.concat([buf.subarray(0, at), Buffer.from(insert), buf.subarray(at)]);
      const b = cuts(edited);
      let end = 0;
      // (not the last: end of data cut it, not its content)
      for (let i = 0; i < a.length - 1 && end + a[i]! <= at; i++) {
        assert.is(b[i], a[i], `chunk ${i} before the edit at ${at}`);
        end += a[i]!;
      }
    }),
    { numRuns: 12 },
  );
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("property: a chunk index is refused unless every piece is well formed and they add up to the target (E_OTA_CHUNK_INDEX)", () => {
  const good = { format: CHUNK_FORMAT, length: 3000, glue: { sha256: "a".repeat(64), length: 1000 }, pieces: [["g", 1000], ["c", 2000, "b".repeat(64)]] };
  const refOf = (bytes: Uint8Array): ChunkRef => ({ format: CHUNK_FORMAT, sha256: sha(bytes), length: bytes.length });
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o));
  assert.ok(parseChunkIndex(enc(good), refOf(enc(good)), 3000).ok);
  const mutations = fc.oneof(
    fc.constant((o: any) => (o.pieces[1][1] = 1999)),
    fc.constant((o: any) => (o.pieces[0][1] = 999)),
    fc.constant((o: any) => (o.pieces[1][2] = "B".repeat(64))),
    fc.constant((o: any) => (o.pieces[1] = ["c", 2000])),
    fc.constant((o: any) => (o.pieces[0] = ["g", 1000, "x"])),
    fc.constant((o: any) => (o.pieces[0][0] = "x")),
    fc.constant((o: any) => (o.format = "ridge-cdc/2")),
    fc.constant((o: any) => (o.length = 3001)),
    fc.constant((o: any) => (o.glue.length = 1001)),
    fc.constant((o: any) => (o.pieces = {})),
    fc.constant((o: any) => o.pieces.push(["c", 0, "c".repeat(64)])),
    fc.constant((o: any) => o.pieces.push(["c", -5, "c".repeat(64)])),
    fc.constant((o: any) => (o.pieces[1][1] = 2000.5)),
    fc.constant((o: any) => (o.pieces[1][1] = 1e9)),
  );
  fc.assert(
    fc.property(mutations, (mutate) => {
      const o = structuredClone(good);
      mutate(o);
      const bytes = enc(o);
      const r = parseChunkIndex(bytes, refOf(bytes), 3000);
      assert.not.ok(r.ok);
      assert.is(!r.ok && r.code, "E_OTA_CHUNK_INDEX");
    }),
  );
  // bytes that are not the signed ones, whatever they hold
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (junk) => {
      const r = parseChunkIndex(junk, refOf(enc(good)), 3000);
      assert.is(!r.ok && r.code, "E_OTA_CHUNK_INDEX");
    }),
  );
  for (const bad of [undefined, null, 7, {}, { format: CHUNK_FORMAT }, { format: CHUNK_FORMAT, sha256: "../x", length: 10 }, { format: CHUNK_FORMAT, sha256: "a".repeat(64), length: 0 }, { format: CHUNK_FORMAT, sha256: "a".repeat(64), length: 1e12 }])
    assert.is(parseChunkRef(bad), undefined, JSON.stringify(bad));
});

/** A runtime whose slot holds some MiB of data files; v2 changes a few bytes of one of them. */
async function versions(d: TestDevice) {
  const base = join(d.dataDir, "..", "delta-src");
  const mk = (v: string, edit: boolean) => {
    const dir = join(base, v);
    mkdirSync(join(dir, "dist"), { recursive: true });
    writeFileSync(join(dir, "dist", "ridge.mjs"), `process.env.OTA_TEST_VERSION = ${JSON.stringify(v)};\nprocess.env.OTA_TEST_BEHAVIOUR = "ok";\nawait import(${JSON.stringify(SLOT_RUNTIME)});\n`);
    const files = new Map<string, string>([["dist/ridge.mjs", join(dir, "dist", "ridge.mjs")]]);
    for (let i = 0; i < 8; i++) {
      const f = join(dir, `lib${i}.bin`);
      const bytes = Buffer.from(payload[i]!);
      if (edit && i === 5) bytes.write("a small fix", 700_000);
      writeFileSync(f, bytes);
      files.set(`lib/part${i}.bin`, f);
    }
    return files;
  };
  // deterministic pseudo-random content: the same cuts, so the same bytes fetched, on every run
  const payload = Array.from({ length: 8 }, (_, i) => {
    const b = Buffer.alloc(1024 * 1024);
    let block = createHash("sha256").update(`delta-${i}`).digest();
    for (let o = 0; o < b.length; o += 32) {
      block.copy(b, o);
      block = createHash("sha256").update(block).digest();
    }
    return b;
  });
  const v1 = join(base, "v1.tar");
  const v2 = join(base, "v2.tar");
  await writeBundle(v1, { kind: "runtime", version: "1.0.0", board: "sim", arch: ARCH, entry: "dist/ridge.mjs", files: mk("1.0.0", false), created: new Date(0) });
  await writeBundle(v2, { kind: "runtime", version: "1.1.0", board: "sim", arch: ARCH, entry: "dist/ridge.mjs", files: mk("1.1.0", true), created: new Date(1000) });
  // slot a runs v1, as a flash or an earlier update left it
  emptyDir(d.slot("a"));
  const x = new BundleExtractor(d.slot("a"));
  x.push(readFileSync(v1));
  const m = x.finish();
  writeMarker(d.slot("a"), { version: "1.0.0", target: "runtime-sim-1.0.0.tar", sha256: sha(readFileSync(v1)), board: "sim", arch: ARCH, entry: m.entry!, installedAt: new Date(0).toISOString() });
  await d.repo.repo.addTarget(v2, "runtime-sim-1.1.0.tar", { kind: "runtime", version: "1.1.0", boards: ["sim"], arch: [ARCH] }, { chunks: true });
  d.repo.repo.sign(d.repo.all());
  return { v2, v2Bytes: readFileSync(v2) };
}

/** Bytes the repository served for targets: a range's length, else the whole file. */
const servedBytes = (repoDir: string, reqs: { path: string; range?: string }[]) =>
  reqs
    .filter((r) => r.path.includes("/targets/"))
    .reduce((n, r) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? "");
      return n + (m ? Number(m[2]) - Number(m[1]) + 1 : statSync(join(repoDir, decodeURIComponent(r.path.replace(/^\//, "")))).size);
    }, 0);

for (const ignoreRanges of [false, true])
test(`an update that changes one file downloads ≤ 5 % of the bundle${ignoreRanges ? " (a server that ignores ranges: chunk files)" : ""}; slot b holds exactly the new files`, async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  srv.ignoreRanges = ignoreRanges;
  try {
    const { v2Bytes } = await versions(d);
    const a = d.agent({ booted: "a", mirrors: [fetcherFor(srv.url)] });
    await a.check("poll");
    assert.is(a.state().s, "pending", JSON.stringify(a.state()));
    assert.not.ok(srv.requests.some((r) => r.path.endsWith(".tar") && !r.range), "the whole bundle was never requested");
    const fetched = servedBytes(d.repo.dir, srv.requests);
    assert.ok(fetched <= 0.05 * v2Bytes.length, `fetched ${fetched} of ${v2Bytes.length}`);
    const fixed = readFileSync(join(d.slot("b"), "lib", "part5.bin"));
    assert.is(fixed.toString("latin1", 700_000, 700_011), "a small fix");
    for (let i = 0; i < 8; i++) if (i !== 5) assert.equal(readFileSync(join(d.slot("b"), "lib", `part${i}.bin`)), readFileSync(join(d.slot("a"), "lib", `part${i}.bin`)));
    assert.equal(existsSync(join(d.dataDir, "ota", "download")) ? readdirSync(join(d.dataDir, "ota", "download")).filter((f) => f.endsWith(".part")) : [], []);
  } finally {
    await srv.close();
    d.cleanup();
  }
});

/** A mirror without byte ranges (any RepoFetcher that is not HTTP or a directory): chunks come from targets/chunks/. */
const noRanges = (url: string): RepoFetcher => {
  const inner = fetcherFor(url);
  return { name: "no-ranges", fetch: (p, max) => inner.fetch(p, max) };
};

for (const [what, breakIt, ranges] of [
  ["the index is missing", (dir: string) => rmSync(join(dir, "targets", "chunks", readdirSync(join(dir, "targets", "chunks")).find((f) => f.endsWith(".index"))!)), true],
  ["a chunk is missing (a mirror without ranges)", (dir: string) => {
    for (const f of readdirSync(join(dir, "targets", "chunks"))) if (!f.endsWith(".index") && statSync(join(dir, "targets", "chunks", f)).size >= MIN_CHUNK) rmSync(join(dir, "targets", "chunks", f));
  }, false],
  ["every chunk and the glue are corrupted", (dir: string) => {
    for (const f of readdirSync(join(dir, "targets", "chunks"))) if (!f.endsWith(".index")) writeFileSync(join(dir, "targets", "chunks", f), randomBytes(statSync(join(dir, "targets", "chunks", f)).size));
  }, true],
] as [string, (dir: string) => void, boolean][]) {
  test(`${what}: the device falls back to the whole download and installs the signed bytes`, async () => {
    const d = await makeDevice();
    const srv = await serveRepo(d.repo.dir);
    try {
      await versions(d);
      breakIt(d.repo.dir);
      const a = d.agent({ booted: "a", mirrors: [ranges ? fetcherFor(srv.url) : noRanges(srv.url)] });
      await a.check("poll");
      assert.is(a.state().s, "pending", JSON.stringify(a.state()));
      assert.ok(srv.requests.some((r) => r.path.endsWith(".tar") && !r.range), "the whole bundle was fetched");
      assert.is(readFileSync(join(d.slot("b"), "lib", "part5.bin")).toString("latin1", 700_000, 700_011), "a small fix");
    } finally {
      await srv.close();
      d.cleanup();
    }
  });
}

test("a mirror that serves other bytes in a range: refused before they reach the slot; the signed chunks still install; with the chunk store tampered too, the whole download fails its TUF hash and slot b stays empty", async () => {
  for (const alsoChunks of [false, true]) {
    const d = await makeDevice();
    const srv = await serveRepo(d.repo.dir);
    try {
      await versions(d);
      const tar = readdirSync(join(d.repo.dir, "targets")).find((f) => f.endsWith(".tar"))!;
      const f = join(d.repo.dir, "targets", tar);
      const bytes = readFileSync(f);
      bytes.write("tampered by the mirror", 3_000_000);
      writeFileSync(f, bytes);
      if (alsoChunks) for (const c of readdirSync(join(d.repo.dir, "targets", "chunks"))) if (!c.endsWith(".index")) writeFileSync(join(d.repo.dir, "targets", "chunks", c), randomBytes(statSync(join(d.repo.dir, "targets", "chunks", c)).size));
      // slot a holds nothing of 1.1.0: every chunk comes from the mirror
      for (const x of readdirSync(join(d.slot("a"), "lib"))) writeFileSync(join(d.slot("a"), "lib", x), "x");
      const a = d.agent({ booted: "a", mirrors: [fetcherFor(srv.url)] });
      await a.check("poll");
      const st = a.state();
      if (!alsoChunks) {
        assert.ok(srv.requests.some((r) => r.path.endsWith(".tar") && r.range), "the target was streamed by range first");
        assert.is(st.s, "pending", JSON.stringify(st));
        assert.equal(readFileSync(join(d.slot("b"), "lib", "part2.bin")).includes("tampered by the mirror"), false);
        assert.is(readFileSync(join(d.slot("b"), "lib", "part5.bin")).toString("latin1", 700_000, 700_011), "a small fix");
      } else {
        assert.is(st.s, "failed", JSON.stringify(st));
        assert.is(st.s === "failed" && st.code, "E_OTA_HASH");
        assert.equal(existsSync(d.slot("b")) ? readdirSync(d.slot("b")) : [], [], "slot b is empty");
      }
    } finally {
      await srv.close();
      d.cleanup();
    }
  }
});

test("a link lost mid-delta: the retry resumes after the last chunk written, fetching nothing twice but the cut one", async () => {
  const d = await makeDevice();
  try {
    // every file of v2 differs from slot a here: slot a is wiped to a bare runtime, so all chunks are fetched
    await versions(d);
    for (const f of readdirSync(join(d.slot("a"), "lib"))) writeFileSync(join(d.slot("a"), "lib", f), "x");
    const inner = fetcherFor(d.repo.dir);
    const seen: string[] = [];
    let cut = false;
    const flaky: RepoFetcher = {
      name: "flaky",
      async fetch(path, max) {
        if (path.startsWith("targets/chunks/") && !path.endsWith(".index")) {
          if (seen.filter((p) => !p.endsWith(".index")).length === 12 && !cut) {
            cut = true;
            throw new RidgeError("E_OTA_FETCH", `${path}: connection lost`);
          }
          seen.push(path);
        }
        return inner.fetch(path, max);
      },
    };
    const a = d.agent({ booted: "a", mirrors: [flaky] });
    await a.check("poll");
    assert.ok(cut, "the link was cut");
    assert.is(a.state().s, "pending", JSON.stringify(a.state()));
    const counts = new Map<string, number>();
    for (const p of seen) counts.set(p, (counts.get(p) ?? 0) + 1);
    // chunks are stored once by hash; a chunk used twice in the target is fetched once per use at most
    const twice = [...counts].filter(([p, n]) => n > 1 && !p.endsWith(".index"));
    assert.ok(twice.length <= 1, `fetched again: ${twice.map(([p]) => p).join(", ")}`);
    assert.is(readFileSync(join(d.slot("b"), "lib", "part5.bin")).toString("latin1", 700_000, 700_011), "a small fix");
  } finally {
    d.cleanup();
  }
});

test("the process dies mid-stream: the next start resumes through the partial file, seeded by what the slot already holds (fetches less than what is left)", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await versions(d);
    // nothing of 1.1.0 in slot a: a fresh stream of the whole bundle
    for (const x of readdirSync(join(d.slot("a"), "lib"))) writeFileSync(join(d.slot("a"), "lib", x), "x");
    const died = new Error("power cut");
    const a = d.agent({ booted: "a", mirrors: [fetcherFor(srv.url)], crashPoint: (p) => {
      if (p === "mid-download") throw died;
    } });
    let threw: unknown;
    try {
      await a.check("poll");
    } catch (e) {
      threw = e;
    }
    assert.is(threw, died, "the stream was cut at half");
    assert.is(a.state().s, "downloading");
    const total = statSync(join(d.repo.dir, "targets", readdirSync(join(d.repo.dir, "targets")).find((f) => f.endsWith(".tar"))!)).size;
    const before = srv.requests.length;
    const b = d.agent({ booted: "a", mirrors: [fetcherFor(srv.url)] });
    await b.check("poll");
    assert.is(b.state().s, "pending", JSON.stringify(b.state()));
    const again = servedBytes(d.repo.dir, srv.requests.slice(before));
    assert.ok(again < 0.7 * total, `after the cut ${again} of ${total} bytes were fetched again`);
    assert.is(readFileSync(join(d.slot("b"), "lib", "part5.bin")).toString("latin1", 700_000, 700_011), "a small fix");
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test("publishing checks the bundle as devices would: a file that does not match its manifest is refused before anything is signed; a good one is marked bundleChecked", async () => {
  const d = await makeDevice();
  try {
    const { v2 } = await versions(d);
    const targets = d.repo.repo.published("targets")!.signed.targets as Record<string, { custom?: { chunks?: { bundleChecked?: boolean } } }>;
    assert.is(targets["runtime-sim-1.1.0.tar"]!.custom?.chunks?.bundleChecked, true);
    // same size, other bytes inside lib/part3.bin: the manifest's sha256 no longer matches
    const bad = readFileSync(v2);
    bad.write("not what the manifest hashed", 3 * 1024 * 1024 + 200_000);
    const badFile = join(d.dataDir, "..", "bad.tar");
    writeFileSync(badFile, bad);
    let code: string | undefined;
    try {
      await d.repo.repo.addTarget(badFile, "runtime-sim-1.2.0.tar", { kind: "runtime", version: "1.1.0", boards: ["sim"], arch: [ARCH] }, { chunks: true });
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    assert.is(code, "E_OTA_BUNDLE_HASH");
  } finally {
    d.cleanup();
  }
});

test("kill -9 mid-delta (real launcher, chunked repository): 0 bricked, the update completes", () => assertNoBrick(["mid-download", "state:verifying"], assert, { chunks: true }));

test.run();
