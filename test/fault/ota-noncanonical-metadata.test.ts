// Non-canonical metadata (issue 16 items 5 and 6): a metadata file whose text a lenient reader
// (JSON.parse: last key wins, 1.0 === 1) reads as a validly signed document. fast-check writes
// the text of a real role (root v2, timestamp, snapshot, targets of a repository made by
// Ridgeline's publisher) with one flaw, signs what JSON.parse reads from it with the role's real
// key, and re-chains the hashes above it (targets → snapshot → timestamp), so only the reader can
// refuse it: a key repeated in an object at a random depth, a number spelled as 1.0 / 1e0 / -0,
// an expiry that is no calendar date, nesting deeper than the limit. Each refusal has its own
// code and the failing role; our own repository's output, however it is spaced, always passes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DirectoryFetcher } from "../../ota/repo-fetchers.js";
import { signSigned, type SigningKey } from "../../ota/tuf-keys.js";
import { parseMetadata, tufDateProblem, type RoleName } from "../../ota/tuf-metadata.js";
import type { RefreshResult } from "../../ota/tuf-client.js";
import { makeRepo, runtimeCustom, TamperingFetcher, type TestRepo } from "../helpers/ota-repo.js";

type Path = (string | number)[];
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON text of `v` with hooks: extra members at the start of one object, another spelling for one number. */
function write(v: Json, hooks: { prefix?(path: Path): string | undefined; number?(path: Path, n: number): string | undefined }, path: Path = []): string {
  if (typeof v === "number") return hooks.number?.(path, v) ?? JSON.stringify(v);
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x, i) => write(x, hooks, [...path, i])).join(",")}]`;
  const members = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${write(x, hooks, [...path, k])}`);
  const extra = hooks.prefix?.(path);
  return `{${[...(extra ? [extra] : []), ...members].join(",")}}`;
}

function nodes(v: Json, path: Path = [], out: { objects: Path[]; numbers: Path[] } = { objects: [], numbers: [] }) {
  if (typeof v === "number") out.numbers.push(path);
  else if (Array.isArray(v)) v.forEach((x, i) => nodes(x, [...path, i], out));
  else if (v && typeof v === "object") {
    out.objects.push(path);
    for (const [k, x] of Object.entries(v)) nodes(x, [...path, k], out);
  }
  return out;
}

const same = (a: Path, b: Path) => a.length === b.length && a.every((x, i) => x === b[i]);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Fixture {
  t: TestRepo;
  /** The published file each role is fetched as, and the key that signs it. */
  files: Record<RoleName, { path: string; key: SigningKey }>;
  signed(role: RoleName): Json;
}

async function fixture(): Promise<Fixture> {
  const t = await makeRepo();
  await t.addTarget("ridge-1.1.0.tar", new Uint8Array([1, 2, 3]), { ...runtimeCustom("1.1.0"), notes: { a: [1, { b: [2, 3] }], empty: {} } } as never);
  await t.addTarget("models/m.onnx", new Uint8Array([4]), { kind: "model", version: "2.0.0", boards: ["sim"] });
  // a root v2 (same keys) for the rotation step to fetch
  t.repo.rotateRoot({ root: { keys: t.keys.root.map((k) => k.key), threshold: 1 } });
  t.repo.sign(t.keys.root);
  const sv = t.repo.published("snapshot")!.signed.version;
  const tv = t.repo.published("targets")!.signed.version;
  const files: Fixture["files"] = {
    root: { path: "metadata/2.root.json", key: t.keys.root[0]! },
    timestamp: { path: "metadata/timestamp.json", key: t.keys.timestamp },
    snapshot: { path: `metadata/${sv}.snapshot.json`, key: t.keys.snapshot },
    targets: { path: `metadata/${tv}.targets.json`, key: t.keys.targets },
  };
  const signed = (role: RoleName) => (JSON.parse(readFileSync(join(t.dir, files[role].path), "utf8")) as { signed: Json }).signed;
  return { t, files, signed };
}

