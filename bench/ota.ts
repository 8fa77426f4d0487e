/**
 * `npm run bench -- ota`: install a 256 MiB runtime bundle from a loopback HTTP server (python3's
 * http.server, a plain static server) with `ridge ota install` (the production bundle, built here
 * with esbuild as scripts/bundle.mjs does), against the same-run baseline: download to a file,
 * `sha256sum`, then `cp` into the slot. Target: ratio ≤ 0.7, peak RSS of the installer < 80 MB.
 * OTA_BENCH_MIB changes the size. The delta row: a 64-file runtime in slot a, a new version that
 * changes one file, published chunked; `ridge ota install` fetches only what slot a lacks (bytes
 * counted from the server's own request log), against the whole bundle's size.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { build } from "esbuild";
import { report } from "./harness.js";
import { FakeClock } from "../core/index.js";
import { BundleExtractor, TufRepository, generateSigningKey, writeBundle, writeMarker } from "../ota/index.js";
import { statSync } from "node:fs";
import { hostArch } from "../boards/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const MIB = Number(process.env.OTA_BENCH_MIB ?? 256);
const work = join(tmpdir(), `ridge-bench-ota-${process.pid}`);
mkdirSync(work, { recursive: true });

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function waitHttp(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + 10_000;
    const tryOnce = () =>
      get(url, (r) => {
        r.resume();
        resolve();
      }).on("error", () => (Date.now() > end ? reject(new Error(`${url} not up`)) : setTimeout(tryOnce, 100)));
    tryOnce();
  });
}

function download(url: string, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    get(url, (r) => {
      const w = createWriteStream(out);
      r.pipe(w);
      w.on("finish", () => resolve());
      w.on("error", reject);
    }).on("error", reject);
  });
}

/** Peak RSS (MiB) of a child, sampled from /proc every 20 ms. */
function runSampled(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; peakMiB: number; code: number | null; out: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d: Buffer) => (out += d));
    c.stderr.on("data", (d: Buffer) => (out += d));
    let peak = 0;
    const iv = setInterval(() => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${c.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        /* gone */
      }
    }, 20);
    c.on("exit", (code) => {
      clearInterval(iv);
      resolve({ ms: performance.now() - t0, peakMiB: peak, code, out });
    });
  });
}

/** One changed file of 64 (1 MiB each): the bytes a chunked update fetches, from the server's log. */
async function deltaRow(entry: string) {
  const dwork = join(work, "delta");
  const files = (v: string, edit: boolean) => {
    const dir = join(dwork, v);
    mkdirSync(join(dir, "lib"), { recursive: true });
    writeFileSync(join(dir, "ridge.mjs"), `console.log(${JSON.stringify(v)});\n`);
    const m = new Map<string, string>([["dist/ridge.mjs", join(dir, "ridge.mjs")]]);
    for (let i = 0; i < 64; i++) {
      const b = Buffer.from(seedFiles[i]!);
      if (edit && i === 17) b.write(`changed in ${v}`, 300_000);
      writeFileSync(join(dir, "lib", `m${i}.bin`), b);
      m.set(`lib/m${i}.bin`, join(dir, "lib", `m${i}.bin`));
    }
    return m;
  };
  const seedFiles = Array.from({ length: 64 }, () => randomBytes(1 << 20));
  const v1 = join(dwork, "v1.tar");
  const v2 = join(dwork, "v2.tar");
  await writeBundle(v1, { kind: "runtime", version: "1.0.0", board: "sim", arch: hostArch(), entry: "dist/ridge.mjs", files: files("1.0.0", false) });
  await writeBundle(v2, { kind: "runtime", version: "1.1.0", board: "sim", arch: hostArch(), entry: "dist/ridge.mjs", files: files("1.1.0", true) });
  const clock = new FakeClock(Date.now());
  const k = generateSigningKey("ed25519");
  const { repo } = await TufRepository.init(join(dwork, "repo"), clock, { root: { keys: [k.key], threshold: 1 } }, [k]);
  await repo.addTarget(v2, "runtime-sim-1.1.0.tar", { kind: "runtime", version: "1.1.0", boards: ["sim"], arch: [hostArch()] }, { chunks: true });
  repo.sign([k]);
  // the device: slot a runs 1.0.0
  const data = join(dwork, "data");
  const x = new BundleExtractor(join(data, "slots", "a"));
  x.push(readFileSync(v1));
  const m = x.finish();
  writeMarker(join(data, "slots", "a"), { version: "1.0.0", target: "runtime-sim-1.0.0.tar", sha256: "0".repeat(64), board: "sim", arch: hostArch(), entry: m.entry!, installedAt: new Date().toISOString() });
  const port = await freePort();
  const srv = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", join(dwork, "repo")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  srv.stderr!.on("data", (d: Buffer) => (log += d));
  try {
    await waitHttp(`http://127.0.0.1:${port}/`);
    const r = await runSampled(process.execPath, [entry, "ota", "install", `http://127.0.0.1:${port}/`, "--board", "sim", "--data", data, "--root", join(dwork, "repo", "metadata", "1.root.json")], { ...process.env, RIDGE_BOARDS_DIR: join(root, "boards") });
    if (r.code !== 0) throw new Error(`ridge ota install (delta) failed:\n${r.out}`);
    // the installer's own count of the bytes it took from the mirror (python's server logs no sizes)
    const m2 = /fetched (\d+) of (\d+) bytes/.exec(r.out);
    if (!m2) throw new Error(`no delta line from ridge ota install:\n${r.out}`);
    const fetched = Number(m2[1]);
    const whole = statSync(v2).size;
    void log;
    return { metric: "delta update: 1 of 64 files changed (ridge ota install, chunked)", value: Number(((100 * fetched) / whole).toFixed(2)), unit: "%", baseline: `whole bundle (${(whole / 1048576).toFixed(0)} MiB)`, baselineValue: 100, target: "≤ 5 %", pass: fetched <= 0.05 * whole };
  } finally {
    srv.kill("SIGTERM");
  }
}

