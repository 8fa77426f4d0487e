// Issue 16 item 3: every path in a manifest must be one normalised relative path inside the slot.
// fast-check takes a good path and breaks it one way (absolute, `//`, trailing `/`, a `.` or `..`
// part anywhere, a backslash, a NUL, empty, a drive prefix, a name the slot reserves), or a link
// target (absolute, climbing out, `..` after a name, empty, `//`, `.`), in each field: the bundle
// manifest's `entry`, a `files` key, a `links` key, a `links` target, and the slot marker's `entry`.
// Properties: the bundle is refused while its manifest is read (before any other entry is looked
// at) with E_OTA_MANIFEST_PATH (E_OTA_BUNDLE_LINK_ESCAPE for a link target that leaves the slot)
// naming the field and the value, and the slot is empty; through the update agent, the install
// fails the same way, the slot holds nothing and the boot order is untouched; a marker edited
// after install never makes the launcher start anything outside the slot.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BundleExtractor } from "../../ota/bundle-extractor.js";
import { DirectoryFetcher } from "../../ota/repo-fetchers.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import { chooseLaunch, type LauncherOptions } from "../../ota/launcher.js";
import { MARKER, readSlotManifest, writeMarker } from "../../ota/slot-marker.js";
import { MANIFEST_NAME } from "../../ota/bundle-manifest.js";
import { errorCode } from "../../core/index.js";
import { FakeClock } from "../../core/clock.js";
import { silentLogger } from "../../core/log.js";
import { tempDir } from "../../peers/process.js";
import { firstEntryBytes, manifestFor, tar } from "../helpers/ota-tar.js";
import { ARCH, makeDevice } from "../helpers/ota-device.js";
import { runtimeCustom } from "../helpers/ota-repo.js";

const outer = tempDir("ridge-ota-manifest-paths-");
test.after(() => outer.cleanup());
const enc = (s: string) => new TextEncoder().encode(s);

const segment = fc.stringMatching(/^[a-z][a-z0-9._-]{0,5}$/).filter((s) => s !== "." && s !== "..");
const goodPath = fc.array(segment, { minLength: 1, maxLength: 4 });

/** A good path broken in one way the spec names. */
const badPath: fc.Arbitrary<string> = fc.oneof(
  goodPath.map((p) => `/${p.join("/")}`),
  goodPath.map((p) => `${p.join("/")}/`),
  fc.tuple(goodPath, fc.nat()).map(([p, i]) => [...p.slice(0, (i % p.length) + 1), "", ...p.slice((i % p.length) + 1)].join("/")),
  fc.tuple(goodPath, fc.nat(), fc.constantFrom(".", "..")).map(([p, i, d]) => [...p.slice(0, i % (p.length + 1)), d, ...p.slice(i % (p.length + 1))].join("/")),
  fc.tuple(goodPath, fc.nat(), fc.constantFrom("\\", "\0")).map(([p, i, c]) => p.map((s, j) => (j === i % p.length ? `${s}${c}x` : s)).join("/")),
  goodPath.map((p) => `C:/${p.join("/")}`),
  fc.constantFrom("", ".", "..", "./", "/", MARKER, `${MARKER}.tmp`, MANIFEST_NAME, "../a/dist/ridge.mjs", "./dist/ridge.mjs", "dist//ridge.mjs"),
);

