// Bundle format: ustar round trips, chunk-split parsing, and one test per extraction rule (each
// with its own error code), on hand-made hostile archives.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { writeBundle } from "../../ota/bundle-writer.js";
import { TarReader, encodeHeader, type TarEvent } from "../../ota/tar-codec.js";
import { errorCode } from "../../core/index.js";
import { tempDir } from "../../peers/process.js";
import { bundle, manifestFor, pax, tar } from "../helpers/ota-tar.js";
import { MANIFEST_NAME } from "../../ota/bundle-manifest.js";

const enc = (s: string) => new TextEncoder().encode(s);

function extract(archive: Uint8Array, chunk = 700): { code: string | undefined; dir: string; cleanup(): void } {
  const t = tempDir("ridge-ota-bundle-");
  const slot = join(t.dir, "slot");
  const x = new BundleExtractor(slot);
  try {
    for (let i = 0; i < archive.length; i += chunk) x.push(archive.subarray(i, i + chunk));
    x.finish();
    return { code: undefined, dir: slot, cleanup: t.cleanup };
  } catch (e) {
    x.abort();
    return { code: errorCode(e), dir: slot, cleanup: t.cleanup };
  }
}

function expectCode(archive: Uint8Array, code: string, dirCheck?: (dir: string) => void) {
  const r = extract(archive);
  try {
    assert.is(r.code, code);
    dirCheck?.(r.dir);
  } finally {
    r.cleanup();
  }
}

test("round trip: writeBundle → extract gives the same files, modes and links", async () => {
  const t = tempDir();
  try {
    const src = join(t.dir, "src");
    mkdirSync(join(src, "dist"), { recursive: true });
    writeFileSync(join(src, "dist", "ridge.mjs"), "console.log(1)\n");
    writeFileSync(join(src, "big.bin"), Buffer.alloc(300_001, 7));
    const long = `${"d".repeat(90)}/${"e".repeat(60)}/file.txt`;
    writeFileSync(join(src, "long.txt"), "long");
    const out = join(t.dir, "b.tar");
    const m = await writeBundle(out, {
      kind: "runtime",
      version: "2.0.0",
      board: "sim",
      arch: "x64",
      entry: "dist/ridge.mjs",
      files: new Map([["dist/ridge.mjs", join(src, "dist", "ridge.mjs")], ["data/big.bin", join(src, "big.bin")], [long, join(src, "long.txt")]]),
      symlinks: new Map([["current", "dist"]]),
    });
    assert.is(m.files["data/big.bin"]!.size, 300_001);
    const r = extract(new Uint8Array(readFileSync(out)), 4096);
    try {
      assert.is(r.code, undefined);
      assert.is(readFileSync(join(r.dir, "dist", "ridge.mjs"), "utf8"), "console.log(1)\n");
      assert.is(readFileSync(join(r.dir, "data", "big.bin")).length, 300_001);
      assert.is(readFileSync(join(r.dir, long), "utf8"), "long");
      assert.ok(lstatSync(join(r.dir, "current")).isSymbolicLink());
    } finally {
      r.cleanup();
    }
  } finally {
    t.cleanup();
  }
});

test("tar reader: the same events whatever the chunking (property)", () => {
  const archive = tar([{ path: "a", data: enc("hello") }, { path: "dir/", type: "directory" }, { path: "dir/b", data: new Uint8Array(1500).fill(3) }]);
  const flat = (chunks: Uint8Array[]) => {
    const r = new TarReader();
    const evs: string[] = [];
    let bytes = 0;
    for (const c of chunks)
      for (const e of r.push(c) as TarEvent[]) {
        if (e.kind === "data") bytes += e.chunk.length;
        else evs.push(e.kind === "entry" ? `${e.entry.type}:${e.entry.path}:${e.entry.size}` : e.kind);
      }
    r.finish();
    return `${evs.join(",")}|${bytes}`;
  };
  const whole = flat([archive]);
  assert.is(whole, "file:a:5,entry-end,directory:dir/:0,entry-end,file:dir/b:1500,entry-end,end|1505");
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: archive.length - 1 }), { maxLength: 12 }), (cuts) => {
      const pts = [0, ...[...new Set(cuts)].sort((a, b) => a - b), archive.length];
      const chunks = pts.slice(1).map((p, i) => archive.subarray(pts[i]!, p));
      return flat(chunks) === whole;
    }),
    { numRuns: 200 },
  );
});

test("tar reader fuzz: random bytes end in a RidgeError code, never a TypeError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), (b) => {
      const r = new TarReader();
      try {
        r.push(b);
        r.finish();
      } catch (e) {
        return errorCode(e).startsWith("E_OTA_BUNDLE_");
      }
      return true;
    }),
    { numRuns: 300 },
  );
});

test("E_OTA_BUNDLE_ABSOLUTE: an absolute path", () => {
  expectCode(bundle({ a: enc("x") }, { entries: [{ path: "/etc/passwd", data: enc("x") }] }), "E_OTA_BUNDLE_ABSOLUTE");
});

