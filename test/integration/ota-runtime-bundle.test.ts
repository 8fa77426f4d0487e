// The runtime bundle `ridge ota bundle` builds (the flash slot, flash/runtime-slot.ts) runs on its own once extracted into a slot: the
// CLI starts, better-sqlite3's native addon loads and onnxruntime-web scores a model, all
// resolved from the slot's own node_modules (nothing from the source tree).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadBoard } from "../../boards/index.js";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { buildRuntimeSlot } from "../../flash/index.js";
import { writeSlotBundle } from "../../runtime/cli/commands/ota.js";
import { linearOnnx } from "../helpers/onnx-model.js";
import { tempDir } from "../../peers/process.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("an extracted sim bundle runs: ridge --version, better-sqlite3, onnxruntime-web", async () => {
  const b = spawnSync(process.execPath, [join(ROOT, "scripts/bundle.mjs"), "--if-stale"], { cwd: ROOT, encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const t = tempDir("ridge-ota-rtb-");
  try {
    const out = join(t.dir, "b.tar");
    const board = loadBoard("sim");
    const m = await writeSlotBundle(buildRuntimeSlot({ projectRoot: ROOT, board, withNode: false, version: "3.2.1" }), board, out);
    const total = Object.values(m.files).reduce((a, f) => a + f.size, 0);
    assert.ok(total < 64 * 2 ** 20, `bundle unpacks to ${total} bytes`);
    const slot = join(t.dir, "slot");
    const x = new BundleExtractor(slot);
    x.push(readFileSync(out));
    x.finish();
    const env = { PATH: process.env.PATH ?? "", HOME: t.dir };
    const v = spawnSync(process.execPath, [join(slot, "dist", "ridge.mjs"), "--version"], { cwd: t.dir, env, encoding: "utf8" });
    assert.is(v.status, 0, v.stderr);
    assert.match(v.stdout, /\d+\.\d+\.\d+/);
    writeFileSync(join(slot, "model.onnx"), linearOnnx([0.5, -1], 0.25));
    writeFileSync(
      join(slot, "probe.mjs"),
      `import Database from "better-sqlite3";
import * as ort from "onnxruntime-web";
import { readFileSync } from "node:fs";
const db = new Database(":memory:");
const one = db.prepare("select 1 as x").get().x;
ort.env.wasm.numThreads = 1;
const s = await ort.InferenceSession.create(readFileSync(new URL("./model.onnx", import.meta.url)), { executionProviders: ["wasm"] });
const r = await s.run({ x: new ort.Tensor("float32", Float32Array.from([2, 1]), [1, 2]) });
console.log(JSON.stringify({ one, y: Array.from(r.y.data) }));
`,
    );
    const p = spawnSync(process.execPath, [join(slot, "probe.mjs")], { cwd: t.dir, env, encoding: "utf8", timeout: 60_000 });
    assert.is(p.status, 0, p.stderr);
    const got = JSON.parse(p.stdout.trim().split("\n").pop()!) as { one: number; y: number[] };
    assert.is(got.one, 1);
    assert.ok(Math.abs(got.y[0]! - 0.25) < 1e-6, JSON.stringify(got));
  } finally {
    t.cleanup();
  }
});

test.run();
