/**
 * `ridge attest verify` through the real CLI on evidence made in-process by a software attester:
 * without --db it says that no audit record was written (with --db it does not, and the record is
 * there); an evidence file over the 1 MiB limit is refused from its size alone, before any of it is
 * read (a sparse 256 MiB file, so nothing is written to disk either).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, existsSync, ftruncateSync, openSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EVIDENCE_MAX_BYTES } from "../../attest/index.js";
import { tempDir } from "../../peers/process.js";
import { ridge } from "../helpers/gateway.js";
import { basePolicy, makeGateway } from "../helpers/attest-fixture.js";

const tmp = tempDir("ridge-attest-verify-cli-");
const policyFile = join(tmp.dir, "policy.json");
const nonce = "00112233445566778899aabbccddeeff";
let evidenceFile = "";

test.before(async () => {
  const gw = await makeGateway("sm2-sm3");
  writeFileSync(policyFile, JSON.stringify(basePolicy(gw.pem)));
  evidenceFile = join(tmp.dir, "evidence.json");
  writeFileSync(evidenceFile, JSON.stringify(await gw.attester.quote(Uint8Array.from(Buffer.from(nonce, "hex")))));
});

test.after(() => tmp.cleanup());

const NO_RECORD = /^no audit record was written \(no --db given\)$/m;

test("without --db: PASS, and a line says no audit record was written (stdout; stderr with --json)", async () => {
  const r = await ridge(["attest", "verify", "--evidence", evidenceFile, "--policy", policyFile, "--nonce", nonce]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^PASS gateway gw-1/);
  assert.match(r.stdout, NO_RECORD);

  const j = await ridge(["attest", "verify", "--evidence", evidenceFile, "--policy", policyFile, "--nonce", nonce, "--json"]);
  assert.is(j.code, 0, j.stdout + j.stderr);
  assert.is((JSON.parse(j.stdout) as { ok: boolean }).ok, true); // stdout stays one JSON document
  assert.match(j.stderr, NO_RECORD);

  // a failing verdict says it too
  const f = await ridge(["attest", "verify", "--evidence", evidenceFile, "--policy", policyFile, "--nonce", "ffeeddccbbaa99887766554433221100"]);
  assert.is(f.code, 1, f.stdout + f.stderr);
  assert.match(f.stdout, /^FAIL gateway gw-1/);
  assert.match(f.stdout, /E_ATTEST_NONCE_MISMATCH/);
  assert.match(f.stdout, NO_RECORD);
});

test("with --db: no such line, and the verdict is in the audit trail", async () => {
  const db = join(tmp.dir, "verifier.db");
  const r = await ridge(["attest", "verify", "--evidence", evidenceFile, "--policy", policyFile, "--nonce", nonce, "--db", db]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^PASS gateway gw-1 .*\(audit #1\)/);
  assert.not.match(r.stdout + r.stderr, /no audit record/);
  const audit = await ridge(["attest", "audit", "--db", db, "--json"]);
  assert.is(audit.code, 0, audit.stderr);
  assert.equal((JSON.parse(audit.stdout) as { records: { verdict: string; gateway: string }[] }).records.map((x) => [x.gateway, x.verdict]), [["gw-1", "pass"]]);
});

test("a sparse 256 MiB evidence file is refused from its size: E_ATTEST_MALFORMED naming the file and the limit, nothing recorded", async () => {
  const big = join(tmp.dir, "huge-evidence.json");
  const fd = openSync(big, "w");
  ftruncateSync(fd, 256 * 1024 * 1024);
  closeSync(fd);
  assert.ok(statSync(big).blocks * 512 < 1024 * 1024, "the test file is sparse");
  const db = join(tmp.dir, "huge.db");
  const r = await ridge(["attest", "verify", "--evidence", big, "--policy", policyFile, "--nonce", nonce, "--db", db]);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^error E_ATTEST_MALFORMED: /m);
  assert.ok(r.stderr.includes(big), r.stderr);
  assert.ok(r.stderr.includes(`${256 * 1024 * 1024} bytes`), r.stderr);
  assert.ok(r.stderr.includes(`${EVIDENCE_MAX_BYTES}-byte (1 MiB) limit`), r.stderr);
  assert.is(r.stdout, "");
  assert.not.ok(existsSync(db), "refused before the verifier database was opened: no audit record");

  // one byte over the limit is refused too; exactly at the limit it is read (and judged: not JSON)
  writeFileSync(big, new Uint8Array(EVIDENCE_MAX_BYTES + 1).fill(0x20));
  const over = await ridge(["attest", "verify", "--evidence", big, "--policy", policyFile]);
  assert.is(over.code, 1);
  assert.match(over.stderr, /^error E_ATTEST_MALFORMED: evidence file .* is 1048577 bytes, over the 1048576-byte/m);
  writeFileSync(big, new Uint8Array(EVIDENCE_MAX_BYTES).fill(0x20));
  const at = await ridge(["attest", "verify", "--evidence", big, "--policy", policyFile]);
  assert.is(at.code, 1, at.stdout + at.stderr);
  assert.match(at.stdout, /^FAIL /);
  assert.match(at.stdout, /E_ATTEST_MALFORMED: evidence is not JSON/);
  assert.match(at.stdout, NO_RECORD);

  const missing = await ridge(["attest", "verify", "--evidence", join(tmp.dir, "nope.json"), "--policy", policyFile]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /^error E_ATTEST_EVIDENCE_FILE: cannot read .*nope\.json/m);
});

test.run();
