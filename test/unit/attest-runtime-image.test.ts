/**
 * What the attestation log calls "the runtime" is the code that runs: a flashed slot's manifest
 * (checked against the running bundle), an OTA slot's signed target hash, the bundle itself, or a
 * listing of every source file in a checkout; never the bin/ridge.mjs loader.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { slotManifestMeasurement } from "../../attest/index.js";
import { writeMarker } from "../../ota/index.js";
import { runtimeImage, sourceListing } from "../../runtime/attestation/runtime-image.js";

const sha = (b: string | Uint8Array) => createHash("sha256").update(b).digest("hex");
const tmp = () => mkdtempSync(join(tmpdir(), "ridge-rtimg-"));

function slot(dir: string, bundle: string, withManifest: boolean): Buffer {
  mkdirSync(join(dir, "dist"), { recursive: true });
  writeFileSync(join(dir, "dist/ridge.mjs"), bundle);
  const manifest = Buffer.from(JSON.stringify({ format: "ridge-bundle/1", kind: "runtime", version: "1.2.3", board: "sim", arch: "x64", entry: "dist/ridge.mjs", files: { "dist/ridge.mjs": { size: bundle.length, sha256: sha(bundle), mode: 0o644 } }, links: {} }));
  if (withManifest) writeFileSync(join(dir, "ridge-bundle.json"), manifest);
  writeMarker(dir, { version: "1.2.3", target: "runtime-1.2.3.bundle", sha256: "ab".repeat(32), board: "sim", arch: "x64", entry: "dist/ridge.mjs", installedAt: "2026-12-04T00:00:00Z" });
  return manifest;
}

function withSlotEnv<T>(v: string | undefined, f: () => T): T {
  const old = process.env.RIDGE_SLOT;
  if (v === undefined) delete process.env.RIDGE_SLOT;
  else process.env.RIDGE_SLOT = v;
  try {
    return f();
  } finally {
    if (old === undefined) delete process.env.RIDGE_SLOT;
    else process.env.RIDGE_SLOT = old;
  }
}

test("a source checkout measures every source file, not the loader; an edit anywhere changes it", () => {
  const img = withSlotEnv(undefined, () => runtimeImage({ board: { slots: { a: "slots/a", b: "slots/b" } }, dataDir: "/nonexistent" }));
  assert.match(img.description, /^source checkout .*: \d+ source files/);
  const listing = new TextDecoder().decode(img.data);
  assert.match(listing, /  runtime\/attestation\/runtime-image\.ts\n/);
  assert.match(listing, /  core\/index\.ts\n/);
  assert.not.match(listing, /  (test|bench|node_modules)\//);
  const root = tmp();
  try {
    mkdirSync(join(root, "core"));
    mkdirSync(join(root, "test"));
    writeFileSync(join(root, "core/a.ts"), "export const a = 1;\n");
    writeFileSync(join(root, "test/x.test.ts"), "ignored");
    const before = sourceListing(root);
    assert.is(before.files, 1);
    assert.is(before.listing, `${sha("export const a = 1;\n")}  core/a.ts\n`);
    writeFileSync(join(root, "core/a.ts"), "export const a = 2;\n");
    assert.is.not(sourceListing(root).listing, before.listing);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the bundle outside a slot is measured as its bytes", () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, "ridge.mjs"), "console.log(1)");
    const img = withSlotEnv(undefined, () => runtimeImage({ board: { slots: { a: "a", b: "b" } }, dataDir: dir }, join(dir, "ridge.mjs")));
    assert.is(new TextDecoder().decode(img.data), "console.log(1)");
    assert.match(img.description, /^bundle /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a flashed slot is measured as its manifest, checked against the running bundle; an edited bundle is not the manifest's", () => {
  const data = tmp();
  try {
    const dir = join(data, "slots/a");
    const manifest = slot(dir, "the bundle", true);
    const board = { slots: { a: "slots/a", b: "slots/b" } };
    const img = withSlotEnv("a", () => runtimeImage({ board, dataDir: data }, join(dir, "dist/ridge.mjs")));
    const want = slotManifestMeasurement("a", new Uint8Array(manifest), "dist/ridge.mjs");
    assert.is(img.description, want.description);
    assert.equal(Buffer.from(img.data), manifest);
    assert.is(img.version, "1.2.3");
    // found from the running file even when the board's slot path is elsewhere (a root not mounted at /)
    const moved = withSlotEnv("a", () => runtimeImage({ board: { slots: { a: "/nowhere/a", b: "/nowhere/b" } }, dataDir: data }, join(dir, "dist/ridge.mjs")));
    assert.is(moved.description, want.description);
    writeFileSync(join(dir, "dist/ridge.mjs"), "the bundle, patched");
    const edited = withSlotEnv("a", () => runtimeImage({ board, dataDir: data }, join(dir, "dist/ridge.mjs")));
    assert.match(edited.description, /does not match the slot manifest/);
    assert.is.not(sha(edited.data), sha(img.data));
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test("an OTA-installed slot is measured as its signed target hash, as the commit measured it", () => {
  const data = tmp();
  try {
    const dir = join(data, "slots/b");
    slot(dir, "the bundle", false);
    const img = withSlotEnv("b", () => runtimeImage({ board: { slots: { a: "slots/a", b: "slots/b" } }, dataDir: data }, join(dir, "dist/ridge.mjs")));
    assert.equal(Buffer.from(img.data), Buffer.from("ab".repeat(32), "hex"));
    assert.match(img.description, /^slot b: installed target runtime-1\.2\.3\.bundle/);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test.run();
