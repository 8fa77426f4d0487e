/**
 * The ELF file header (System V gABI, "ELF Header" §4; e_machine values from the gABI registry):
 * enough to tell which CPU a shipped `.node` addon or `node` binary was built for.
 *
 *   0  e_ident[16]   7f 'E' 'L' 'F', EI_CLASS (1 = 32-bit, 2 = 64-bit), EI_DATA (1 = LE, 2 = BE), EI_VERSION (1), ...
 *  16  e_type  u16   2 = executable, 3 = shared object (a `.node` addon, a PIE executable)
 *  18  e_machine u16 0x3E x86-64, 0xB7 AArch64, 0xF3 RISC-V, 0x28 ARM, 0x03 i386
 *
 * Pure: reads bytes, never throws; hostile or truncated input gives core's failure E_FLASH_NOT_ELF.
 */
import { fail, ok, type Result } from "../core/index.js";

export const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7, riscv64: 0xf3, arm: 0x28, ia32: 0x03 } as const;
export type ElfArch = keyof typeof ELF_MACHINE;

export interface ElfHeader {
  bits: 32 | 64;
  endian: "little" | "big";
  /** e_type: 1 relocatable, 2 executable, 3 shared object, 4 core. */
  type: number;
  machine: number;
  /** The machine as a Node `process.arch` name, or undefined for one we do not ship. */
  arch: ElfArch | undefined;
}

export type ElfResult = Result<ElfHeader, "E_FLASH_NOT_ELF">;

/** The first 20 bytes are all it needs. */
export const ELF_HEADER_PREFIX = 20;

export function readElfHeader(bytes: Uint8Array): ElfResult {
  if (bytes.length < ELF_HEADER_PREFIX) return fail("E_FLASH_NOT_ELF", `too short for an ELF header (${bytes.length} bytes)`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) return fail("E_FLASH_NOT_ELF", "no ELF magic (7f 45 4c 46)");
  const cls = bytes[4];
  const data = bytes[5];
  if (cls !== 1 && cls !== 2) return fail("E_FLASH_NOT_ELF", `bad EI_CLASS ${String(cls)}`);
  if (data !== 1 && data !== 2) return fail("E_FLASH_NOT_ELF", `bad EI_DATA ${String(data)}`);
  if (bytes[6] !== 1) return fail("E_FLASH_NOT_ELF", `bad EI_VERSION ${String(bytes[6])}`);
  const u16 = (o: number) => (data === 1 ? bytes[o]! | (bytes[o + 1]! << 8) : (bytes[o]! << 8) | bytes[o + 1]!);
  const machine = u16(18);
  const arch = (Object.keys(ELF_MACHINE) as ElfArch[]).find((a) => ELF_MACHINE[a] === machine);
  return ok({ bits: cls === 1 ? 32 : 64, endian: data === 1 ? "little" : "big", type: u16(16), machine, arch });
}

/** Does this ELF header run on `arch` (a board's arch: x64, arm64, riscv64)? */
export function elfMatchesArch(h: ElfHeader, arch: "x64" | "arm64" | "riscv64"): boolean {
  return h.bits === 64 && h.endian === "little" && h.machine === ELF_MACHINE[arch];
}

export function machineName(machine: number): string {
  const arch = (Object.keys(ELF_MACHINE) as ElfArch[]).find((a) => ELF_MACHINE[a] === machine);
  return `${arch ?? "unknown"} (e_machine 0x${machine.toString(16).toUpperCase().padStart(2, "0")})`;
}
