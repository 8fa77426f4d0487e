/**
 * The TPM 2.0 attestation backend: the attestation key (AK) is created on the TPM under the
 * endorsement key (tpm2_createak, restricted signing key) and made persistent; Ridgeline's
 * runtime measurements are extended into one TPM PCR (sha256 bank); a quote is TPM2_Quote over
 * that PCR with the verifier's nonce as qualifyingData.
 *
 * ECDSA P-256 AKs give quotes tpm2_checkquote can verify. SM2 AKs sign in the TPM's digest mode
 * (e = SHA-256(TPMS_ATTEST), no Z_A: swtpm/libtpms has no SM3 bank nor SM3 hash) and are checked
 * by Ridgeline's verifier only (tpm2_checkquote 5.4 cannot load SM2 keys).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RidgeError } from "../../core/index.js";
import type { AttestBackend, QuoteResult } from "../attester.js";
import type { QuoteAlg } from "../evidence.js";
import { initialPcr } from "../pcr-bank.js";
import { templateDigest } from "../measurement-log.js";
import { publicKeyToPem } from "../crypto/index.js";
import { decodeEccPublic, TPM_ALG, TPM_ECC } from "../tpm-structures.js";
import { tpm2Tools } from "./tpm2-tools.js";
import type { TpmToolRunner } from "./tpm2-tools.js";

/** Persistent handles in the owner range for Ridgeline's AKs (TCG Handles Registry §3.4: 0x81010000+ for platform-independent use). */
export const AK_HANDLE: Record<QuoteAlg, string> = { "ecdsa-p256-sha256": "0x81010010", "sm2-sm3": "0x81010011" };

export interface TpmBackendOptions {
  tcti: string;
  /** Working directory for AK public files and the last quote's files. */
  dir: string;
  alg: QuoteAlg;
  /** The PCR Ridgeline extends into (sha256 bank). */
  pcr: number;
  runner?: TpmToolRunner;
  /** Reset the PCR at open when it is resettable (PCR 16, 23) and not at its initial value. Default true. */
  resetPcr?: boolean;
}

export interface TpmBackend extends AttestBackend {
  readonly akHandle: string;
  /** Paths of the last quote's files (TPMS_ATTEST, TPMT_SIGNATURE, PCR values in tpm2-tools format). */
  readonly lastQuoteFiles: { msg: string; sig: string; pcrs: string };
  /** Write the AK public key as PEM (ECDSA only: tpm2-tools cannot export SM2 keys as PEM). */
  exportAkPem(path: string): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

async function readPcr(t: TpmToolRunner, dir: string, pcrs: readonly number[]): Promise<Uint8Array[]> {
  const out = join(dir, "pcrs.bin");
  await t.run("tpm2_pcrread", [`sha256:${pcrs.join(",")}`, "-o", out]);
  const raw = new Uint8Array(readFileSync(out));
  if (raw.length !== 32 * pcrs.length) throw new RidgeError("E_ATTEST_TPM", `tpm2_pcrread returned ${raw.length} bytes for ${pcrs.length} PCRs`);
  return pcrs.map((_, i) => raw.slice(32 * i, 32 * i + 32));
}

export async function openTpmBackend(o: TpmBackendOptions): Promise<TpmBackend> {
  const t = o.runner ?? tpm2Tools(o.tcti);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const handle = AK_HANDLE[o.alg];
  const akPub = join(o.dir, `ak-${o.alg}.tss`);
  try {
    await t.run("tpm2_readpublic", ["-c", handle, "-f", "tss", "-o", akPub]);
  } catch {
    // provisioning: EK (ECC, default template) → AK under it → persistent
    const ek = join(o.dir, "ek.ctx");
    const ak = join(o.dir, "ak.ctx");
    await t.run("tpm2_createek", ["-c", ek, "-G", "ecc", "-u", join(o.dir, "ek.pub")]);
    const [g, s] = o.alg === "sm2-sm3" ? ["ecc_sm2", "sm2"] : ["ecc", "ecdsa"];
    await t.run("tpm2_createak", ["-C", ek, "-c", ak, "-G", g, "-g", "sha256", "-s", s, "-u", akPub, "-f", "tss", "-n", join(o.dir, "ak.name")]);
    await t.run("tpm2_evictcontrol", ["-C", "o", "-c", ak, handle]);
  }
  const pub = decodeEccPublic(new Uint8Array(readFileSync(akPub)));
  if (!pub.ok) throw new RidgeError("E_ATTEST_TPM", `cannot read the AK public key: ${pub.reason}`);
  const wantCurve = o.alg === "sm2-sm3" ? TPM_ECC.SM2_P256 : TPM_ECC.NIST_P256;
  const wantScheme = o.alg === "sm2-sm3" ? TPM_ALG.SM2 : TPM_ALG.ECDSA;
  if (pub.value.curve !== wantCurve || pub.value.scheme !== wantScheme) {
    throw new RidgeError("E_ATTEST_TPM", `the persistent AK at ${handle} is not a ${o.alg} signing key`);
  }

  // our log starts empty: the PCR must be at its initial value
  const [cur] = await readPcr(t, o.dir, [o.pcr]);
  if (hex(cur!) !== hex(initialPcr("sha256", o.pcr))) {
    if (o.resetPcr !== false && (o.pcr === 16 || o.pcr === 23)) await t.run("tpm2_pcrreset", [String(o.pcr)]);
    else {
      throw new RidgeError(
        "E_ATTEST_TPM_PCR_IN_USE",
        `TPM PCR ${o.pcr} already holds measurements (the runtime restarted without a reboot?); reboot, or set attest.tpmPcr to a resettable PCR (16 or 23)`,
      );
    }
  }

  const files = { msg: join(o.dir, "quote.msg"), sig: join(o.dir, "quote.sig"), pcrs: join(o.dir, "quote.pcrs") };
  return {
    kind: "tpm",
    alg: o.alg,
    mode: "tpm",
    publicKey: pub.value.point,
    bank: "sha256",
    akHandle: handle,
    lastQuoteFiles: files,
    async extend(ev) {
      const d = ev.digests.sha256;
      if (!d) throw new RidgeError("E_ATTEST_INTERNAL", "a TPM-backed log needs sha256 digests");
      const template = templateDigest("sha256", ev, Uint8Array.from(Buffer.from(d, "hex")));
      await t.run("tpm2_pcrextend", [`${ev.pcr}:sha256=${hex(template)}`]);
    },
    async quote(nonce, pcrs): Promise<QuoteResult> {
      const sel = pcrs.length ? [...pcrs] : [o.pcr];
      const args = ["-c", handle, "-l", `sha256:${sel.join(",")}`, "-q", hex(nonce), "-m", files.msg, "-s", files.sig, "-o", files.pcrs, "-g", "sha256"];
      if (o.alg === "sm2-sm3") args.push("--scheme", "sm2");
      await t.run("tpm2_quote", args);
      const values = await readPcr(t, o.dir, sel);
      return {
        attest: new Uint8Array(readFileSync(files.msg)),
        signature: new Uint8Array(readFileSync(files.sig)),
        bank: "sha256",
        pcrs: new Map(sel.map((i, k) => [i, values[k]!])),
      };
    },
    async exportAkPem(path) {
      if (o.alg === "sm2-sm3") {
        // tpm2-tools cannot write SM2 PEM; build the SPKI ourselves
        writeFileSync(path, publicKeyToPem("sm2-sm3", pub.value.point));
        return;
      }
      await t.run("tpm2_readpublic", ["-c", handle, "-f", "pem", "-o", path]);
    },
  };
}
