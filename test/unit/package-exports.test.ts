/**
 * package.json's `exports` and `bin` point at files that exist and load, and every top-level folder
 * with a public API (an index.ts) is exported, except runtime/ (only the CLI imports it, design.md)
 * and what only tests and benches use (test/, bench/, peers/).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const root = new URL("../..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string>; bin: Record<string, string> };
const NOT_EXPORTED = new Set(["runtime", "test", "bench", "peers", "node_modules", "dist"]);

test("every exports entry is a file that loads", async () => {
  for (const [name, target] of Object.entries(pkg.exports)) {
    assert.ok(existsSync(join(root, target)), `exports["${name}"] → ${target} does not exist`);
    const mod = (await import(join(root, target))) as Record<string, unknown>;
    assert.ok(Object.keys(mod).length > 0, `exports["${name}"] → ${target} exports nothing`);
  }
});

test("every top-level folder with an index.ts is exported (runtime/ and the test folders are not)", () => {
  const folders = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith(".") && existsSync(join(root, d.name, "index.ts")))
    .map((d) => d.name);
  const exported = Object.values(pkg.exports).map((t) => t.replace(/^\.\//, "").replace(/\/index\.ts$/, ""));
  assert.equal(exported.sort(), folders.filter((f) => !NOT_EXPORTED.has(f)).sort());
  // the package's main export is what every consumer codes against: Event, Driver, RidgeError, Result
  assert.is(pkg.exports["."], "./core/index.ts");
  assert.not.ok(exported.includes("runtime"), "runtime/ is the composition root: nothing but the CLI imports it");
});

test("the bin entry exists", () => {
  for (const [name, target] of Object.entries(pkg.bin)) assert.ok(existsSync(join(root, target)), `bin ${name} → ${target}`);
});

test.run();
