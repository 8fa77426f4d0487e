// The error-code table (core/errors/codes.ts): well-formed codes, a real line of documentation for
// each, every code the source tree names is in it, and every code in it is raised somewhere.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ERROR_CODES, RidgeError, asErrorCode, isErrorCode } from "../../core/index.js";

const root = new URL("../..", import.meta.url).pathname;
const codes = Object.keys(ERROR_CODES);
const CATEGORIES = new Set(["peer", "config", "board", "environment", "internal"]);

/** The product's and tools' TypeScript and JavaScript sources (tests excluded: they may name made-up codes). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name === "test" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mts|mjs|js)$/.test(name)) out.push(p);
  }
  return out;
}

const TABLE = join(root, "core/errors/codes.ts");
const literals = new Map<string, string[]>(); // every "E_…" string literal outside the table → where
for (const file of sources(root)) {
  if (file === TABLE) continue;
  for (const m of readFileSync(file, "utf8").matchAll(/["'`](E_[A-Z0-9_]+)["'`]/g)) {
    const at = literals.get(m[1]!) ?? [];
    if (!at.includes(relative(root, file))) literals.set(m[1]!, [...at, relative(root, file)]);
  }
}

test("codes are E_ and upper-case words, kept in alphabetical order", () => {
  for (const c of codes) assert.match(c, /^E_[A-Z0-9]+(_[A-Z0-9]+)*$/, c);
  assert.equal(codes, [...codes].sort(), "keep core/errors/codes.ts in alphabetical order");
});

test("every code has a category and one real sentence of documentation", () => {
  for (const [c, info] of Object.entries(ERROR_CODES)) {
    assert.ok(CATEGORIES.has(info.category), `${c}: category ${info.category}`);
    const doc: string = info.doc;
    assert.ok(!/TODO|FIXME|…|\$\{/.test(doc), `${c}: the doc has a placeholder: ${doc}`);
    assert.ok(doc.endsWith("."), `${c}: the doc is a sentence ending with a period: ${doc}`);
    assert.ok(doc.split(/\s+/).length >= 4, `${c}: the doc says what happened: ${doc}`);
    assert.ok(doc.length <= 200, `${c}: the doc is one line (${doc.length} characters)`);
    assert.ok(!doc.includes("\n"), `${c}: the doc is one line`);
  }
});

test("every code the sources name is in the table (a trailing _ is a prefix of some code)", () => {
  for (const [lit, where] of literals) {
    if (lit.endsWith("_")) assert.ok(codes.some((c) => c.startsWith(lit)), `prefix ${lit} (${where.join(", ")}) starts no code`);
    else assert.ok(isErrorCode(lit), `${lit} is used in ${where.join(", ")} but is not in core/errors/codes.ts`);
  }
});

test("every code in the table is raised or named somewhere in the sources", () => {
  const unused = codes.filter((c) => !literals.has(c));
  assert.equal(unused, [], `codes no source names (remove them from core/errors/codes.ts): ${unused.join(", ")}`);
});

test("no two codes differ by one character (a typo would pass for another code)", () => {
  const oneEdit = (a: string, b: string): boolean => {
    if (Math.abs(a.length - b.length) > 1) return false;
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    const [x, y] = [a.slice(i + (a.length >= b.length ? 1 : 0)), b.slice(i + (b.length >= a.length ? 1 : 0))];
    return x === y;
  };
  for (let i = 0; i < codes.length; i++)
    for (let j = i + 1; j < codes.length; j++) assert.not.ok(oneEdit(codes[i]!, codes[j]!), `${codes[i]} and ${codes[j]} differ by one character`);
});

test("RidgeError takes its category from the table; asErrorCode falls back for foreign codes", () => {
  const e = new RidgeError("E_MODBUS_CRC", "x");
  assert.is(e.category, "peer");
  assert.equal(e.toJSON(), { code: "E_MODBUS_CRC", category: "peer", message: "x" });
  assert.is(new RidgeError("E_CONFIG_INVALID", "x").category, "config");
  assert.is(asErrorCode("E_MODBUS_TIMEOUT", "E_INTERNAL"), "E_MODBUS_TIMEOUT");
  assert.is(asErrorCode("ENOENT", "E_INTERNAL"), "E_INTERNAL");
  assert.is(asErrorCode(undefined, "E_OTA_FAILED"), "E_OTA_FAILED");
});

test.run();
