/** Policy files: YAML with located errors, key files relative to the policy, wildcard references; config schema. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { attestConfig, generateKeyPair, loadPolicy, policyFrom, publicKeyToPem, referenceFor } from "../../attest/index.js";
import { ConfigError } from "../../core/config-errors.js";
import { isRidgeError } from "../../core/index.js";
import { tempDir } from "../../peers/process.js";

const tmp = tempDir("ridge-attest-policy-");
test.after(() => tmp.cleanup());
const kp = generateKeyPair("sm2-sm3");

test("a YAML policy with a keyFile relative to it loads", () => {
  mkdirSync(join(tmp.dir, "keys"));
  writeFileSync(join(tmp.dir, "keys", "gw.pub"), publicKeyToPem("sm2-sm3", kp.publicKey));
  const f = join(tmp.dir, "policy.yaml");
  writeFileSync(f, `nonceTtl: 90s\nminRuntimeVersion: 0.2.0\ngateways:\n  - { id: gw-1, keyFile: keys/gw.pub, mode: gm }\nreference:\n  runtime: [{ version: 0.2.0, sm3: "${"ab".repeat(32)}" }]\n  "driver:*": [{ any: true }]\n`);
  const p = loadPolicy(f);
  assert.is(p.nonceTtlMs, 90_000);
  assert.is(p.gateways.get("gw-1")!.alg, "sm2-sm3");
  assert.is(p.gateways.get("gw-1")!.sm2Id, "1234567812345678");
  assert.ok(referenceFor(p, "driver:modbus")?.[0]?.any);
  assert.is(referenceFor(p, "model:x"), undefined);
});

test("policy errors name the line and field", () => {
  const f = join(tmp.dir, "bad.yaml");
  writeFileSync(f, `gateways:\n  - { id: gw-1 }\nalgorithms: [rsa]\n`);
  try {
    loadPolicy(f);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match((e as Error).message, /bad\.yaml:3/);
  }
  try {
    loadPolicy(join(tmp.dir, "missing.yaml"));
    assert.unreachable();
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_POLICY"));
  }
  try {
    policyFrom({ gateways: [{ id: "a", key: "not a pem" }] });
    assert.unreachable();
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_KEY_FORMAT"), String(e));
  }
  const ed = generateKeyPair("ed25519");
  try {
    policyFrom({ gateways: [{ id: "a", key: publicKeyToPem("ed25519", ed.publicKey) }] });
    assert.unreachable();
  } catch (e) {
    assert.ok(isRidgeError(e, "E_ATTEST_POLICY"));
  }
});

test("the gateway's attest config: defaults and strictness", () => {
  const c = attestConfig.parse({});
  assert.equal(c, { signer: "sm2", id: "1234567812345678", tpm: "auto", tpmPcr: 14, pcrs: { runtime: 11, config: 12, model: 13, driver: 14 } });
  assert.not.ok(attestConfig.safeParse({ signer: "rsa" }).success);
  assert.not.ok(attestConfig.safeParse({ tpmPcr: 24 }).success);
  assert.not.ok(attestConfig.safeParse({ unknown: 1 }).success);
});

test.run();
