/**
 * Checks a target's bytes as they stream past (tuf-spec §5.7.3): never more than the signed
 * length (endless data), and the signed hashes must match at the end (arbitrary or wrong
 * software). sha256 must be listed and is always checked; `algorithms` may narrow the others
 * (SM3 through OpenSSL runs at about a fifth of SHA-256's speed: a device that must check SM3
 * says so in its config). By default every listed hash we can compute is checked.
 */
import { createHash, type Hash } from "node:crypto";
import { fail, ok, type Result } from "../core/index.js";
import type { TargetFile } from "./tuf-metadata.js";

/** The bytes are the signed target, or why not (E_OTA_TOO_LARGE, E_OTA_LENGTH, E_OTA_HASH). */
export type TargetCheck = Result<void, "E_OTA_TOO_LARGE" | "E_OTA_LENGTH" | "E_OTA_HASH">;

export class TargetHasher {
  private readonly hashes: { alg: string; want: string; h: Hash }[] = [];
  private n = 0;
  private over = false;
  constructor(
    private readonly name: string,
    private readonly file: TargetFile,
    algorithms?: readonly string[],
  ) {
    for (const [alg, want] of Object.entries(file.hashes)) {
      if (algorithms && alg !== "sha256" && !algorithms.includes(alg)) continue;
      try {
        this.hashes.push({ alg, want, h: createHash(alg) });
      } catch {
        /* not computable here */
      }
    }
  }
  get received(): number {
    return this.n;
  }
  /** False once more bytes arrived than the signed length: stop reading. */
  update(chunk: Uint8Array): boolean {
    this.n += chunk.length;
    if (this.n > this.file.length) {
      this.over = true;
      return false;
    }
    for (const x of this.hashes) x.h.update(chunk);
    return true;
  }
  finish(): TargetCheck {
    if (this.over) return fail("E_OTA_TOO_LARGE", `${this.name}: more than the signed ${this.file.length} bytes`);
    if (this.n !== this.file.length) return fail("E_OTA_LENGTH", `${this.name}: ${this.n} of ${this.file.length} bytes`);
    if (!this.hashes.some((x) => x.alg === "sha256")) return fail("E_OTA_HASH", `${this.name}: no sha256 listed`);
    for (const x of this.hashes) {
      if (x.h.digest("hex") !== x.want) return fail("E_OTA_HASH", `${this.name}: ${x.alg} mismatch`);
    }
    return ok(undefined);
  }
}
