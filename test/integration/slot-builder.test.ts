// One slot builder (flash/runtime-slot.ts) behind `ridge flash` and `ridge ota bundle`:
//  - for the same board, the flashed slot a and the extracted `ridge ota bundle` hold the same
//    files: paths, modes, sizes and sha256 (and their manifests list the same);
//  - every package a slot carries loads from the slot alone with the slot's own Node: natively for
//    the host arch, arm64 under qemu-aarch64-static, riscv64 under qemu-riscv64-static; and the
//    bundle itself loads the packages it carries inside (aedes, mqtt, coap: their drivers come up);
//  - a file the builder's rules would drop (the field bug: debug's src/) fails the build.
// A missing qemu or target artifact fails this file: it never skips.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadBoard } from "../../boards/index.js";
import { buildRuntimeSlot, checkPackageFiles, deviceLayout, flashDevice, referencedExternals, EXTERNAL_PACKAGES, SHIPPED_EXTERNALS, type RuntimeSlot } from "../../flash/index.js";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { MARKER } from "../../ota/slot-marker.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { controlRequest } from "../../runtime/control/client.js";
import { freeTcpPort, freeUdpPort, startPeer, tempDir, waitFor } from "../../peers/process.js";
import { repoRoot, ridge } from "../helpers/gateway.js";
import { ARM64_SYSROOT, ensureArm64Artifacts, ensureQemu } from "../helpers/arm64.js";
import { RISCV64_BASE, ensureRiscv64Artifacts, requireQemuRiscv64 } from "../helpers/riscv64.js";
import { assertProbe, probeSlot } from "../helpers/slot-probe.js";
import { linearOnnx } from "../helpers/onnx-model.js";

const tmp = tempDir("ridge-slot-builder-");
const BOARDS = ["sim", "rpi5", "visionfive2"] as const;
const flashed: Record<string, { slotDir: string; slot: RuntimeSlot }> = {};
const bundled: Record<string, { dir: string; manifest: { files: Record<string, { size: number; sha256: string; mode: number }> } }> = {};

type Entry = { path: string; mode: number; size: number; sha256: string };
function tree(dir: string, skip: ReadonlySet<string>, base = dir, out: Entry[] = []): Entry[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const rel = p.slice(base.length + 1);
    if (skip.has(rel)) continue;
    if (e.isDirectory()) tree(p, skip, base, out);
    else {
      const st = statSync(p);
      out.push({ path: rel, mode: st.mode & 0o777, size: st.size, sha256: createHash("sha256").update(readFileSync(p)).digest("hex") });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}
const BOOKKEEPING = new Set(["ridge-bundle.json", MARKER]);

test.before(() => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  ensureArm64Artifacts();
  ensureRiscv64Artifacts();
});
test.after(() => tmp.cleanup());

