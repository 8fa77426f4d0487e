/** Mutual TLS to a real mosquitto with certificates made by openssl in the test: works; wrong CA, untrusted and expired client certificates give clear errors and retries. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { startMosquitto, type Mosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { captureLog, collect, event, makeExpiredClientCert, createUplink, makeParts } from "../helpers/cloud.js";

let broker: Mosquitto;
test.before(async () => {
  broker = await startMosquitto({ tls: true, maxSeconds: 120 });
});
test.after(async () => {
  await broker.cleanup();
});

const fast = { backoff: { base: 20, cap: 100 }, connectTimeout: 3000 };

async function failing(mqttCfg: Record<string, unknown>) {
  const t = tempDir();
  const cap = captureLog();
  const s = makeParts({ dataDir: t.dir, config: { cloud: { mqtt: { url: broker.tlsUrl, ...fast, ...mqttCfg } } }, log: cap.log });
  const up = await createUplink(s);
  await up.start();
  await up.sink.accept([event("a", 1)]);
  // Several failed attempts: the link retries and never gives up or crashes.
  await waitFor("three failed attempts", async () => {
    const m = /ridge_uplink_connect_failures_total\{code="[A-Z_]+"\} (\d+)/g;
    let n = 0;
    for (const x of (await s.metrics.text()).matchAll(m)) n += Number(x[1]);
    return n >= 3;
  }, 15_000);
  const st = up.link!.status() as { state: string; lastError?: { code: string; message: string } };
  await up.stop();
  assert.is(up.queue.depth(), 1, "the event stays queued");
  s.db.close();
  t.cleanup();
  return { st, records: cap.records };
}

test("mutual TLS: events arrive", async () => {
  const c = broker.certs!;
  const t = tempDir();
  const s = makeParts({ dataDir: t.dir, config: { cloud: { mqtt: { url: broker.tlsUrl, ca: c.caFile, cert: c.clientCertFile, key: c.clientKeyFile, ...fast } } } });
  const sub = await collect(broker.url);
  const up = await createUplink(s);
  await up.start();
  await up.sink.accept([event("a", 1), event("a", 2, "alarm")]);
  await waitFor("delivered", () => sub.ids.size === 2, 10_000);
  await waitFor("acked", () => up.queue.depth() === 0);
  await up.stop();
  await sub.close();
  s.db.close();
  t.cleanup();
});

test("wrong CA: E_CLOUD_TLS_UNTRUSTED, retried", async () => {
  const c = broker.certs!;
  const { st, records } = await failing({ ca: join(c.caFile, "..", "evil-ca.crt"), cert: c.clientCertFile, key: c.clientKeyFile });
  assert.is(st.lastError?.code, "E_CLOUD_TLS_UNTRUSTED");
  assert.match(st.lastError!.message, /evil-ca\.crt/);
  // logged once per distinct reason, not once per retry
  assert.is(records.filter((r) => r.code === "E_CLOUD_TLS_UNTRUSTED").length, 1);
});

test("a client certificate the broker does not trust: refused, retried", async () => {
  const c = broker.certs!;
  const { st } = await failing({ ca: c.caFile, cert: c.untrustedCertFile, key: c.untrustedKeyFile });
  assert.ok(["E_CLOUD_TLS_REJECTED", "E_CLOUD_CLOSED"].includes(st.lastError!.code), st.lastError!.code);
  assert.match(st.lastError!.message, /evil\.crt/);
});

test("an expired client certificate: E_CLOUD_CERT_EXPIRED logged with its date, retried", async () => {
  const c = broker.certs!;
  const old = makeExpiredClientCert(join(c.caFile, ".."));
  const { records } = await failing({ ca: c.caFile, cert: old.certFile, key: old.keyFile });
  const r = records.find((x) => x.code === "E_CLOUD_CERT_EXPIRED");
  assert.ok(r, "expiry reported");
  assert.match(String(r!.msg), /expired on 2020-01-02/);
});

test("a missing key file: E_CLOUD_TLS_FILE naming the file, retried (it may be provisioned later)", async () => {
  const c = broker.certs!;
  const { st } = await failing({ ca: c.caFile, cert: c.clientCertFile, key: "/nonexistent/id.key" });
  assert.is(st.lastError?.code, "E_CLOUD_TLS_FILE");
  assert.match(st.lastError!.message, /\/nonexistent\/id\.key/);
});

test.run();
