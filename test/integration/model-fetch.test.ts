/**
 * Model cache through a real mosquitto and a loopback HTTP server with Range support: a manifest
 * published while the gateway is offline is fetched when the link returns; an interrupted download
 * resumes with Range; a tampered artifact is rejected and the cached model keeps serving; the
 * switch is atomic and loses no events.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { readlinkSync, existsSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { ed25519 } from "@noble/curves/ed25519.js";
import { startMosquitto, type Mosquitto } from "../../peers/mosquitto.js";
import { freeTcpPort, tempDir, waitFor } from "../../peers/process.js";
import { collect, event, createUplink, makeParts } from "../helpers/cloud.js";
import { signedBytes } from "../../runtime/cloud/index.js";

const sk = ed25519.utils.randomSecretKey();
const pk = Buffer.from(ed25519.getPublicKey(sk)).toString("hex");

function manifest(name: string, version: string, bytes: Buffer, url: string, sha = createHash("sha256").update(bytes).digest("hex")) {
  const m = { name, version, length: bytes.length, sha256: sha, url };
  return { ...m, signature: { alg: "ed25519", key: pk, sig: Buffer.from(ed25519.sign(signedBytes(m), sk)).toString("hex") } };
}

// The HTTP side: files by path; `cutAfter` closes the first response for a path after that many bytes.
const files = new Map<string, Buffer>();
const cutOnce = new Map<string, number>();
const ranges: string[] = [];
let server: Server;
let base: string;
let broker: Mosquitto;
const t = tempDir();

test.before(async () => {
  server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (!body) return void res.writeHead(404).end();
    let start = 0;
    const range = req.headers.range;
    if (range) {
      ranges.push(`${req.url} ${range}`);
      start = Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0);
      res.writeHead(206, { "content-range": `bytes ${start}-${body.length - 1}/${body.length}`, "content-length": body.length - start });
    } else res.writeHead(200, { "content-length": body.length });
    const cut = cutOnce.get(req.url ?? "");
    if (cut !== undefined) {
      cutOnce.delete(req.url ?? "");
      res.write(body.subarray(start, cut));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(body.subarray(start));
  });
  const port = await freeTcpPort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  base = `http://127.0.0.1:${port}`;
  broker = await startMosquitto({ persist: true, maxSeconds: 120 });
});

test.after(async () => {
  server.close();
  await broker.cleanup();
  t.cleanup();
});

function parts() {
  return makeParts({
    dataDir: t.dir,
    config: { gateway: { id: "gw-model" }, cloud: { mqtt: { url: broker.url, version: "5", backoff: { base: 20, cap: 200 } }, models: { trustedKeys: [pk], retry: 200 } } },
  });
}

const v1 = Buffer.from(JSON.stringify({ kind: "zscore", mean: 1, std: 2, pad: "x".repeat(200_000) }));
const v2 = Buffer.from(JSON.stringify({ kind: "zscore", mean: 3, std: 4, pad: "z".repeat(200_000) }));

test("published while offline: fetched when the link returns, resumed after an interruption, activated atomically", async () => {
  // First run: connect once so the broker keeps a session (subscription) for the gateway, then go offline.
  let s = parts();
  let up = await createUplink(s);
  await up.start();
  await waitFor("link up", () => up.link!.connected);
  await new Promise((r) => setTimeout(r, 200)); // the downlink subscription follows CONNACK
  await up.stop();
  s.db.close();

  files.set("/anomaly-1.json", v1);
  cutOnce.set("/anomaly-1.json", 70_000);
  const pub = mqtt.connect(broker.url);
  await new Promise((r) => pub.once("connect", r));
  await pub.publishAsync("ridge/gw-model/down/model/manifest", JSON.stringify(manifest("anomaly", "1.0.0", v1, `${base}/anomaly-1.json`)), { qos: 1 });

  // The link returns: the queued manifest arrives, the download is cut, resumed with Range, verified, activated.
  s = parts();
  const sub = await collect(broker.url, "gw-model");
  up = await createUplink(s);
  let switched = 0;
  up.models.provider.onSwitch(() => switched++);
  await up.start();
  await waitFor("model active", () => up.models.cache.activeVersions().anomaly === "1.0.0", 15_000);
  assert.ok(ranges.some((r) => r.startsWith("/anomaly-1.json bytes=") && !r.endsWith("bytes=0-")), `resumed with Range: ${ranges.join(", ")}`);
  assert.ok(up.models.fetcher.events.some((e) => e.what === "retry"), "the interrupted download was retried");
  const digest = createHash("sha256").update(v1).digest("hex");
  assert.is(readlinkSync(join(t.dir, "models", "current", "anomaly")), join("..", "sha256", digest));
  assert.is(switched, 1);
  assert.equal(Buffer.from(up.models.provider.current("anomaly")!.bytes), v1);
  // The twin's reported state lists active model versions.
  await waitFor("reported models", () => sub.control.some((m) => m.topic === "ridge/gw-model/twin/reported/gw-model" && (JSON.parse(m.payload) as { state: { models?: Record<string, string> } }).state.models?.anomaly === "1.0.0"), 10_000);

  // A tampered v2 (bytes differ from the signed sha256) is rejected; v1 keeps serving; events keep flowing.
  files.set("/anomaly-2.json", Buffer.concat([v2.subarray(0, v2.length - 1), Buffer.from("!")]));
  const sink = up.sink;
  let n = 0;
  const producing = (async () => {
    for (let i = 0; i < 40; i++) {
      await sink.accept(Array.from({ length: 50 }, () => event("m", n++)));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await pub.publishAsync("ridge/gw-model/down/model/manifest", JSON.stringify(manifest("anomaly", "2.0.0", v2, `${base}/anomaly-2.json`)), { qos: 1 });
  await waitFor("v2 rejected", () => up.models.fetcher.events.some((e) => e.version === "2.0.0" && e.what === "rejected"), 15_000);
  assert.match(up.models.fetcher.events.find((e) => e.version === "2.0.0" && e.what === "rejected")!.reason!, /sha256/);
  assert.is(up.models.cache.activeVersions().anomaly, "1.0.0");
  assert.ok(!existsSync(join(t.dir, "models", "sha256", createHash("sha256").update(v2).digest("hex"))));

  // The genuine v2: switched while events flow; none is lost.
  files.set("/anomaly-2.json", v2);
  await pub.publishAsync("ridge/gw-model/down/model/manifest", JSON.stringify(manifest("anomaly", "2.0.0", v2, `${base}/anomaly-2.json`)), { qos: 1 });
  await waitFor("v2 active", () => up.models.cache.activeVersions().anomaly === "2.0.0", 15_000);
  await producing;
  await waitFor("every event delivered", () => sub.ids.size === n, 15_000);
  assert.is(switched, 2);
  assert.equal(Buffer.from(up.models.provider.current("anomaly")!.bytes), v2);
  // rollback keeps the previous version
  assert.ok(up.models.cache.rollback("anomaly"));
  assert.is(up.models.cache.activeVersions().anomaly, "1.0.0");

  // An unsigned manifest is refused without a download.
  await pub.publishAsync("ridge/gw-model/down/model/manifest", JSON.stringify({ ...manifest("anomaly", "3.0.0", v2, `${base}/x`), signature: { alg: "ed25519", key: pk, sig: "00".repeat(64) } }), { qos: 1 });
  await waitFor("v3 refused", () => up.models.fetcher.events.some((e) => e.version === "3.0.0" && e.what === "rejected"), 10_000);

  await up.stop();
  await sub.close();
  await pub.endAsync();
  s.db.close();
});

test("a partial download left by a restart is resumed with Range, not started over", async () => {
  const t2 = tempDir();
  const { writeFileSync, mkdirSync } = await import("node:fs");
  const v3 = Buffer.from(JSON.stringify({ kind: "zscore", mean: 5, std: 6, pad: "q".repeat(120_000) }));
  const digest = createHash("sha256").update(v3).digest("hex");
  // What a previous process left: the wanted manifest in SQLite and 50,000 bytes on disk.
  files.set("/anomaly-3.json", v3);
  let s = makeParts({ dataDir: t2.dir, config: { gateway: { id: "gw-resume" }, cloud: { models: { trustedKeys: [pk], retry: 100 } } } });
  let up = await createUplink(s);
  cutOnce.set("/anomaly-3.json", 50_000);
  assert.is(up.models.fetcher.offer(manifest("anomaly", "3.0.0", v3, `${base}/anomaly-3.json`)), undefined);
  await waitFor("cut", () => up.models.fetcher.events.some((e) => e.what === "retry"), 10_000);
  up.models.fetcher.stop();
  await up.models.fetcher.idle();
  s.db.close();
  mkdirSync(join(t2.dir, "models", "partial"), { recursive: true });
  writeFileSync(join(t2.dir, "models", "partial", `${digest}.part`), v3.subarray(0, 50_000));
  // The next process: resumes from byte 50,000.
  s = makeParts({ dataDir: t2.dir, config: { gateway: { id: "gw-resume" }, cloud: { models: { trustedKeys: [pk], retry: 100 } } } });
  up = await createUplink(s);
  await up.start();
  await waitFor("active", () => up.models.cache.activeVersions().anomaly === "3.0.0", 10_000);
  assert.ok(ranges.includes("/anomaly-3.json bytes=50000-"), ranges.join(", "));
  assert.equal(Buffer.from(up.models.cache.read("anomaly")!), v3);
  await up.stop();
  s.db.close();
  t2.cleanup();
});

test.run();