/** A link target (of a link at depth `depth`) that is not normalised or leaves the slot, with the code it must get. */
const badTarget = (depth: number): fc.Arbitrary<{ t: string; code: string }> =>
  fc.oneof(
    goodPath.map((p) => ({ t: `/${p.join("/")}`, code: "E_OTA_BUNDLE_LINK_ESCAPE" })),
    fc.tuple(fc.integer({ min: depth + 1, max: depth + 3 }), goodPath).map(([n, p]) => ({ t: `${"../".repeat(n)}${p.join("/")}`, code: "E_OTA_BUNDLE_LINK_ESCAPE" })),
    fc.tuple(goodPath, fc.integer({ min: 1, max: 3 })).map(([p, n]) => ({ t: `${p.join("/")}${"/..".repeat(n)}`, code: "E_OTA_MANIFEST_PATH" })),
    goodPath.map((p) => ({ t: `./${p.join("/")}`, code: "E_OTA_MANIFEST_PATH" })),
    goodPath.map((p) => ({ t: `${p.join("/")}/`, code: "E_OTA_MANIFEST_PATH" })),
    goodPath.map((p) => ({ t: p.join("//"), code: p.length > 1 ? "E_OTA_MANIFEST_PATH" : "ok" })).filter((x) => x.code !== "ok"),
    fc.tuple(goodPath, fc.constantFrom("\\", "\0")).map(([p, c]) => ({ t: `${p.join("/")}${c}`, code: "E_OTA_MANIFEST_PATH" })),
    fc.constant({ t: "", code: "E_OTA_MANIFEST_PATH" }),
  );

type Field = "entry" | "files" | "links-key" | "links-target";

/** A bundle whose manifest holds `bad` in `field`, followed by good entries (never reached). */
function hostile(field: Field, bad: string): Uint8Array {
  const good = { "dist/ridge.mjs": enc("run()\n"), "lib/x.js": enc("x") };
  const files: Record<string, Uint8Array> = field === "files" ? { ...good, [bad]: enc("evil") } : good;
  const links: Record<string, string> = field === "links-key" ? { [bad]: "lib" } : field === "links-target" ? { "deep/dir/l": bad } : {};
  const over = field === "entry" ? { entry: bad } : {};
  const entries = Object.entries(good).map(([path, data]) => ({ path, data }));
  return tar([{ path: MANIFEST_NAME, data: manifestFor(files, links, over) }, ...entries]);
}

function refusedAtManifest(archive: Uint8Array): { code: string; message: string; left: string[] } {
  const slot = join(mkdtempSync(join(outer.dir, "x-")), "slot");
  const x = new BundleExtractor(slot);
  let code = "accepted";
  let message = "";
  try {
    // Only the manifest's bytes: the refusal must come before anything else is read or written.
    x.push(archive.subarray(0, firstEntryBytes(archive)));
  } catch (e) {
    code = errorCode(e);
    message = e instanceof Error ? e.message : String(e);
  }
  return { code, message, left: readdirSync(slot) };
}

for (const field of ["entry", "files", "links-key"] as const) {
  test(`bundle manifest ${field}: a broken path is refused with E_OTA_MANIFEST_PATH naming the field and value, before anything is written (property)`, () => {
    fc.assert(
      fc.property(badPath, (bad) => {
        const r = refusedAtManifest(hostile(field, bad));
        assert.is(r.code, "E_OTA_MANIFEST_PATH", `${JSON.stringify(bad)}: ${r.message}`);
        assert.ok(r.message.includes(JSON.stringify(bad)), `names the value: ${r.message}`);
        assert.ok(r.message.includes(field === "entry" ? "entry" : field === "files" ? "files[" : "links["), `names the field: ${r.message}`);
        assert.equal(r.left, []);
      }),
      { numRuns: 150 },
    );
  });
}

test("bundle manifest links target: not normalised (E_OTA_MANIFEST_PATH) or leaving the slot (E_OTA_BUNDLE_LINK_ESCAPE), before anything is written (property)", () => {
  fc.assert(
    fc.property(badTarget(2), ({ t, code }) => {
      const r = refusedAtManifest(hostile("links-target", t));
      assert.is(r.code, code, `${JSON.stringify(t)}: ${r.message}`);
      assert.ok(r.message.includes(JSON.stringify(t)) && r.message.includes('links["deep/dir/l"]'), r.message);
      assert.equal(r.left, []);
    }),
    { numRuns: 150 },
  );
});

