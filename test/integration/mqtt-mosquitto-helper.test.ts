/** The mosquitto test helper itself: plain, mTLS, passwords, persistence across restart, kill -9. */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { startMosquitto } from "../../peers/mosquitto.js";
import { waitFor } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";

const test = withPackages(uvuTest, ["mosquitto", "openssl"]);

async function connect(url: string, opts: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("error", reject);
    c.once("close", () => reject(new Error("closed before connect")));
  });
  return c;
}

test("plain + mTLS listener; untrusted client certificate refused", async () => {
  const b = await startMosquitto({ tls: true });
  try {
    const certs = b.certs!;
    const sub = await connect(b.url);
    const got: string[] = [];
    sub.on("message", (t, p) => got.push(`${t} ${p.toString()}`));
    await sub.subscribeAsync("t/#", { qos: 1 });
    const pub = await connect(b.tlsUrl!, {
      ca: readFileSync(certs.caFile), cert: readFileSync(certs.clientCertFile), key: readFileSync(certs.clientKeyFile),
    });
    await pub.publishAsync("t/x", "hello", { qos: 1 });
    await waitFor("message", () => got.length === 1);
    assert.equal(got[0], "t/x hello");
    await pub.endAsync();
    let refused = false;
    try {
      const evil = await connect(b.tlsUrl!, {
        ca: readFileSync(certs.caFile), cert: readFileSync(certs.untrustedCertFile), key: readFileSync(certs.untrustedKeyFile),
      });
      await evil.endAsync(true);
    } catch {
      refused = true;
    }
    assert.ok(refused, "untrusted client cert accepted");
    await sub.endAsync();
  } finally {
    await b.cleanup();
  }
});

test("password file: wrong password refused", async () => {
  const b = await startMosquitto({ users: { alice: "s3cret" } });
  try {
    const ok = await connect(b.url, { username: "alice", password: "s3cret" });
    await ok.endAsync();
    let refused = false;
    try {
      await connect(b.url, { username: "alice", password: "nope" });
    } catch {
      refused = true;
    }
    assert.ok(refused);
  } finally {
    await b.cleanup();
  }
});

test("persistence survives restart; kill stops the broker itself", async () => {
  const b = await startMosquitto({ persist: true });
  try {
    const c1 = await connect(b.url);
    await c1.publishAsync("cfg/r", "keep", { qos: 1, retain: true });
    await c1.endAsync();
    await b.restart();
    const c2 = await connect(b.url);
    const got: string[] = [];
    c2.on("message", (_t, p) => got.push(p.toString()));
    await c2.subscribeAsync("cfg/r");
    await waitFor("retained", () => got.length === 1);
    assert.equal(got[0], "keep");
    await c2.endAsync(true);
    const pid = b.pid();
    assert.ok(pid);
    await b.kill();
    assert.not.ok(b.running());
    let alive = true;
    try { process.kill(pid!, 0); } catch { alive = false; }
    assert.not.ok(alive, "mosquitto still alive after kill");
  } finally {
    await b.cleanup();
  }
});

test.run();
