/** Signed model manifests: Ed25519 (RFC 8032) over canonical JSON; hostile input is {ok:false}, never a throw. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { ed25519 } from "@noble/curves/ed25519.js";
import { compatible, signedBytes, verifyManifest, ed25519Verifier } from "../../runtime/cloud/model-manifest.js";
import { canonicalJson } from "../../core/index.js";

// RFC 8032 §7.1 TEST 1: the empty message.
test("Ed25519 verifier: RFC 8032 test 1", () => {
  const pk = Buffer.from("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "hex");
  const sig = Buffer.from("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b", "hex");
  assert.is(ed25519Verifier.verify("ed25519", pk, new Uint8Array(0), sig), true);
  assert.is(ed25519Verifier.verify("ed25519", pk, new Uint8Array([1]), sig), false);
  assert.is(ed25519Verifier.verify("sm2-sm3", pk, new Uint8Array(0), sig), false);
});

test("canonical JSON sorts keys and drops undefined", () => {
  assert.is(canonicalJson({ b: 1, a: [true, { d: null, c: "x" }], u: undefined }), '{"a":[true,{"c":"x","d":null}],"b":1}');
});

const sk = ed25519.utils.randomSecretKey();
const pkHex = Buffer.from(ed25519.getPublicKey(sk)).toString("hex");
function signed(m: Record<string, unknown>) {
  const sig = ed25519.sign(signedBytes(m), sk);
  return { ...m, signature: { alg: "ed25519", key: pkHex, sig: Buffer.from(sig).toString("hex") } };
}
const base = { name: "anomaly", version: "1.0.0", length: 10, sha256: "a".repeat(64), url: "http://127.0.0.1/m.json" };

test("a signed manifest verifies; any change does not", () => {
  const m = signed(base);
  assert.ok(verifyManifest(m, [pkHex]).ok);
  const r1 = verifyManifest({ ...m, length: 11 }, [pkHex]);
  assert.equal(r1, { ok: false, code: "E_MODEL_MANIFEST", reason: "signature: does not verify" });
  const r2 = verifyManifest(m, ["00".repeat(32)]);
  assert.is(r2.ok, false);
  assert.is(verifyManifest({ ...m, sha256: "zz" }, [pkHex]).ok, false);
});

test("compatibility by arch and board", () => {
  const m = { ...signed(base), compat: { arch: ["arm64"] } } as never;
  assert.is(compatible(m, { name: "sim", arch: "x64" }).ok, false);
  assert.is(compatible(m, { name: "sim", arch: "arm64" }).ok, true);
});

test("hostile manifests never throw", () => {
  fc.assert(
    fc.property(fc.anything(), (x) => {
      const r = verifyManifest(x, [pkHex]);
      return r.ok === false && typeof r.reason === "string";
    }),
    { numRuns: 1000 },
  );
  const m = signed(base) as Record<string, unknown>;
  fc.assert(
    fc.property(fc.string(), fc.string(), (k, sig) => verifyManifest({ ...m, signature: { alg: "ed25519", key: k, sig } }, [pkHex, k]).ok === false),
  );
});

test("with the shared attest/crypto verifier: P-256 and SM2-SM3 signed manifests verify too", async () => {
  const attest = await import("../../attest/index.js");
  const verifier = { verify: (alg: string, k: Uint8Array, m: Uint8Array, sig: Uint8Array) => attest.isSigAlg(alg) && attest.verify(alg, k, m, sig) };
  for (const alg of ["ecdsa-p256-sha256", "sm2-sm3"] as const) {
    const kp = attest.generateKeyPair(alg);
    const key = Buffer.from(kp.publicKey).toString("hex");
    const sig = Buffer.from(attest.sign(alg, kp.privateKey, signedBytes(base))).toString("hex");
    const m = { ...base, signature: { alg, key, sig } };
    assert.ok(verifyManifest(m, [key], verifier).ok, alg);
    assert.is(verifyManifest({ ...m, version: "1.0.1" }, [key], verifier).ok, false);
  }
});

test.run();
