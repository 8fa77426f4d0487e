/**
 * Loads every package a built runtime slot carries, from the slot alone, in a child process run by
 * the slot's own Node (natively, or under qemu for another arch): `require.resolve` of each
 * package's entry from where Node would look for it, and a real import of the external packages
 * (better-sqlite3 opens a database, serialport loads its native binding, onnxruntime-web loads and,
 * when asked, scores a model). A file the slot builder dropped fails here, not on a gateway.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SlotPackage } from "../../flash/index.js";
import { repoRoot } from "./gateway.js";

const PROBE = `// written by test/helpers/slot-probe.ts
import { createRequire } from "node:module";
import { join } from "node:path";
const slot = new URL(".", import.meta.url).pathname;
const { packages, score } = JSON.parse(process.argv[2]);
const out = { arch: process.arch, node: process.version, resolved: {}, failed: {}, imported: {} };
for (const p of packages) {
  // from the folder holding the node_modules it sits in, as the requiring package would
  const parent = p.rel.slice(0, p.rel.lastIndexOf("node_modules/" + p.name));
  try {
    out.resolved[p.rel] = createRequire(join(slot, parent, "probe.cjs")).resolve(p.name).slice(slot.length);
  } catch (e) {
    out.failed[p.rel] = e.code + ": " + e.message.split("\\n")[0];
  }
}
const Database = (await import("better-sqlite3")).default;
const db = new Database(":memory:");
out.imported["better-sqlite3"] = db.prepare("select sqlite_version() as v").get().v;
db.close();
const sp = await import("serialport");
out.imported.serialport = typeof sp.SerialPort === "function" && typeof sp.SerialPort.list === "function" ? "SerialPort" : "?";
const bindings = await import("@serialport/bindings-cpp");
out.imported["@serialport/bindings-cpp"] = typeof bindings.autoDetect().open === "function" ? "native binding" : "?";
const ort = await import("onnxruntime-web");
out.imported["onnxruntime-web"] = typeof ort.InferenceSession.create === "function" ? "InferenceSession" : "?";
if (score) {
  const { readFileSync } = await import("node:fs");
  ort.env.wasm.numThreads = 1;
  const s = await ort.InferenceSession.create(readFileSync(join(slot, "probe-model.onnx")), { executionProviders: ["wasm"] });
  const r = await s.run({ x: new ort.Tensor("float32", Float32Array.from([2, 1]), [1, 2]) });
  out.imported["onnxruntime-web"] = "scored " + Array.from(r.y.data).join(",");
}
console.log(JSON.stringify(out));
`;

export interface ProbeResult {
  arch: string;
  node: string;
  resolved: Record<string, string>;
  failed: Record<string, string>;
  imported: Record<string, string>;
}

/** The packages whose files slot-contents.json trims to a few (their require entry is left out on purpose). */
export function trimmedPackages(): Set<string> {
  const c = JSON.parse(readFileSync(join(repoRoot, "flash/slot-contents.json"), "utf8")) as { external: Record<string, { keepOnly?: string[] }> };
  return new Set(Object.entries(c.external).filter(([, r]) => r.keepOnly).map(([n]) => n));
}

/**
 * Runs the probe in `slotDir` with `runner` (e.g. [qemu, "-L", sysroot, slot/node/bin/node], or
 * [process.execPath]). `model` (ONNX bytes) makes onnxruntime-web score it.
 */
export function probeSlot(slotDir: string, packages: readonly SlotPackage[], runner: readonly string[], opts: { model?: Uint8Array; timeoutMs?: number } = {}): ProbeResult {
  writeFileSync(join(slotDir, "probe-load.mjs"), PROBE);
  if (opts.model) writeFileSync(join(slotDir, "probe-model.onnx"), opts.model);
  const arg = JSON.stringify({ packages: packages.map((p) => ({ name: p.name, rel: p.rel })), score: opts.model !== undefined });
  const [cmd, ...pre] = runner;
  // a clean environment: nothing from the source tree (NODE_PATH, NODE_OPTIONS with tsx) reaches the slot
  let r;
  try {
    r = spawnSync(cmd!, [...pre, join(slotDir, "probe-load.mjs"), arg], { cwd: slotDir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: slotDir }, encoding: "utf8", timeout: opts.timeoutMs ?? 120_000 });
  } finally {
    rmSync(join(slotDir, "probe-load.mjs"), { force: true });
    rmSync(join(slotDir, "probe-model.onnx"), { force: true });
  }
  if (r.status !== 0) throw new Error(`the slot's packages do not load (${r.status ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as ProbeResult;
}

/** Every package resolved (trimmed ones excepted: they must import instead), every external imported. */
export function assertProbe(res: ProbeResult, packages: readonly SlotPackage[]): string[] {
  const trimmed = trimmedPackages();
  const problems: string[] = [];
  for (const p of packages) if (!res.resolved[p.rel] && !trimmed.has(p.name)) problems.push(`${p.rel}: ${res.failed[p.rel]}`);
  for (const name of ["better-sqlite3", "serialport", "@serialport/bindings-cpp", "onnxruntime-web"]) if (!res.imported[name] || res.imported[name] === "?") problems.push(`${name} did not import`);
  return problems;
}
