// What the engineer on site sees from a real `ridge run`: JSON log lines with each key once (a
// driver logging its own name through its driver logger), `ridge status` with column headers and
// `DEGRADED` once the cloud link has been down past control.cloudDownDegradedAfter, a rejected
// reload in the log, a clear message when attestation is off, and $RIDGE_DATA instead of --data.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { freeTcpPort, tempDir } from "../../peers/process.js";
import { parseStrictJson } from "../../core/strict-json.js";
import { ridge, startGateway } from "../helpers/gateway.js";

const codes = { syntax: "E_OTA_PARSE", duplicateKey: "E_OTA_JSON_DUPLICATE_KEY", depth: "E_OTA_JSON_DEPTH", number: "E_OTA_JSON_NUMBER" } as const;

async function until<T>(what: string, f: () => Promise<T | undefined>, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

test("ridge status, logs, reload rejected, attestation off, RIDGE_DATA", async () => {
  const tmp = tempDir();
  const dataDir = join(tmp.dir, "data");
  const [mqttPort, cloudPort] = [await freeTcpPort(), await freeTcpPort()];
  const gw = await startGateway({
    dataDir,
    config: [
      "gateway: { id: site-gw }",
      "board: sim",
      "log: { level: debug, format: json }",
      "drivers:",
      "  - sim: { name: trail, devices: 2, rateHz: 5 }",
      `  - mqtt: { name: site, broker: embedded, listen: "127.0.0.1:${mqttPort}" }`,
      // nothing listens there: the link stays down
      `cloud: { mqtt: { url: "mqtt://127.0.0.1:${cloudPort}" } }`,
      "control: { cloudDownDegradedAfter: 1s }",
      "",
    ].join("\n"),
  });
  try {
    // status: degraded once the link has been down for a second; column headers; the reason.
    const human = await until("DEGRADED", async () => {
      const r = await ridge(["status"], { RIDGE_DATA: dataDir });
      assert.is(r.code, 0, r.stderr);
      return /DEGRADED/.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(human, /^gateway site-gw .* DEGRADED$/m);
    assert.match(human, /! E_CLOUD_DOWN: the cloud link has been down for \d+ s, longer than control\.cloudDownDegradedAfter/);
    assert.match(human, /^ {2}COMPONENT +STATE +HEALTH +RESTARTS +DETAIL$/m);
    assert.match(human, /^ {2}driver:trail +up +up +0/m);
    const st = (await gw.request("GET", "/status")).body as { healthy: boolean; degraded?: { code: string }[] };
    assert.is(st.healthy, false);
    assert.equal(st.degraded?.map((d) => d.code), ["E_CLOUD_DOWN"]);
    // /healthz (the watchdog's view) is not affected: restarting cannot bring a cloud back.
    assert.is((await gw.request("GET", "/healthz")).status, 200);

    // attestation off: a message that says so, through the API and the CLI.
    const q = await gw.request("POST", "/attest/quote", { nonce: "00112233445566778899aabbccddeeff" });
    assert.is(q.status, 404);
    assert.match(JSON.stringify(q.body), /attestation is off on this gateway: its config has no `attest:` section/);
    const cq = await ridge(["attest", "quote", "--nonce", "00112233445566778899aabbccddeeff"], { RIDGE_DATA: dataDir });
    assert.is(cq.code, 1);
    assert.match(cq.stderr, /attestation is off on this gateway/);
    assert.not.match(cq.stderr, /no route/);
    const other = await gw.request("GET", "/nothing/here");
    assert.match(JSON.stringify(other.body), /no route GET \/nothing\/here/);

    // a rejected reload: exit 2 for the CLI user, and a warning in the gateway's log.
    const bad = await gw.request("POST", "/pipeline/reload", { config: "gateway: [\n" });
    assert.is(bad.status, 400);
    const line = await until("the rejected reload in the log", async () => gw.stderr().split("\n").find((l) => l.includes("pipeline reload rejected")));
    const e = JSON.parse(line) as { level: number; path: string; errors: number; code: string };
    assert.is(e.level, 40);
    assert.is(e.path, "/pipeline/reload");
    assert.ok(e.errors >= 1);
    assert.match(e.code, /^E_CONFIG/);

    // the mqtt driver logs its name through its driver logger: each key once in every line.
    await until("the embedded broker's log line", async () => (gw.stderr().includes("embedded broker listening") ? true : undefined));
    const lines = gw.stderr().split("\n").filter((l) => l.startsWith("{"));
    assert.ok(lines.length > 3);
    for (const l of lines) {
      const r = parseStrictJson(l, { codes, maxDepth: 32 });
      assert.ok(r.ok, `${r.ok ? "" : r.reason}: ${l}`);
    }
    const listening = lines.find((l) => l.includes("embedded broker listening"))!;
    assert.match(listening, /"driver":"site"/);
  } finally {
    await gw.stop("SIGTERM");
    tmp.cleanup();
  }
});

test.run();
