/**
 * Firmware push through Object 5 to the test client in its own process: the artifact is verified,
 * served block-wise at a Package URI from the server socket, Update is executed and the Update
 * Result followed to success. A corrupted artifact is never served.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fail, systemClock } from "../../core/index.js";
import { Lwm2mDriver, lwm2mDriverConfig, runFirmwarePush } from "../../drivers/lwm2m/index.js";
import { verifyAsOtaTarget } from "../../runtime/drivers.js";
import { freeUdpPort, tempDir, waitFor } from "../../peers/process.js";
import { recordingContext, startLwm2mClient, type TestLwm2mClient } from "../helpers/lwm2m-client.js";

const data = tempDir("ridge-lwm2m-fw-");
const { ctx, events } = recordingContext(data.dir);
let port = 0;
let vetoNext = false;
let driver: Lwm2mDriver;
let client: TestLwm2mClient;
const image = new Uint8Array(randomBytes(5000)); // > 1024: several Block2 blocks
const sha256 = createHash("sha256").update(image).digest("hex");
const file = join(data.dir, "fw.bin");

test.before(async () => {
  writeFileSync(file, image);
  port = await freeUdpPort();
  driver = new Lwm2mDriver(lwm2mDriverConfig.parse({ name: "field", listen: `127.0.0.1:${port}`, requestTimeout: "3s", firmware: { timeout: "20s", pollEvery: "100ms" } }), [], {
    // the runtime's OTA target check, with a veto switch for one test
    verifyFirmware: (a, bytes) => (vetoNext ? fail("E_LWM2M_FIRMWARE_VERIFY", "vetoed by the OTA verifier") : verifyAsOtaTarget(a, bytes)),
  });
  await driver.start(ctx);
  client = await startLwm2mClient({ server: `127.0.0.1:${port}`, endpoint: "fw-dev", lifetime: 60 });
  client.send({ cmd: "register" });
  await client.waitEvent("registered", (e) => e.event === "registered");
});

test.after(async () => {
  await client.stop();
  await driver.stop();
  data.cleanup();
});

test("push runs to Update Result 1 (success); the device got exactly the verified bytes", async () => {
  const s = await driver.pushFirmware("fw-dev", { file, length: image.length, sha256, version: "2.0.0" });
  assert.is(s.phase, "succeeded", JSON.stringify(s));
  assert.is(s.updateResult, 1);
  const dl = await client.waitEvent("downloaded", (e) => e.event === "downloaded");
  assert.is(dl.length, image.length);
  assert.is(dl.sha256, sha256);
  const ev = await waitFor("firmware event", () => events.find((e) => e.kind === "state" && (e.payload.firmware as { phase?: string } | undefined)?.phase === "succeeded"));
  assert.is(ev.device, "fw-dev");
  assert.equal((await driver.lwm2m.read("fw-dev", "/3/0/3"))[0]?.value, "2.0.0");
  const st = driver.status() as { firmware: { phase: string }[] };
  assert.is(st.firmware[0]?.phase, "succeeded");
  // the Package URI is withdrawn after the push
  const uri = client.events.find((e) => e.event === "written" && e.path === "/5/0/1") as { values: [string, string][] } | undefined;
  assert.ok(uri);
  const path = new URL(uri!.values[0]![1]).pathname;
  const r = await driver.lwm2m.request("fw-dev", "GET", "/3/0/0"); // sanity: device still reachable
  assert.is(r.code, "2.05");
  assert.match(path, /^\/fw\/[0-9a-f]{16}$/);
});

test("a corrupted artifact is never served: push fails before any Package URI is written", async () => {
  const before = client.events.length;
  const bad = new Uint8Array(image);
  bad[100]! ^= 0xff;
  writeFileSync(file, bad);
  const s = await driver.pushFirmware("fw-dev", { file, length: image.length, sha256 });
  assert.is(s.phase, "failed");
  assert.is(s.code, "E_LWM2M_FIRMWARE_VERIFY");
  const after = client.events.slice(before);
  assert.not.ok(after.some((e) => e.event === "written" && e.path === "/5/0/1"));
  assert.not.ok(after.some((e) => e.event === "downloaded"));
  const failed = events.filter((e) => (e.payload.firmware as { code?: string } | undefined)?.code === "E_LWM2M_FIRMWARE_VERIFY");
  assert.is(failed.length, 1);
});

test("the injected verifier (OTA) can veto an artifact whose hash matches", async () => {
  writeFileSync(file, image);
  vetoNext = true;
  const s = await driver.pushFirmware("fw-dev", { file, length: image.length, sha256 });
  vetoNext = false;
  assert.is(s.code, "E_LWM2M_FIRMWARE_VERIFY");
  assert.match(s.reason ?? "", /vetoed/);
});

test("every signed hash must match (a wrong sha512 fails even with the right sha256)", async () => {
  writeFileSync(file, image);
  const s = await driver.pushFirmware("fw-dev", { file, length: image.length, sha256, hashes: { sha256, sha512: "00".repeat(64) } });
  assert.is(s.code, "E_LWM2M_FIRMWARE_VERIFY");
  assert.match(s.reason ?? "", /E_OTA_HASH/);
  const wrongLength = await driver.pushFirmware("fw-dev", { file, length: image.length + 1, sha256 });
  assert.match(wrongLength.reason ?? "", /E_OTA_LENGTH/);
});

test("a driver built without a verifier serves nothing", async () => {
  writeFileSync(file, image);
  let served = false;
  const port = {
    serve: () => ((served = true), { uri: "coap://127.0.0.1/fw", withdraw() {} }),
    writeText: async () => {},
    readInt: async () => 0,
    execute: async () => {},
  };
  const s = await runFirmwarePush({ endpoint: "fw-dev", device: "fw-dev", phase: "verifying", startedAt: 0 }, { file, length: image.length, sha256 }, port, undefined, systemClock, { timeoutMs: 1000, pollEveryMs: 10 }, () => {});
  assert.is(s.phase, "failed");
  assert.is(s.code, "E_LWM2M_FIRMWARE_VERIFY");
  assert.not.ok(served);
});

test("a missing artifact file fails with a code, not a crash", async () => {
  const s = await driver.pushFirmware("fw-dev", { file: join(data.dir, "nope.bin"), length: 1, sha256: "00" });
  assert.is(s.code, "E_LWM2M_FIRMWARE_READ");
});

test.run();