/** A mirror serving `text` as the role's `signed` (signed over what JSON.parse reads), the hashes above it re-chained. */
function serving(f: Fixture, role: RoleName, text: string): TamperingFetcher {
  const over = new Map<string, Uint8Array>();
  const put = (r: RoleName, signedText: string): Uint8Array => {
    // past canonical JSON's own depth nothing can be signed: the attacker sends some signature
    let sigs: unknown[];
    try {
      sigs = [signSigned(f.files[r].key, JSON.parse(signedText))];
    } catch {
      sigs = [{ keyid: f.files[r].key.keyid, sig: "00".repeat(64) }];
    }
    const bytes = new Uint8Array(Buffer.from(`{"signed":${signedText},"signatures":${JSON.stringify(sigs)}}`));
    over.set(f.files[r].path, bytes);
    return bytes;
  };
  const rechain = (r: "snapshot" | "timestamp", name: string, below: Uint8Array) => {
    const s = f.signed(r) as { meta: Record<string, Json> };
    s.meta[name] = { ...(s.meta[name] as object), length: below.length, hashes: { sha256: sha256(below) } };
    return put(r, JSON.stringify(s));
  };
  const b = put(role, text);
  if (role === "targets") rechain("timestamp", "snapshot.json", rechain("snapshot", "targets.json", b));
  if (role === "snapshot") rechain("timestamp", "snapshot.json", b);
  return new TamperingFetcher(new DirectoryFetcher(f.t.dir), (p, bytes) => over.get(p) ?? bytes);
}

function refused(r: RefreshResult): { code: string; role?: string; reason: string } {
  assert.ok(!r.ok, "refresh should fail");
  return r as never;
}

const roles = fc.constantFrom<RoleName>("root", "timestamp", "snapshot", "targets");

test("baseline: the fixture's mirror, re-chained and re-signed without a flaw, refreshes", async () => {
  const f = await fixture();
  try {
    for (const role of ["root", "timestamp", "snapshot", "targets"] as const) {
      const r = await f.t.client(undefined, [serving(f, role, JSON.stringify(f.signed(role)))]).refresh();
      assert.ok(r.ok, `${role}: ${JSON.stringify(r)}`);
    }
  } finally {
    f.t.cleanup();
  }
});

test("property: a key repeated in any object of any role, at any depth, is E_OTA_JSON_DUPLICATE_KEY for that role", async () => {
  const f = await fixture();
  try {
    await fc.assert(
      fc.asyncProperty(roles, fc.nat(), fc.nat(), fc.constantFrom<Json>(1, "x", null, [], {}, 99), async (role, pick, keyPick, value) => {
        const signed = f.signed(role);
        const objs = nodes(signed).objects;
        const at = objs[pick % objs.length]!;
        const node = at.reduce<Json>((v, k) => (v as Record<string, Json>)[k as string] as Json, signed) as Record<string, Json>;
        const keys = Object.keys(node);
        // an object's own key again; in an empty object, one new key twice
        const key = keys.length ? keys[keyPick % keys.length]! : "k";
        const extra = keys.length ? `${JSON.stringify(key)}:${JSON.stringify(value)}` : `"k":1,"k":${JSON.stringify(value)}`;
        const text = write(signed, { prefix: (p) => (same(p, at) ? extra : undefined) });
        const r = refused(await f.t.client(undefined, [serving(f, role, text)]).refresh());
        assert.is(r.code, "E_OTA_JSON_DUPLICATE_KEY", `${role} ${at.join(".")}: ${r.reason}`);
        assert.is(r.role, role);
      }),
      { numRuns: 40 },
    );
  } finally {
    f.t.cleanup();
  }
});

