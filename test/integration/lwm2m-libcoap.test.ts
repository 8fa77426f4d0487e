/**
 * Interop of the LwM2M server's CoAP layer with an independent stack: libcoap's coap-client
 * registers, updates and de-registers, and sends malformed and bad requests; the server answers
 * with the right codes, counts the garbage, and keeps serving.
 */
import { test as uvuTest } from "uvu";
import * as assert from "uvu/assert";
import { createSocket } from "node:dgram";
import { Lwm2mDriver, lwm2mDriverConfig } from "../../drivers/lwm2m/index.js";
import { recordingContext } from "../helpers/lwm2m-client.js";
import { freeUdpPort, tempDir, waitFor } from "../../peers/process.js";
import { runCoapClient } from "../helpers/libcoap.js";
import { withPackages } from "../../peers/required-packages.js";

const test = withPackages(uvuTest, ["libcoap3-bin"]);
const data = tempDir("ridge-lwm2m-libcoap-");
const { ctx, events, counts } = recordingContext(data.dir);
let port = 0;
let driver: Lwm2mDriver;

test.before(async () => {
  port = await freeUdpPort();
  driver = new Lwm2mDriver(lwm2mDriverConfig.parse({ name: "field", listen: `127.0.0.1:${port}`, requestTimeout: "2s" }), []);
  await driver.start(ctx);
});

test.after(async () => {
  await driver.stop();
  data.cleanup();
});

test("coap-client registers (link-format payload) and gets 2.01 with a Location-Path", async () => {
  const r = await runCoapClient(["-v", "7", "-m", "post", "-t", "40", "-e", '</>;rt="oma.lwm2m",</1/0>,</3/0>,</3303/0>', `coap://127.0.0.1:${port}/rd?ep=libcoap-dev&lt=60&lwm2m=1.1&b=U`]);
  const reg = driver.lwm2m.registrations.byEndpoint("libcoap-dev");
  assert.ok(reg, r.stdout + r.stderr);
  assert.equal(reg!.objects, ["/1/0", "/3/0", "/3303/0"]);
  assert.match(r.stdout + r.stderr, /2\.01/);
  assert.match(r.stdout + r.stderr, new RegExp(`rd.*${reg!.id}|${reg!.id}`));
  const ev = await waitFor("online", () => events.find((e) => e.device === "libcoap-dev" && e.payload.online === true));
  assert.is(ev.kind, "state");
  // Update with the location, then De-register
  const u = await runCoapClient(["-v", "7", "-m", "post", `coap://127.0.0.1:${port}/rd/${reg!.id}?lt=90`]);
  assert.match(u.stdout + u.stderr, /2\.04/);
  assert.is(driver.lwm2m.registrations.byEndpoint("libcoap-dev")?.lifetime, 90);
  const d = await runCoapClient(["-v", "7", "-m", "delete", `coap://127.0.0.1:${port}/rd/${reg!.id}`]);
  assert.match(d.stdout + d.stderr, /2\.02/);
  assert.is(driver.lwm2m.registrations.byEndpoint("libcoap-dev"), undefined);
});

test("bad requests from coap-client get CoAP error codes", async () => {
  const noEp = await runCoapClient(["-v", "7", "-m", "post", `coap://127.0.0.1:${port}/rd?lt=60`]);
  assert.match(noEp.stdout + noEp.stderr, /4\.00/);
  const badLinks = await runCoapClient(["-v", "7", "-m", "post", "-e", "<<<not links", `coap://127.0.0.1:${port}/rd?ep=x`]);
  assert.match(badLinks.stdout + badLinks.stderr, /4\.00/);
  const unknownUpdate = await runCoapClient(["-v", "7", "-m", "post", `coap://127.0.0.1:${port}/rd/nope`]);
  assert.match(unknownUpdate.stdout + unknownUpdate.stderr, /4\.04/);
  // an unknown critical option (odd number 2049) → 4.02 Bad Option (RFC 7252 §5.4.1)
  const crit = await runCoapClient(["-v", "7", "-m", "post", "-O", "2049,0x01", `coap://127.0.0.1:${port}/rd?ep=crit`]);
  assert.match(crit.stdout + crit.stderr, /4\.02/);
  assert.is(driver.lwm2m.registrations.byEndpoint("crit"), undefined);
});

test("malformed datagrams are counted and the server keeps serving", async () => {
  const s = createSocket("udp4");
  const garbage = [Buffer.from("hello"), Buffer.from([0x80, 1, 0, 0]), Buffer.from([0x49, 1, 0, 0]), Buffer.from([0x40, 1, 0, 0, 0xff]), Buffer.from([0x40, 1, 0, 0, 0xf0])];
  for (const g of garbage) await new Promise<void>((r) => s.send(g, port, "127.0.0.1", () => r()));
  s.close();
  await waitFor("malformed counted", () => (driver.lwm2m.stats.malformed >= garbage.length ? true : undefined));
  assert.ok((counts.get("lwm2m_malformed_total") ?? 0) >= garbage.length);
  const r = await runCoapClient(["-v", "7", "-m", "post", "-e", "</3/0>", `coap://127.0.0.1:${port}/rd?ep=after-garbage&lt=60`]);
  assert.match(r.stdout + r.stderr, /2\.01/);
  assert.ok(driver.lwm2m.registrations.byEndpoint("after-garbage"));
});

test.run();
