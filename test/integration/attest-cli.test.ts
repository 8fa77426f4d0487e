/**
 * End to end through the real CLI and a real gateway process: register the gateway's key, build
 * reference values, challenge (CLI and MQTT through mosquitto with `ridge attest verifier`),
 * verify, audit, and detect a tampered audit trail.
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import mqtt from "mqtt";
import { join } from "node:path";
import Database from "better-sqlite3";
import { tempDir } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";
import { ridge, startGateway } from "../helpers/gateway.js";
import type { RunningGateway } from "../helpers/gateway.js";
import { startMosquitto } from "../../peers/mosquitto.js";
import type { Mosquitto } from "../../peers/mosquitto.js";

const tmp = tempDir("ridge-attest-cli-");
const dataDir = join(tmp.dir, "gw");
const policyFile = join(tmp.dir, "policy.yaml");
const db = join(tmp.dir, "verifier.db");
const test = withPackages(uvuTest, ["mosquitto"]);
let broker: Mosquitto | undefined;
let gw: RunningGateway | undefined;

test.before(async () => {
  broker = await startMosquitto({ maxSeconds: 120 });
  const cloud = broker ? `cloud:\n  mqtt: { url: "${broker.url}" }\n` : "";
  gw = await startGateway({ dataDir, config: `gateway: { id: cli-gw }\nboard: sim\nattest: { signer: sm2 }\n${cloud}` });
});

test.after(async () => {
  await gw?.stop("SIGTERM");
  await broker?.cleanup();
  tmp.cleanup();
});

test("register key + reference values, quote, verify (pass), replay (fail), audit, verify-chain, tamper", async () => {
  const key = await ridge(["attest", "key", "--data", dataDir]);
  assert.is(key.code, 0, key.stderr);
  assert.match(key.stdout, /BEGIN PUBLIC KEY/);
  const log = await ridge(["attest", "log", "--json", "--data", dataDir]);
  assert.is(log.code, 0, log.stderr);
  const events = (JSON.parse(log.stdout) as { events: { component: string; digests: { sm3: string } }[] }).events;
  assert.ok(events.some((e) => e.component === "runtime") && events.some((e) => e.component === "config"));
  const ref = events.map((e) => `  "${e.component}": [{ sm3: "${e.digests.sm3}" }]`).join("\n");
  const pem = key.stdout.trim().split("\n").map((l) => `      ${l}`).join("\n");
  writeFileSync(policyFile, `nonceTtl: 60s\nrequirePcrs: [11, 12]\ngateways:\n  - id: cli-gw\n    key: |\n${pem}\nreference:\n${ref}\n`);

  const nonce = (await ridge(["attest", "nonce", "--policy", policyFile, "--db", db, "--gateway", "cli-gw"])).stdout.trim();
  assert.match(nonce, /^[0-9a-f]{40}$/);
  const evFile = join(tmp.dir, "evidence.json");
  const q = await ridge(["attest", "quote", "--nonce", nonce, "--out", evFile, "--data", dataDir]);
  assert.is(q.code, 0, q.stderr);
  const ok = await ridge(["attest", "verify", "--evidence", evFile, "--policy", policyFile, "--db", db, "--nonce", nonce]);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^PASS gateway cli-gw/);
  const again = await ridge(["attest", "verify", "--evidence", evFile, "--policy", policyFile, "--db", db, "--nonce", nonce, "--json"]);
  assert.is(again.code, 1);
  assert.ok((JSON.parse(again.stdout) as { reasons: { code: string }[] }).reasons.some((r) => r.code === "E_ATTEST_NONCE_REPLAYED"));
  const garbage = join(tmp.dir, "garbage.json");
  writeFileSync(garbage, "\u0000not evidence");
  const g = await ridge(["attest", "verify", "--evidence", garbage, "--policy", policyFile, "--db", db]);
  assert.is(g.code, 1);
  assert.match(g.stdout, /E_ATTEST_MALFORMED/);

  const audit = await ridge(["attest", "audit", "--db", db, "--gateway", "cli-gw", "--since", "1h", "--json"]);
  assert.is(audit.code, 0, audit.stderr);
  const recs = (JSON.parse(audit.stdout) as { records: { verdict: string }[] }).records;
  assert.equal(recs.map((r) => r.verdict), ["pass", "fail"]);
  assert.is((await ridge(["attest", "audit", "verify-chain", "--db", db])).code, 0);

  // usage errors
  assert.is((await ridge(["attest", "verify", "--policy", policyFile])).code, 64);
  assert.is((await ridge(["attest", "nosuch"])).code, 64);
  assert.is((await ridge(["attest", "quote", "--help"])).code, 0);
});

test("ridge attest verifier challenges over MQTT, records the verdict and publishes a signed checkpoint (file outside the data directory, retained on the broker)", async () => {
  assert.ok(broker, "the broker started in before()");
  const outside = tempDir("ridge-attest-checkpoints-");
  try {
    const cpFile = join(outside.dir, "checkpoints.log");
    const retained = mqtt.connect(broker.url, { reconnectPeriod: 0 });
    const seen: string[] = [];
    await new Promise<void>((res, rej) => retained.once("connect", () => res()).once("error", rej));
    retained.on("message", (_t, m) => seen.push(m.toString()));
    await retained.subscribeAsync("ridge/verifier/checkpoint", { qos: 1 });
    const r = await ridge(["attest", "verifier", "--broker", broker.url, "--policy", policyFile, "--db", db, "--every", "30s", "--timeout", "15s", "--rounds", "1", "--checkpoints", cpFile], {}, 45_000);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /PASS gateway cli-gw/);
    const lines = readFileSync(cpFile, "utf8").trim().split("\n");
    assert.ok(lines.length >= 1, "a checkpoint appended to the file");
    const ok = await ridge(["attest", "audit", "verify-chain", "--db", db, "--expect", cpFile]);
    assert.is(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /chain OK: .*extends the checkpoint of \d+/);
    for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((res) => setTimeout(res, 100));
    retained.end(true);
    assert.ok(seen.length >= 1, "the checkpoint is on the broker");
    assert.is(seen[seen.length - 1]!.trim(), lines[lines.length - 1]!.trim(), "the broker holds the file's last checkpoint");
    // a rewrite after the checkpoint: the last record deleted
    const d = new Database(db);
    d.exec("DELETE FROM attest_audit WHERE seq = (SELECT max(seq) FROM attest_audit)");
    d.close();
    const cut = await ridge(["attest", "audit", "verify-chain", "--db", db, "--expect", cpFile]);
    assert.is(cut.code, 1, cut.stdout + cut.stderr);
    // the chain head already says so; a head rewritten too is E_ATTEST_AUDIT_REWRITTEN (test/fault/attest-audit-rewrite.test.ts)
    assert.match(cut.stdout + cut.stderr, /E_ATTEST_AUDIT_(TRUNCATED|REWRITTEN)/, cut.stdout + cut.stderr);
  } finally {
    outside.cleanup();
  }
});

test("ridge ota install refuses the data directory of a running gateway (it owns the updates there)", async () => {
  const r = await ridge(["ota", "install", join(tmp.dir, "no-repo"), "--board", "sim", "--data", dataDir]);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /E_OTA_GATEWAY_RUNNING: a gateway is running on .*POST http:\/\/ridge\/ota\/check/);
});

test("attest keygen never overwrites a private key without --force", async () => {
  const out = join(tmp.dir, "keys");
  assert.is((await ridge(["attest", "keygen", "--alg", "sm2", "--out", out])).code, 0);
  const first = readFileSync(join(out, "sm2.key"), "utf8");
  const again = await ridge(["attest", "keygen", "--alg", "sm2", "--out", out]);
  assert.is(again.code, 2, again.stdout + again.stderr);
  assert.match(again.stderr, /E_ATTEST_KEY_EXISTS: .*sm2\.key exists; refusing to overwrite a private key/);
  assert.is(readFileSync(join(out, "sm2.key"), "utf8"), first);
  assert.is((await ridge(["attest", "keygen", "--alg", "sm2", "--out", out, "--force"])).code, 0);
  assert.not.equal(readFileSync(join(out, "sm2.key"), "utf8"), first);
});

test("audit verify-chain detects an edited record", async () => {
  const d = new Database(db);
  d.exec("UPDATE attest_audit SET verdict = 'pass' WHERE seq = 2");
  d.close();
  const r = await ridge(["attest", "audit", "verify-chain", "--db", db]);
  assert.is(r.code, 1);
  assert.match(r.stdout, /BROKEN at record 2: E_ATTEST_AUDIT_EDITED/);
});

test.run();