test("property: an integer spelled 1.0, 1e0, 1E+0, 10e-1 or -0 anywhere a role has one is E_OTA_JSON_NUMBER", async () => {
  const f = await fixture();
  try {
    const spell = fc.constantFrom((n: number) => `${n}.0`, (n: number) => `${n}e0`, (n: number) => `${n}E+0`, (n: number) => `${n * 10}e-1`, (n: number) => `${n}.000`, (n: number) => (n === 0 ? "-0" : `${n}.0e0`));
    await fc.assert(
      fc.asyncProperty(roles, fc.nat(), spell, async (role, pick, how) => {
        const signed = f.signed(role);
        const nums = nodes(signed).numbers;
        const at = nums[pick % nums.length]!;
        const text = write(signed, { number: (p, n) => (same(p, at) ? how(n) : undefined) });
        assert.is.not(text, JSON.stringify(signed));
        assert.equal(JSON.parse(text), signed, "a lenient reader sees the signed document");
        const r = refused(await f.t.client(undefined, [serving(f, role, text)]).refresh());
        assert.is(r.code, "E_OTA_JSON_NUMBER", `${role} ${at.join(".")}: ${r.reason}`);
        assert.is(r.role, role);
      }),
      { numRuns: 40 },
    );
    // spec_version is a string of decimal parts
    for (const v of ["1.0e0.31", "1.0.31.0", "2.0.0", "1.00.31", " 1.0.31"]) {
      const s = f.signed("timestamp") as Record<string, Json>;
      const r = refused(await f.t.client(undefined, [serving(f, "timestamp", JSON.stringify({ ...s, spec_version: v }))]).refresh());
      assert.is(r.code, "E_OTA_PARSE", v);
    }
  } finally {
    f.t.cleanup();
  }
});

// Days per month by the proleptic Gregorian rule, computed through Date.UTC (an independent oracle).
const realDate = (y: number, mo: number, d: number, h: number, mi: number, s: number) => {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, 0);
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s;
};
const p2 = (n: number) => String(n).padStart(2, "0");
const stamp = fc.record({ y: fc.integer({ min: 2027, max: 9999 }), mo: fc.integer({ min: 0, max: 13 }), d: fc.integer({ min: 0, max: 32 }), h: fc.integer({ min: 0, max: 24 }), mi: fc.integer({ min: 0, max: 60 }), s: fc.integer({ min: 0, max: 60 }) });
const leapHeavy = fc.record({ y: fc.constantFrom(2028, 2096, 2100, 2200, 2400, 2999, 3000), mo: fc.constant(2), d: fc.constantFrom(28, 29, 30), h: fc.constant(0), mi: fc.constant(0), s: fc.constant(0) });

test("property: expires is accepted exactly when it is a real UTC date in YYYY-MM-DDTHH:MM:SS[.fff]Z (leap years right)", () => {
  fc.assert(
    fc.property(fc.oneof(stamp, leapHeavy), ({ y, mo, d, h, mi, s }) => {
      const text = `${y}-${p2(mo)}-${p2(d)}T${p2(h)}:${p2(mi)}:${p2(s)}Z`;
      assert.is(tufDateProblem(text) === undefined, realDate(y, mo, d, h, mi, s), text);
    }),
    { numRuns: 2000 },
  );
  for (const bad of ["2999-02-31T00:00:00Z", "2100-02-29T00:00:00Z", "2030-01-01T00:00:00.Z", "2030-01-01T00:00:00+00:00", "2030-01-01 00:00:00Z", "2030-1-01T00:00:00Z", "+02030-01-01T00:00:00Z", "2030-01-01T00:00:00z", "2030-01-01T00:00:00"])
    assert.ok(tufDateProblem(bad), bad);
  assert.is(tufDateProblem("2096-02-29T23:59:59Z"), undefined);
  assert.is(tufDateProblem("2400-02-29T00:00:00Z"), undefined);
  // tuf-js writes fractional seconds (Date.toISOString); the day is still checked
  assert.is(tufDateProblem("2999-01-01T00:00:00.567Z"), undefined);
  assert.ok(tufDateProblem("2999-02-31T00:00:00.000Z"));
});

