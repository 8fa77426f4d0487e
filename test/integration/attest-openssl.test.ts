/** Cross-checks with the openssl CLI in both directions. */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as c from "../../attest/crypto/index.js";
import { tempDir } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";
import {
  opensslDgstSm2,
  opensslDigestSign,
  opensslDigestVerify,
  opensslGenKey,
  opensslSign,
  opensslVerify,
} from "../helpers/openssl-sm2.js";
import { SM2_VECTOR_A } from "../vectors/attestation/crypto-vectors.js";
import type { OsslAlg } from "../helpers/openssl-sm2.js";

const test = withPackages(uvuTest, ["openssl"]);
const tmp = tempDir("ridge-attest-ossl-");
const utf8 = (s: string) => new TextEncoder().encode(s);
const ALGS: [OsslAlg, c.SigAlg][] = [["sm2", "sm2-sm3"], ["p256", "ecdsa-p256-sha256"], ["ed25519", "ed25519"]];
const ID = "1234567812345678";

test.after(() => tmp.cleanup());

test("vector A: the standard's (r,s) verifies with openssl dgst -sm3 distid", () => {
  const pub = join(tmp.dir, "va.pub");
  writeFileSync(pub, SM2_VECTOR_A.publicPem);
  const r = opensslDgstSm2(tmp.dir, "verify", pub, utf8(SM2_VECTOR_A.msg), ID, Buffer.from(SM2_VECTOR_A.der, "hex"));
  assert.is(r.status, 0, r.stderr);
  // and with the empty default ID it does not
  const empty = opensslDgstSm2(tmp.dir, "verify", pub, utf8(SM2_VECTOR_A.msg), "", Buffer.from(SM2_VECTOR_A.der, "hex"));
  assert.is.not(empty.status, 0);
});

for (const [ossl, alg] of ALGS) {
  test(`${alg}: Ridgeline signs with a Ridgeline key → openssl verifies the exported PEM`, () => {
    const kp = c.generateKeyPair(alg);
    const pub = join(tmp.dir, `r-${ossl}.pub`);
    writeFileSync(pub, c.publicKeyToPem(alg, kp.publicKey));
    // openssl 3.0 pkeyutl -rawin cannot read an empty file ("Could not allocate 0 bytes"): no empty message for Ed25519
    const msgs = [utf8("hello gateway\n"), new Uint8Array(1000).fill(7), ...(alg === "ed25519" ? [] : [new Uint8Array(0)])];
    for (const msg of msgs) {
      const sig = c.sign(alg, kp.privateKey, msg, { id: ID });
      assert.ok(opensslVerify(tmp.dir, ossl, pub, msg, sig, ID), `openssl rejected a ${alg} signature`);
      const bad = Uint8Array.from([...msg, 0]);
      assert.not.ok(opensslVerify(tmp.dir, ossl, pub, bad, sig, ID));
    }
  });

  test(`${alg}: openssl signs with an openssl key → Ridgeline verifies (and the PKCS#8 imports)`, () => {
    const k = opensslGenKey(tmp.dir, ossl);
    const { alg: a, publicKey } = c.publicKeyFromPem(readFileSync(k.pub, "utf8"));
    assert.is(a, alg);
    const kp = c.privateKeyFromPem(readFileSync(k.key, "utf8"));
    assert.is(Buffer.from(kp.publicKey).toString("hex"), Buffer.from(publicKey).toString("hex"));
    for (let i = 0; i < 8; i++) {
      const msg = utf8(`message ${i}`);
      const sig = opensslSign(tmp.dir, ossl, k.key, msg, ID);
      assert.ok(c.verify(alg, publicKey, msg, sig, { id: ID }), `Ridgeline rejected openssl ${alg} signature #${i}`);
      assert.not.ok(c.verify(alg, publicKey, utf8(`message ${i}!`), sig, { id: ID }));
    }
    // a Ridgeline-written private key PEM is readable by openssl
    const rk = join(tmp.dir, `rk-${ossl}.key`);
    writeFileSync(rk, c.privateKeyToPem(alg, kp.privateKey), { mode: 0o600 });
    const sig = opensslSign(tmp.dir, ossl, rk, utf8("x"), ID);
    assert.ok(c.verify(alg, kp.publicKey, utf8("x"), sig, { id: ID }));
  });
}

test("SM2 with a custom ID both ways, and ID mismatch fails both ways", () => {
  const k = opensslGenKey(tmp.dir, "sm2", "idkey");
  const { publicKey } = c.publicKeyFromPem(readFileSync(k.pub, "utf8"));
  const kp = c.privateKeyFromPem(readFileSync(k.key, "utf8"));
  const msg = utf8("gateway quote");
  const custom = "gateway-01@example";
  const s1 = opensslDgstSm2(tmp.dir, "sign", k.key, msg, custom).stdout;
  assert.ok(c.verify("sm2-sm3", publicKey, msg, s1, { id: custom }));
  assert.not.ok(c.verify("sm2-sm3", publicKey, msg, s1, { id: ID }));
  const s2 = c.sign("sm2-sm3", kp.privateKey, msg, { id: custom });
  assert.is(opensslDgstSm2(tmp.dir, "verify", k.pub, msg, custom, s2).status, 0);
  assert.is.not(opensslDgstSm2(tmp.dir, "verify", k.pub, msg, ID, s2).status, 0);
  // openssl's empty-ID default is a different signature scheme instance
  const s3 = opensslDgstSm2(tmp.dir, "sign", k.key, msg, "").stdout;
  assert.not.ok(c.verify("sm2-sm3", publicKey, msg, s3, { id: ID }));
  assert.ok(c.verify("sm2-sm3", publicKey, msg, s3, { id: "" }));
});

test("SM2 TPM (digest) mode via pkeyutl without -rawin, both ways", () => {
  const k = opensslGenKey(tmp.dir, "sm2", "dkey");
  const kp = c.privateKeyFromPem(readFileSync(k.key, "utf8"));
  const e = c.sha256(utf8("TPMS_ATTEST bytes"));
  const s1 = opensslDigestSign(tmp.dir, k.key, e);
  assert.ok(c.verifyDigest("sm2-sm3", kp.publicKey, e, s1));
  assert.not.ok(c.verify("sm2-sm3", kp.publicKey, utf8("TPMS_ATTEST bytes"), s1), "GM mode must not accept a digest-mode signature");
  const s2 = c.signDigest("sm2-sm3", kp.privateKey, e);
  assert.ok(opensslDigestVerify(tmp.dir, k.pub, e, s2));
});

test.run();
