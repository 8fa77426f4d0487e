/**
 * "-----BEGIN SM2 PRIVATE KEY-----": what the real `openssl ec` (OpenSSL 3) writes for a key made by
 * `openssl genpkey -algorithm SM2` (SEC1 ECPrivateKey, named curve sm2p256v1). Read wherever SM2
 * private keys are read from PEM (privateKeyFromPem, the gateway's software attestation key).
 * The openssl binary is required: a missing one fails the test.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RidgeError } from "../../core/index.js";
import { loadOrCreateSoftwareKey, privateKeyFromPem, publicKeyFromPem, sign, verify } from "../../attest/index.js";
import { tempDir } from "../../peers/process.js";

const tmp = tempDir("ridge-sm2-pem-");
test.after(() => tmp.cleanup());

function openssl(args: string[]): string {
  const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 20_000 });
  assert.is(r.status, 0, `openssl ${args.join(" ")}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof RidgeError ? e.code : `not a RidgeError: ${String(e)}`;
  }
  return undefined;
}

test("openssl genpkey -algorithm SM2 | openssl ec: the SM2 PRIVATE KEY label is read, same key as the PKCS#8 and the public key", () => {
  const pkcs8 = join(tmp.dir, "sm2.pkcs8.pem");
  const sec1 = join(tmp.dir, "sm2.sec1.pem");
  openssl(["genpkey", "-algorithm", "SM2", "-out", pkcs8]);
  openssl(["ec", "-in", pkcs8, "-out", sec1]);
  const text = readFileSync(sec1, "utf8");
  // the exact output of this machine's openssl: only this label, SEC1 inside, the curve named
  assert.match(text, /^-----BEGIN SM2 PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END SM2 PRIVATE KEY-----\n$/);
  assert.match(openssl(["asn1parse", "-in", sec1]), /OBJECT\s+:sm2/);
  const pub = publicKeyFromPem(openssl(["pkey", "-in", pkcs8, "-pubout"]));

  const fromSec1 = privateKeyFromPem(text);
  const fromPkcs8 = privateKeyFromPem(readFileSync(pkcs8, "utf8"));
  assert.is(fromSec1.alg, "sm2-sm3");
  assert.equal(fromSec1.privateKey, fromPkcs8.privateKey);
  assert.equal(fromSec1.publicKey, pub.publicKey);
  const msg = new TextEncoder().encode("quote body");
  assert.ok(verify("sm2-sm3", pub.publicKey, msg, sign("sm2-sm3", fromSec1.privateKey, msg)));

  // the gateway's software attestation key file in that form is loaded, not replaced
  const dir = join(tmp.dir, "attest");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "ak-sm2.key"), text, { mode: 0o600 });
  const ak = loadOrCreateSoftwareKey(dir, "sm2-sm3");
  assert.is(ak.created, false);
  assert.equal(ak.publicKey, pub.publicKey);
});

test("SM2 PRIVATE KEY holding another curve, or explicit parameters, is E_ATTEST_KEY_FORMAT", () => {
  const p256 = join(tmp.dir, "p256.pem");
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p256]);
  const p256Sec1 = openssl(["ec", "-in", p256]);
  assert.match(p256Sec1, /^-----BEGIN EC PRIVATE KEY-----/);
  assert.is(privateKeyFromPem(p256Sec1).alg, "ecdsa-p256-sha256");
  assert.is(code(() => privateKeyFromPem(p256Sec1.replaceAll("EC PRIVATE KEY", "SM2 PRIVATE KEY"))), "E_ATTEST_KEY_FORMAT");

  const sm2 = join(tmp.dir, "sm2b.pem");
  openssl(["genpkey", "-algorithm", "SM2", "-out", sm2]);
  const explicit = openssl(["ec", "-in", sm2, "-param_enc", "explicit"]);
  assert.match(explicit, /^-----BEGIN SM2 PRIVATE KEY-----/);
  assert.is(code(() => privateKeyFromPem(explicit)), "E_ATTEST_KEY_FORMAT");
  try {
    privateKeyFromPem(explicit);
  } catch (e) {
    assert.match((e as Error).message, /-param_enc named_curve/);
  }
  assert.is(code(() => privateKeyFromPem("-----BEGIN SM2 PRIVATE KEY-----\nMAA=\n-----END SM2 PRIVATE KEY-----\n")), "E_ATTEST_KEY_FORMAT");
});

test.run();