test("property: a signed expiry that is no real date is E_OTA_DATE in every role; a real future one passes", async () => {
  const f = await fixture();
  try {
    const bad = stamp.filter(({ y, mo, d, h, mi, s }) => !realDate(y, mo, d, h, mi, s)).map(({ y, mo, d, h, mi, s }) => `${y}-${p2(mo)}-${p2(d)}T${p2(h)}:${p2(mi)}:${p2(s)}Z`);
    const offFormat = fc.constantFrom("2999-01-01T00:00:00.Z", "2999-01-01T00:00:00.0000000000Z", "2999-01-01T00:00:00+00:00", "2999-01-01", "Tue, 01 Jan 2999 00:00:00 GMT");
    await fc.assert(
      fc.asyncProperty(roles, fc.oneof(bad, offFormat, fc.constant("2999-02-31T00:00:00Z")), async (role, expires) => {
        const s = f.signed(role) as Record<string, Json>;
        const r = refused(await f.t.client(undefined, [serving(f, role, JSON.stringify({ ...s, expires }))]).refresh());
        assert.is(r.code, "E_OTA_DATE", `${role} ${expires}: ${r.reason}`);
        assert.is(r.role, role);
      }),
      { numRuns: 30 },
    );
    for (const role of ["root", "timestamp", "snapshot", "targets"] as const) {
      const s = f.signed(role) as Record<string, Json>;
      assert.ok((await f.t.client(undefined, [serving(f, role, JSON.stringify({ ...s, expires: "2096-02-29T00:00:00Z" }))]).refresh()).ok, role);
    }
  } finally {
    f.t.cleanup();
  }
});

test("property: nesting past the reader's limit is E_OTA_JSON_DEPTH (not a canonical-JSON complaint), in a target's custom field or anywhere", async () => {
  const f = await fixture();
  try {
    await fc.assert(
      fc.asyncProperty(roles, fc.integer({ min: 31, max: 400 }), fc.constantFrom("[", "{"), async (role, depth, open) => {
        const deep = (open === "[" ? "[" : '{"d":').repeat(depth) + "0" + (open === "[" ? "]" : "}").repeat(depth);
        const s = f.signed(role) as Record<string, Json>;
        const text = JSON.stringify({ ...s, x_deep: "@" }).replace('"@"', () => deep);
        const r = refused(await f.t.client(undefined, [serving(f, role, text)]).refresh());
        assert.is(r.code, "E_OTA_JSON_DEPTH", `${role} ${depth}: ${r.reason}`);
        assert.is(r.role, role);
      }),
      { numRuns: 25 },
    );
  } finally {
    f.t.cleanup();
  }
});

test("property: whatever our publisher writes (names, lengths, custom fields), every file parses and the client refreshes", async () => {
  const custom = fc.record({ version: fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map((v) => v.join(".")), extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.nat(), { maxLength: 3 })), { maxKeys: 3 }) });
  const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}(\/[a-z0-9][a-z0-9._-]{0,8})?$/).filter((n) => !n.split("/").includes(".."));
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.record({ name, size: fc.nat(300), custom }), { minLength: 1, maxLength: 4, selector: (x) => x.name }), async (targets) => {
      const t = await makeRepo();
      try {
        for (const x of targets) await t.addTarget(x.name, new Uint8Array(x.size).fill(7), { ...runtimeCustom(x.custom.version), x: x.custom.extra } as never);
        for (const file of t.repo.files()) {
          if (!file.endsWith(".json")) continue;
          const role = (["root", "timestamp", "snapshot", "targets"] as const).find((r) => file.endsWith(`${r}.json`));
          if (!role) continue;
          const p = parseMetadata(role, new Uint8Array(readFileSync(join(t.dir, file))));
          assert.ok(p.ok, `${file}: ${p.ok ? "" : p.reason}`);
        }
        const r = await t.client().refresh();
        assert.ok(r.ok, JSON.stringify(r));
        // the same documents pretty-printed are the same metadata
        const pretty = new TamperingFetcher(new DirectoryFetcher(t.dir), (p, b) => (b && p.endsWith("timestamp.json") ? new Uint8Array(Buffer.from(JSON.stringify(JSON.parse(Buffer.from(b).toString()), null, 2))) : b));
        assert.ok((await t.client(undefined, [pretty]).refresh()).ok);
      } finally {
        t.cleanup();
      }
    }),
    { numRuns: 8 },
  );
});

test.run();
