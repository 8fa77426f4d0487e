// The glibc version of a root (flash/root-glibc.ts): the highest GLIBC_2.N[.M] name in
// libc.so.6's string table. Names sit between NULs, one NUL between two names: every version must
// be seen, not every other one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compareGlibc, glibcVersionOf, rootGlibc } from "../../flash/root-glibc.js";
import { RISCV64_BASE, ensureRiscv64Artifacts } from "../helpers/riscv64.js";

const strtab = (...names: string[]) => Buffer.from(`\x7fELF....\0${names.join("\0")}\0`, "latin1");

/** The highest version by splitting on NULs: independent of the regex. */
function highestBySplit(bytes: Uint8Array): string | undefined {
  const vs = Buffer.from(bytes).toString("latin1").split("\0").filter((s) => /^GLIBC_2\.\d+(\.\d+)?$/.test(s)).map((s) => s.slice("GLIBC_".length));
  return vs.sort(compareGlibc).at(-1);
}

test("consecutive version names: the last one counts (Debian 12: 2.36, Debian 13: 2.41)", () => {
  assert.is(glibcVersionOf(strtab("GLIBC_2.34", "GLIBC_2.35", "GLIBC_2.36", "GLIBC_PRIVATE")), "2.36");
  assert.is(glibcVersionOf(strtab("GLIBC_2.38", "GLIBC_2.39", "GLIBC_2.40", "GLIBC_2.41")), "2.41");
  // an even count of names before the highest was what the old regex skipped
  assert.is(glibcVersionOf(strtab("GLIBC_2.27", "GLIBC_2.28")), "2.28");
  assert.is(glibcVersionOf(strtab("GLIBC_2.2.5", "GLIBC_2.2.6", "GLIBC_2.3")), "2.3");
  assert.is(glibcVersionOf(strtab("GLIBC_2.17", "GLIBC_2.17.1")), "2.17.1");
});

test("names that only start like a version do not count; none at all is undefined", () => {
  assert.is(glibcVersionOf(strtab("GLIBC_2.30", "GLIBC_2.99x", "xGLIBC_2.98", "GLIBC_PRIVATE")), "2.30");
  assert.is(glibcVersionOf(strtab("GLIBC_PRIVATE", "memcpy")), undefined);
  assert.is(glibcVersionOf(new Uint8Array()), undefined);
  // the last name in the buffer needs its closing NUL
  assert.is(glibcVersionOf(Buffer.from("\0GLIBC_2.40\0GLIBC_2.41", "latin1")), "2.40");
});

test("a subarray is read at its own offset", () => {
  const buf = Buffer.concat([Buffer.from("\0GLIBC_2.99\0"), strtab("GLIBC_2.35", "GLIBC_2.36")]);
  assert.is(glibcVersionOf(buf.subarray(12)), "2.36");
});

test("the real riscv64 libc of Debian 13 (test sysroot) reads 2.41, as its own string table says", () => {
  const libc = join(RISCV64_BASE, "usr/lib/riscv64-linux-gnu/libc.so.6");
  ensureRiscv64Artifacts(); // cached by .ci/run; a missing sysroot is a failure, never a skip
  const bytes = readFileSync(libc);
  assert.is(glibcVersionOf(bytes), highestBySplit(bytes));
  assert.is(glibcVersionOf(bytes), "2.41");
  assert.equal(rootGlibc(RISCV64_BASE, "riscv64"), { path: "/usr/lib/riscv64-linux-gnu/libc.so.6", version: "2.41" });
});

test("this host's libc reads what getconf GNU_LIBC_VERSION says", () => {
  const g = spawnSync("getconf", ["GNU_LIBC_VERSION"], { encoding: "utf8" });
  const libc = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6"].find((p) => existsSync(p));
  assert.ok(g.status === 0 && libc && /^glibc \d/.test(g.stdout), "a glibc host (Debian 12) with getconf");
  assert.is(glibcVersionOf(readFileSync(libc!)), g.stdout.trim().slice("glibc ".length));
});

test.run();