let server: ReturnType<typeof spawn> | undefined;
try {
  // the production bundle of the CLI (scripts/bundle.mjs options), beside node_modules so externals resolve
  const outDir = join(root, "bench", ".out");
  mkdirSync(outDir, { recursive: true });
  const entry = join(outDir, "ridge-bench.mjs");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  await build({
    entryPoints: [join(root, "runtime/cli/entry.ts")],
    outfile: entry,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: ["better-sqlite3", "serialport", "@serialport/*", "onnxruntime-web", "onnxruntime-node", "cbor-extract", "bufferutil", "utf-8-validate"],
    define: { __RIDGE_VERSION__: JSON.stringify(pkg.version) },
    banner: { js: "import { createRequire as __ridgeCreateRequire } from 'node:module'; const require = __ridgeCreateRequire(import.meta.url);" },
    logLevel: "warning",
  });

  // a 256 MiB runtime bundle in a signed repository
  const payload = join(work, "payload.bin");
  const fd = openSync(payload, "w");
  const block = randomBytes(1 << 20);
  for (let i = 0; i < MIB; i++) writeSync(fd, block.map((b) => b ^ i));
  closeSync(fd);
  writeFileSync(join(work, "ridge.mjs"), "console.log('bench runtime');\n");
  const bundle = join(work, "bundle.tar");
  await writeBundle(bundle, { kind: "runtime", version: "9.0.0", board: "sim", arch: hostArch(), entry: "dist/ridge.mjs", files: new Map([["dist/ridge.mjs", join(work, "ridge.mjs")], ["data/payload.bin", payload]]) });
  rmSync(payload);
  const clock = new FakeClock(Date.now());
  const k = generateSigningKey("ed25519");
  const { repo } = await TufRepository.init(join(work, "repo"), clock, { root: { keys: [k.key], threshold: 1 } }, [k]);
  // published as `ridge ota add` does (chunk index included): a fresh install streams in one verified pass
  const added = await repo.addTarget(bundle, "runtime-sim-9.0.0.tar", { kind: "runtime", version: "9.0.0", boards: ["sim"], arch: [hostArch()] }, { chunks: true });
  repo.sign([k]);
  rmSync(bundle);
  const targetUrlPath = `targets/${added.sha256}.runtime-sim-9.0.0.tar`;

  const port = await freePort();
  server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", join(work, "repo")], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(url);

  const rows = [];
  const runs = Number(process.env.OTA_BENCH_RUNS ?? 2);
  let best = { ours: Infinity, base: Infinity, peak: 0 };
  for (let i = 0; i < runs; i++) {
    // baseline: download to a file, sha256sum, copy into the slot
    const bdir = join(work, `base-${i}`);
    mkdirSync(join(bdir, "slot"), { recursive: true });
    const t0 = performance.now();
    await download(`${url}${targetUrlPath}`, join(bdir, "bundle.tar"));
    const sum = spawnSync("sha256sum", [join(bdir, "bundle.tar")], { encoding: "utf8" });
    if (!sum.stdout.startsWith(added.sha256)) throw new Error("baseline hash mismatch");
    spawnSync("cp", [join(bdir, "bundle.tar"), join(bdir, "slot", "bundle.tar")]);
    spawnSync("sync", ["-f", join(bdir, "slot", "bundle.tar")]);
    const base = performance.now() - t0;
    rmSync(bdir, { recursive: true, force: true });

    // ours: the real CLI, streaming install into the inactive slot
    const data = join(work, `data-${i}`);
    const r = await runSampled(process.execPath, [entry, "ota", "install", url, "--board", "sim", "--data", data, "--root", join(work, "repo", "metadata", "1.root.json")], { ...process.env, RIDGE_BOARDS_DIR: join(root, "boards") });
    if (r.code !== 0) throw new Error(`ridge ota install failed:\n${r.out}`);
    rmSync(data, { recursive: true, force: true });
    best = { ours: Math.min(best.ours, r.ms), base: Math.min(best.base, base), peak: Math.max(best.peak, r.peakMiB) };
  }
  rows.push({ metric: `install ${MIB} MiB bundle (ridge ota install, best of ${runs})`, value: Math.round(best.ours), unit: "ms", baseline: "download to file + sha256sum + cp to slot", baselineValue: Math.round(best.base), target: "≤ 0.7×", pass: best.ours <= 0.7 * best.base });
  rows.push(await deltaRow(entry));
  rows.push({ metric: "installer peak RSS", value: Number(best.peak.toFixed(1)), unit: "MiB", baseline: "limit", baselineValue: 80, target: "< 80 MB", pass: best.peak < 80 });
  report("ota", rows);
} finally {
  server?.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
  rmSync(join(root, "bench", ".out"), { recursive: true, force: true });
}