test("npm run bundle leaves out exactly the packages slot-contents.json lists, and the slot ships them", () => {
  const text = readFileSync(join(repoRoot, "scripts/bundle.mjs"), "utf8");
  assert.match(text, /export const external = Object\.keys\(JSON\.parse\(readFileSync\(join\(root, "flash\/slot-contents\.json"\)/);
  const dist = readFileSync(join(repoRoot, "dist/ridge.mjs"), "utf8");
  // every shipped external is left as a bare import in the bundle (so esbuild got the list) ...
  assert.equal(referencedExternals(dist), [...SHIPPED_EXTERNALS]);
  assert.ok(EXTERNAL_PACKAGES.includes("@serialport/*"));
  // ... and the other packages are inside it
  for (const name of ["aedes", "mqtt", "coap", "yaml", "zod", "pino"]) assert.not.match(dist, new RegExp(`(?:from|require\\(|import\\()\\s*["']${name}["']`), `${name} is inside the bundle`);
});

for (const name of BOARDS) {
  test(`${name}: the flashed slot and the extracted \`ridge ota bundle\` are the same files (paths, modes, sizes, sha256)`, async () => {
    const board = loadBoard(name);
    const root = join(tmp.dir, `root-${name}`);
    mkdirSync(root);
    const { plan } = flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, gatewayId: `gw-${name}` });
    const slotDir = join(root, deviceLayout(board).slotA);
    flashed[name] = { slotDir, slot: plan.slot };

    const out = join(tmp.dir, `${name}.tar`);
    const r = await ridge(["ota", "bundle", "--board", name, "--out", out], {}, 120_000);
    assert.is(r.code, 0, r.stderr);
    const dir = join(tmp.dir, `bundle-${name}`);
    const x = new BundleExtractor(dir);
    x.push(readFileSync(out));
    const manifest = x.finish();
    bundled[name] = { dir, manifest };

    const a = tree(slotDir, BOOKKEEPING);
    const b = tree(dir, BOOKKEEPING);
    assert.ok(a.length > 100, `${a.length} files`);
    assert.equal(b, a);
    const flashManifest = JSON.parse(readFileSync(join(slotDir, "ridge-bundle.json"), "utf8")) as { files: unknown };
    assert.equal(manifest.files, flashManifest.files, "the two manifests list the same files");
    assert.is(Boolean(plan.slot.node), !board.hostArch, "real boards carry Node on both paths");
    console.log(`  ${name} (${board.arch}): ${a.length} files, ${(a.reduce((n, f) => n + f.size, 0) / 2 ** 20).toFixed(1)} MiB`);
  });
}

test("every package loads from each slot with the slot's own Node: host natively, arm64 and riscv64 under qemu (flashed and OTA-extracted)", () => {
  const qemuArm = ensureQemu();
  if (!qemuArm) throw new Error("qemu-aarch64-static is missing: the arm64 load check cannot run");
  const qemuRv = requireQemuRiscv64();
  for (const name of BOARDS) {
    const board = loadBoard(name);
    const { slotDir, slot } = flashed[name]!;
    for (const dir of [slotDir, bundled[name]!.dir]) {
      const node = join(dir, "node/bin/node");
      const runner = board.hostArch ? [process.execPath] : board.arch === "arm64" ? [qemuArm, "-L", ARM64_SYSROOT, node] : [qemuRv, "-L", RISCV64_BASE, node];
      // natively, onnxruntime-web also loads its WASM build and scores a model
      const res = probeSlot(dir, slot.packages, runner, board.hostArch ? { model: linearOnnx([0.5, -1], 0.25) } : {});
      assert.is(res.arch, board.arch, `${name}: ${dir}`);
      assert.equal(assertProbe(res, slot.packages), [], `${name}: ${dir}`);
      if (board.hostArch) assert.is(res.imported["onnxruntime-web"], "scored 0.25");
    }
  }
});

test("the bundle loads what it carries inside: aedes, mqtt and coap drivers come up in the extracted sim slot", async () => {
  const dir = bundled.sim!.dir;
  const data = join(tmp.dir, "sim-data");
  const mqttPort = await freeTcpPort();
  const cfg = join(tmp.dir, "peers.yaml");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(
    cfg,
    `gateway: { id: slot-peers }
drivers:
  - mqtt: { name: site, listen: "127.0.0.1:${mqttPort}", allowAnonymous: true }
  - mqtt: { name: up, broker: client, client: { url: "mqtt://127.0.0.1:${mqttPort}" } }
  - lwm2m: { name: field, listen: "127.0.0.1:${await freeUdpPort()}" }
attest: { tpm: off }
pipeline: {}
`,
  );
  const gw = startPeer(process.execPath, [join(dir, "dist/ridge.mjs"), "run", "--board", "sim", "--config", cfg, "--data", data], { cwd: tmp.dir, env: { PATH: process.env.PATH ?? "", HOME: tmp.dir }, maxSeconds: 60 });
  try {
    await waitFor(
      "the drivers up",
      async () => {
        if (gw.child.exitCode !== null) throw new Error(`the runtime exited ${gw.child.exitCode}`);
        try {
          const s = (await controlRequest(data, "GET", "/status")).body as { components: Record<string, { state: string; connected?: boolean } & Record<string, unknown>> };
          const c = s.components;
          return c["driver:site"]?.state === "up" && c["driver:field"]?.state === "up" && /"connected":\s*true/.test(JSON.stringify(c["driver:up"] ?? {})) ? true : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
      200,
    );
  } finally {
    await gw.stop();
  }
});

test("a file the rules would drop fails the build (debug's src/, the field bug); an intact slot passes", () => {
  const slot = buildRuntimeSlot({ projectRoot: repoRoot, board: loadBoard("sim"), withNode: false });
  const files = new Set(slot.files.map((f) => f.rel));
  assert.equal(checkPackageFiles(repoRoot, slot.packages, files), []);
  const debugDirs = slot.packages.filter((p) => p.name === "debug").map((p) => p.rel);
  assert.ok(debugDirs.length >= 1);
  for (const d of debugDirs) assert.ok(files.has(`${d}/src/index.js`), `${d}/src/index.js ships`);
  const without = new Set([...files].filter((f) => !/\/debug\/src\//.test(f)));
  const problems = checkPackageFiles(repoRoot, slot.packages, without);
  assert.ok(problems.some((p) => /debug: its entry .*src\/index\.js is not in the slot/.test(p)), problems.join("\n"));
  // a JS file's relative require of a dropped file
  const noCommon = new Set([...files].filter((f) => f !== "node_modules/debug/src/common.js"));
  assert.ok(checkPackageFiles(repoRoot, slot.packages, noCommon).some((p) => /debug\/src\/node\.js loads \.\/common/.test(p) || /debug\/src\/browser\.js loads \.\/common/.test(p)));
  // C sources of native packages never ship; JS src/ always does
  assert.not.ok([...files].some((f) => /^node_modules\/better-sqlite3\/(src|deps)\//.test(f) || /\.(cc|cpp|c|h)$/.test(f)));
});

test.run();
