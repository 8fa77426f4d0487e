/**
 * The slot's manifest, `ridge-bundle.json` beside dist/ (the same shape as an OTA runtime bundle's
 * manifest: format ridge-bundle/1, every file with size, sha256 and mode), made while each file is
 * read once for its digest and its ELF header: a native file built for another CPU than the
 * board's is refused here, before anything is written.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { RidgeError } from "../core/index.js";
import type { Board } from "../boards/index.js";
import { ELF_HEADER_PREFIX, elfMatchesArch, machineName, readElfHeader } from "./elf-header.js";
import type { RuntimeSlot, SlotFile } from "./runtime-slot.js";

export const SLOT_MANIFEST_NAME = "ridge-bundle.json";
export const BUNDLE_FORMAT = "ridge-bundle/1";

export interface SlotManifest {
  format: typeof BUNDLE_FORMAT;
  kind: "runtime";
  version: string;
  board: string;
  arch: string;
  entry: string;
  files: Record<string, { size: number; sha256: string; mode: number }>;
  links: Record<string, string>;
}

export interface ElfFinding {
  rel: string;
  machine: number;
  ok: boolean;
}

/** A slot's manifest, its bytes as written, and which of its files are native code for which CPU. */
export interface BuiltSlotManifest {
  manifest: SlotManifest;
  /** The manifest's bytes as written (canonical: keys in file order, sorted paths). */
  bytes: Uint8Array;
  elf: ElfFinding[];
}

const CHUNK = 1 << 20;

/** sha256 and the first bytes of a slot file, reading it once. */
export function digestSlotFile(f: SlotFile): { sha256: string; head: Uint8Array } {
  if (f.content) return { sha256: createHash("sha256").update(f.content).digest("hex"), head: f.content.subarray(0, ELF_HEADER_PREFIX) };
  const h = createHash("sha256");
  const fd = openSync(f.src!, "r");
  const buf = Buffer.allocUnsafe(CHUNK);
  let head: Uint8Array = new Uint8Array(0);
  try {
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      if (pos === 0) head = Uint8Array.from(buf.subarray(0, Math.min(n, ELF_HEADER_PREFIX)));
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: h.digest("hex"), head };
}

export function buildSlotManifest(slot: RuntimeSlot, board: Board): BuiltSlotManifest {
  const files: SlotManifest["files"] = {};
  const elf: ElfFinding[] = [];
  for (const f of slot.files) {
    const { sha256, head } = digestSlotFile(f);
    files[f.rel] = { size: f.size, sha256, mode: f.mode };
    const r = readElfHeader(head);
    if (r.ok) elf.push({ rel: f.rel, machine: r.value.machine, ok: elfMatchesArch(r.value, board.arch) });
  }
  const wrong = elf.filter((e) => !e.ok);
  if (wrong.length)
    throw new RidgeError(
      "E_FLASH_ELF_MISMATCH",
      `board ${board.name} is ${board.arch}, but the slot would carry native code for another CPU: ${wrong.map((w) => `${w.rel}: ${machineName(w.machine)}`).join("; ")}`,
      { detail: { files: wrong.map((w) => w.rel) } },
    );
  const manifest: SlotManifest = { format: BUNDLE_FORMAT, kind: "runtime", version: slot.version, board: board.name, arch: board.arch, entry: "dist/ridge.mjs", files, links: {} };
  return { manifest, bytes: new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`), elf };
}
