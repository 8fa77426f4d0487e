/**
 * The `openssl` CLI (3.0) as an independent SM2 / P-256 / Ed25519 peer for cross-checks.
 * OpenSSL 3.0's default SM2 ID is EMPTY, so every SM2 call passes the distid explicitly.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface OpensslResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function openssl(args: string[], input?: Uint8Array): OpensslResult {
  const r = spawnSync("openssl", args, { input, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr?.toString() ?? "" };
}

function must(r: OpensslResult, what: string): OpensslResult {
  if (r.status !== 0) throw new Error(`openssl ${what} failed (${r.status}): ${r.stderr}`);
  return r;
}

export type OsslAlg = "sm2" | "p256" | "ed25519";

/** Generate a key with openssl; returns paths of the PKCS#8 private and SPKI public PEMs. */
export function opensslGenKey(dir: string, alg: OsslAlg, name: string = alg): { key: string; pub: string } {
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  const genArgs =
    alg === "sm2" ? ["-algorithm", "SM2"] : alg === "p256" ? ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-algorithm", "ED25519"];
  must(openssl(["genpkey", ...genArgs, "-out", key]), "genpkey");
  must(openssl(["pkey", "-in", key, "-pubout", "-out", pub]), "pkey -pubout");
  return { key, pub };
}

function write(dir: string, name: string, data: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

/** Sign `msg` with openssl: SM2 (GM mode with distid), ECDSA P-256/SHA-256 (DER), Ed25519 (raw 64 bytes). */
export function opensslSign(dir: string, alg: OsslAlg, keyPath: string, msg: Uint8Array, id = "1234567812345678"): Uint8Array {
  const m = write(dir, "ossl-msg.bin", msg);
  const args =
    alg === "sm2"
      ? ["pkeyutl", "-sign", "-inkey", keyPath, "-rawin", "-digest", "sm3", "-pkeyopt", `distid:${id}`, "-in", m]
      : alg === "p256"
        ? ["dgst", "-sha256", "-sign", keyPath, m]
        : ["pkeyutl", "-sign", "-inkey", keyPath, "-rawin", "-in", m];
  return new Uint8Array(must(openssl(args), `sign ${alg}`).stdout);
}

/** Verify with openssl; true iff openssl exits 0. */
export function opensslVerify(dir: string, alg: OsslAlg, pubPath: string, msg: Uint8Array, sig: Uint8Array, id = "1234567812345678"): boolean {
  const m = write(dir, "ossl-vmsg.bin", msg);
  const s = write(dir, "ossl-vsig.bin", sig);
  const args =
    alg === "sm2"
      ? ["pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-digest", "sm3", "-pkeyopt", `distid:${id}`, "-in", m, "-sigfile", s]
      : alg === "p256"
        ? ["dgst", "-sha256", "-verify", pubPath, "-signature", s, m]
        : ["pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", m, "-sigfile", s];
  return openssl(args).status === 0;
}

/** `openssl dgst -sm3 -sigopt distid:…` (the other CLI path for SM2). */
export function opensslDgstSm2(dir: string, mode: "sign" | "verify", keyPath: string, msg: Uint8Array, id: string, sig?: Uint8Array): OpensslResult {
  const m = write(dir, "ossl-dmsg.bin", msg);
  if (mode === "sign") return openssl(["dgst", "-sm3", "-sign", keyPath, "-sigopt", `distid:${id}`, m]);
  const s = write(dir, "ossl-dsig.bin", sig ?? new Uint8Array());
  return openssl(["dgst", "-sm3", "-verify", keyPath, "-sigopt", `distid:${id}`, "-signature", s, m]);
}

/** SM2/ECDSA over a precomputed digest (TPM mode: no Z_A): pkeyutl without -rawin. */
export function opensslDigestSign(dir: string, keyPath: string, digest: Uint8Array): Uint8Array {
  const d = write(dir, "ossl-e.bin", digest);
  return new Uint8Array(must(openssl(["pkeyutl", "-sign", "-inkey", keyPath, "-in", d]), "pkeyutl digest sign").stdout);
}

export function opensslDigestVerify(dir: string, pubPath: string, digest: Uint8Array, sig: Uint8Array): boolean {
  const d = write(dir, "ossl-ve.bin", digest);
  const s = write(dir, "ossl-ves.bin", sig);
  return openssl(["pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-in", d, "-sigfile", s]).status === 0;
}
