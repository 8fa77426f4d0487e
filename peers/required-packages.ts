/**
 * What a test file does when a real peer is missing: under CI (`CI` set, as `.ci/run` exports it)
 * the file fails; on a developer's machine every test it guards is a visible skip that names the
 * Debian packages to install. Never a silent early return that counts as passed.
 *
 *   const test = withPackages(uvuTest, ["mosquitto", "openssl"]);   // the whole file, then test("…", …) as usual
 *   withPackages(test, ["socat"])("one test that needs socat", async () => { … });
 *
 * The packages and the commands (or Python modules) each brings: peers/debian-packages.json, the
 * same list `npm run test:setup` installs.
 */
import { spawnSync } from "node:child_process";
import type { Callback, Test } from "uvu";
import list from "./debian-packages.json" with { type: "json" };

interface Probe {
  commands?: string[];
  python?: string[];
}

/** Debian's own python3, where python3-* packages install their modules (not a pyenv shim's). */
const DEBIAN_PYTHON = "/usr/bin/python3";

/** A package of peers/debian-packages.json (a name not in the list does not type-check). */
export type DebianPackage = keyof typeof list.packages;

function present(pkg: DebianPackage): boolean {
  const probe: Probe = list.packages[pkg];
  const commands = probe.commands ?? [];
  if (commands.length && spawnSync("sh", ["-c", commands.map((c) => `command -v ${c}`).join(" && ")], { stdio: "ignore" }).status !== 0) return false;
  const modules = probe.python ?? [];
  return modules.length === 0 || spawnSync(DEBIAN_PYTHON, ["-c", `import ${modules.join(", ")}`], { stdio: "ignore" }).status === 0;
}

/** The packages of `packages` whose commands or modules are not there. */
function missingPackages(packages: readonly DebianPackage[]): DebianPackage[] {
  return packages.filter((p) => !present(p));
}

/**
 * `test` itself when every package is there. Otherwise: under CI, throws (the file fails); locally,
 * prints one `skipped (peer missing): … apt-get install …` line (test/run.ts gathers them) and
 * returns a `test` whose every case is `test.skip` and whose hooks do not run, so the runner counts
 * them skipped, not passed. Setup that needs the peer belongs in `test.before`.
 */
export function withPackages<T>(test: Test<T>, packages: readonly DebianPackage[]): Test<T> {
  const missing = missingPackages(packages);
  if (missing.length === 0) return test;
  const install = `apt-get install ${missing.join(" ")}`;
  if (process.env.CI) throw new Error(`missing peer: ${missing.join(", ")} (${install}; npm run test:setup installs it): under CI a missing peer is a failure, never a skip`);
  console.log(`skipped (peer missing): ${missing.join(", ")}: ${install} (or npm run test:setup)`);
  const skip = ((name: string, fn: Callback<T>) => test.skip(name, fn)) as Test<T>;
  // the hooks start and stop the peer that is not there: they do not run
  const hook = Object.assign(() => undefined, { each: () => undefined });
  return Object.assign(skip, { only: skip, skip: test.skip, before: hook, after: hook, run: test.run });
}
