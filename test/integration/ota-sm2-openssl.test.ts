// SM2-with-SM3 TUF signatures (Ridgeline's `sm2` / `sm2-sm3` key type) cross-checked with the
// OpenSSL CLI, which tuf-js cannot do: OpenSSL verifies what `ridge ota` signs, and Ridgeline's
// client verifies metadata signed by OpenSSL (signer ID 1234567812345678, GM/T 0009-2012 §10).
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalBytes } from "../../core/canonical-json.js";
import { generateSigningKey, keyId, signSigned, verifyWith, type TufKey } from "../../ota/tuf-keys.js";
import { tempDir } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";

const test = withPackages(uvuTest, ["openssl"]);

const ID = "1234567812345678";
const signed = { _type: "timestamp", spec_version: "1.0.31", version: 7, expires: "2030-01-01T00:00:00Z", meta: { "snapshot.json": { version: 3 } } };

function openssl(args: string[], cwd: string) {
  return spawnSync("openssl", args, { cwd, encoding: "utf8" });
}

test("OpenSSL verifies a ridge ota SM2 signature over canonical JSON, and refuses a tampered one", () => {
  const t = tempDir();
  try {
    const k = generateSigningKey("sm2-sm3");
    const sig = signSigned(k, signed);
    writeFileSync(join(t.dir, "msg"), canonicalBytes(signed));
    writeFileSync(join(t.dir, "sig"), Buffer.from(sig.sig, "hex"));
    writeFileSync(join(t.dir, "pub.pem"), k.key.keyval.public);
    const ok = openssl(["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-in", "msg", "-sigfile", "sig", "-pubin", "-inkey", "pub.pem", "-pkeyopt", `distid:${ID}`], t.dir);
    assert.is(ok.status, 0, ok.stderr + ok.stdout);
    writeFileSync(join(t.dir, "msg"), canonicalBytes({ ...signed, version: 8 }));
    const bad = openssl(["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-in", "msg", "-sigfile", "sig", "-pubin", "-inkey", "pub.pem", "-pkeyopt", `distid:${ID}`], t.dir);
    assert.is.not(bad.status, 0);
  } finally {
    t.cleanup();
  }
});

test("Ridgeline verifies metadata signed by OpenSSL with an SM2 key it generated", () => {
  const t = tempDir();
  try {
    assert.is(openssl(["genpkey", "-algorithm", "SM2", "-out", "sm2.key"], t.dir).status, 0);
    assert.is(openssl(["pkey", "-in", "sm2.key", "-pubout", "-out", "sm2.pub"], t.dir).status, 0);
    const msg = canonicalBytes(signed);
    writeFileSync(join(t.dir, "msg"), msg);
    const s = openssl(["pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-in", "msg", "-inkey", "sm2.key", "-pkeyopt", `distid:${ID}`, "-out", "sig"], t.dir);
    assert.is(s.status, 0, s.stderr);
    const key: TufKey = { keytype: "sm2", scheme: "sm2-sm3", keyval: { public: readFileSync(join(t.dir, "sm2.pub"), "utf8") } };
    assert.match(keyId(key), /^[0-9a-f]{64}$/);
    const sigHex = readFileSync(join(t.dir, "sig")).toString("hex");
    assert.ok(verifyWith(key, msg, sigHex));
    assert.not.ok(verifyWith(key, canonicalBytes({ ...signed, version: 8 }), sigHex));
    assert.not.ok(verifyWith({ ...key, scheme: "ecdsa-sha2-nistp256" }, msg, sigHex), "the scheme must match the key");
  } finally {
    t.cleanup();
  }
});

test.run();