test("E_OTA_BUNDLE_DOTDOT: a '..' component, also when hidden in a pax path or a ustar prefix", () => {
  expectCode(bundle({ a: enc("x") }, { entries: [{ path: "a/../../x", data: enc("x") }] }), "E_OTA_BUNDLE_DOTDOT");
  expectCode(bundle({ a: enc("x") }, { entries: [pax({ path: "../../escape" }), { path: "a", data: enc("x") }] }), "E_OTA_BUNDLE_DOTDOT", (dir) => assert.not.ok(existsSync(join(dir, "..", "..", "escape"))));
  expectCode(bundle({ a: enc("x") }, { entries: [{ path: `../${"p".repeat(110)}/x`, data: enc("x") }] }), "E_OTA_BUNDLE_DOTDOT");
});

test("E_OTA_BUNDLE_LINK_ESCAPE: symlinks and hard links leaving the slot, and writes through a symlink", () => {
  expectCode(bundle({}, { links: { l: "../../etc" }, entries: [{ path: "l", type: "symlink", linkname: "../../etc" }] }), "E_OTA_BUNDLE_LINK_ESCAPE");
  expectCode(bundle({}, { links: { l: "/etc" }, entries: [{ path: "l", type: "symlink", linkname: "/etc" }] }), "E_OTA_BUNDLE_LINK_ESCAPE");
  expectCode(bundle({ a: enc("x") }, { links: { h: "../outside" }, entries: [{ path: "a", data: enc("x") }, { path: "h", type: "hardlink", linkname: "../outside" }] }), "E_OTA_BUNDLE_LINK_ESCAPE");
  expectCode(bundle({}, { links: { h: "/etc/shadow" }, entries: [{ path: "h", type: "hardlink", linkname: "/etc/shadow" }] }), "E_OTA_BUNDLE_LINK_ESCAPE");
  // a symlink to "." inside the slot, then a path through it
  expectCode(bundle({ "d/x": enc("x") }, { links: { d: "." }, entries: [{ path: "d", type: "symlink", linkname: "." }, { path: "d/x", data: enc("x") }] }), "E_OTA_BUNDLE_LINK_ESCAPE");
});

test("E_OTA_BUNDLE_DEVICE: character, block devices and FIFOs", () => {
  for (const type of ["char", "block", "fifo"] as const) expectCode(bundle({}, { entries: [{ path: "dev", type }] }), "E_OTA_BUNDLE_DEVICE");
});

test("E_OTA_BUNDLE_OVERSIZE: an entry larger than the manifest says, refused before writing", () => {
  expectCode(bundle({ a: enc("abc") }, { entries: [{ path: "a", data: enc("abcdef") }] }), "E_OTA_BUNDLE_OVERSIZE", (dir) => assert.not.ok(existsSync(join(dir, "a"))));
});

test("E_OTA_BUNDLE_UNLISTED, _HASH, _MISSING, _DUPLICATE, _MANIFEST", () => {
  expectCode(bundle({ a: enc("abc") }, { entries: [{ path: "a", data: enc("abc") }, { path: "b", data: enc("b") }] }), "E_OTA_BUNDLE_UNLISTED");
  expectCode(bundle({}, { entries: [{ path: "l", type: "symlink", linkname: "x" }] }), "E_OTA_BUNDLE_UNLISTED");
  expectCode(bundle({ a: enc("abc") }, { entries: [{ path: "a", data: enc("abd") }] }), "E_OTA_BUNDLE_HASH");
  expectCode(bundle({ a: enc("abc"), b: enc("b") }, { entries: [{ path: "a", data: enc("abc") }] }), "E_OTA_BUNDLE_MISSING");
  expectCode(bundle({ a: enc("abc") }, { entries: [{ path: "a", data: enc("abc") }, { path: "./a", data: enc("abc") }] }), "E_OTA_BUNDLE_DUPLICATE");
  expectCode(tar([{ path: "a", data: enc("x") }]), "E_OTA_BUNDLE_MANIFEST");
  expectCode(tar([{ path: MANIFEST_NAME, data: enc("{not json") }]), "E_OTA_BUNDLE_MANIFEST");
  expectCode(tar([{ path: MANIFEST_NAME, data: manifestFor({ "../x": enc("x") }) }]), "E_OTA_MANIFEST_PATH");
});

test("E_OTA_BUNDLE_TRUNCATED and E_OTA_BUNDLE_HEADER: cut archives and corrupted headers", () => {
  const good = bundle({ a: enc("abc") });
  expectCode(good.subarray(0, good.length - 1024), "E_OTA_BUNDLE_TRUNCATED");
  expectCode(good.subarray(0, 700), "E_OTA_BUNDLE_TRUNCATED");
  const h = encodeHeader({ path: "a", type: "file", mode: 0o644, size: 3, linkname: "", mtime: 0 });
  h[0] = "b".charCodeAt(0);
  expectCode(bundle({ a: enc("abc") }, { entries: [{ path: "a", header: h, data: enc("abc") }] }), "E_OTA_BUNDLE_HEADER");
});

test.run();
