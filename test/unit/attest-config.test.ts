/**
 * The attest config's PCR choice (issue 17 item 1): attest.tpmPcr and the software PCRs refuse
 * 16 and 23 (resettable at locality 0), 17-22 (D-RTM) and anything outside 0-23, through the
 * schema and through `ridge config check`'s loader with file:line:col and the path.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { attestConfig, DEFAULT_TPM_PCR, RESETTABLE_PCRS } from "../../attest/index.js";
import { loadConfig } from "../../runtime/config/load.js";
import { ConfigError } from "../../core/config-errors.js";

const base = "gateway: { id: gw-1 }\nboard: sim\n";

function issues(text: string) {
  try {
    loadConfig({ text, file: "gateway.yaml", env: {} });
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).issues;
  }
  assert.unreachable("config was accepted");
  return [];
}

test("the default TPM PCR is 14, not resettable", () => {
  assert.is(DEFAULT_TPM_PCR, 14);
  assert.is(attestConfig.parse({}).tpmPcr, 14);
  assert.not.ok(RESETTABLE_PCRS.includes(DEFAULT_TPM_PCR));
  assert.equal([...RESETTABLE_PCRS], [16, 17, 18, 19, 20, 21, 22, 23]);
});

test("config check refuses attest.tpmPcr 16 and 23, naming the field and the rule", () => {
  for (const pcr of [16, 23]) {
    const [i, ...rest] = issues(`${base}attest:\n  tpmPcr: ${pcr}\n`);
    assert.is(rest.length, 0);
    assert.is(i!.path, "attest.tpmPcr");
    assert.is(i!.line, 4);
    assert.match(i!.message, new RegExp(`PCR ${pcr} can be reset without a reboot`));
    assert.match(i!.message, /0-15/);
  }
  const [sw] = issues(`${base}attest:\n  pcrs: { model: 23 }\n`);
  assert.is(sw!.path, "attest.pcrs.model");
  assert.match(sw!.message, /PCR 23 can be reset without a reboot/);
});

test("config check refuses every PCR outside 0-15 and accepts every one in it (generated)", () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true, min: -50, max: 50 })), (n) => {
      const good = Number.isInteger(n) && n >= 0 && n <= 15;
      assert.is(attestConfig.safeParse({ tpmPcr: n }).success, good, `tpmPcr ${n}`);
      assert.is(attestConfig.safeParse({ pcrs: { runtime: n } }).success, good, `pcrs.runtime ${n}`);
    }),
    { numRuns: 300 },
  );
  for (const n of [-1, 24, 100]) {
    const [i] = issues(`${base}attest:\n  tpmPcr: ${n}\n`);
    assert.is(i!.path, "attest.tpmPcr");
    assert.match(i!.message, /one of 0-15 .*16-23 can be reset/);
  }
  for (const n of ["\"14\"", "1.5", "null"]) assert.ok(issues(`${base}attest:\n  tpmPcr: ${n}\n`).length > 0, n);
  const { config } = loadConfig({ text: `${base}attest:\n  tpmPcr: 8\n`, file: "gateway.yaml", env: {} });
  assert.is(config.attest?.tpmPcr, 8);
});

test.run();