function launcherFor(dir: string): { o: LauncherOptions; slot(s: "a" | "b"): string; bc: FileBootControl } {
  const slot = (s: "a" | "b") => join(dir, "slots", s);
  for (const s of ["a", "b"] as const) {
    mkdirSync(join(slot(s), "dist"), { recursive: true });
    writeFileSync(join(slot(s), "dist", "ridge.mjs"), "");
    writeMarker(slot(s), { version: "1.0.0", target: "t", sha256: "0".repeat(64), board: "sim", arch: "x64", entry: "dist/ridge.mjs", installedAt: "" });
  }
  const bc = new FileBootControl({ file: join(dir, "bootctl.json"), attempts: 3 });
  return { o: { bootControl: bc, slotDir: slot, args: [], clock: new FakeClock(), log: silentLogger }, slot, bc };
}

test("slot marker edited after install: a broken entry, or one reached through a link, is refused by readSlotManifest and the launcher starts nothing outside the slot (property)", () => {
  fc.assert(
    fc.property(fc.oneof(badPath.map((p) => ({ entry: p, link: false })), fc.constant({ entry: "out/ridge.mjs", link: true }), fc.constant({ entry: "dist", link: false })), ({ entry, link }) => {
      const dir = mkdtempSync(join(outer.dir, "l-"));
      const { o, slot, bc } = launcherFor(dir);
      // the attack: slot b (first in the order) names a file of slot a, or one behind a link
      mkdirSync(join(dir, "elsewhere"));
      writeFileSync(join(dir, "elsewhere", "ridge.mjs"), "");
      if (link) symlinkSync(join(dir, "elsewhere"), join(slot("b"), "out"));
      bc.markPending("b", 3);
      const m = JSON.parse(JSON.stringify({ version: "2.0.0", target: "t", sha256: "0".repeat(64), board: "sim", arch: "x64", entry, installedAt: "" })) as Record<string, string>;
      writeFileSync(join(slot("b"), MARKER), JSON.stringify(m));
      const r = readSlotManifest(slot("b"));
      assert.not.ok(r.ok, `${JSON.stringify(entry)} accepted`);
      if (!r.ok) assert.ok(r.code === "E_OTA_MANIFEST_PATH" || r.code === "E_OTA_SLOT_MARKER", r.code);
      const c = chooseLaunch(o);
      assert.is(c?.slot, "a");
      assert.is(c?.entry, join(slot("a"), "dist", "ridge.mjs"));
    }),
    { numRuns: 30 },
  );
});

test("through the update agent: a signed bundle whose manifest entry leaves the slot fails to install, slot b stays empty, the boot order is untouched (property)", async () => {
  const d = await makeDevice();
  try {
    const bc = () => new FileBootControl({ file: d.bootFile, attempts: 3 });
    const samples = fc.sample(badPath, { numRuns: 2, seed: 16 });
    samples.unshift("../a/dist/ridge.mjs");
    let version = 1;
    for (const bad of samples) {
      const v = `1.${version++}.0`;
      const archive = tar([{ path: MANIFEST_NAME, data: manifestFor({ "dist/ridge.mjs": enc("run()\n") }, {}, { version: v, arch: ARCH, entry: bad }) }, { path: "dist/ridge.mjs", data: enc("run()\n") }]);
      await d.repo.addTarget(`runtime-sim-${v}.tar`, archive, runtimeCustom(v, "sim", ARCH));
      const before = bc().state();
      const agent = d.agent({ booted: "a", mirrors: [new DirectoryFetcher(d.repo.dir)] });
      await agent.boot();
      await agent.check("poll");
      const st = agent.state();
      assert.is(st.s, "failed", `${JSON.stringify(bad)}: ${JSON.stringify(st)}`);
      if (st.s === "failed") assert.is(st.code, "E_OTA_MANIFEST_PATH", st.reason);
      assert.equal(readdirSync(d.slot("b")), [], "slot b holds nothing");
      assert.equal(bc().state().order, before.order, "boot order untouched");
      assert.equal(bc().state().order[0], "a");
    }
  } finally {
    d.cleanup();
  }
});

test.run();
