/**
 * Hostile LwM2M 1.1 Send (POST /dp) payloads from a registered client, generated with fast-check
 * and sent over loopback UDP: every Send is answered 2.04 or refused 4.xx with a reason code in
 * the diagnostic payload, never 5.00 and never silence; every refusal is counted under its code;
 * accepted ones become events whose fields come from resource paths; the server keeps serving.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Lwm2mDriver, lwm2mDriverConfig } from "../../drivers/lwm2m/index.js";
import { encodeCbor, type CborValue } from "../../codecs/index.js";
import { isErrorCode } from "../../core/index.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { recordingContext } from "../helpers/lwm2m-client.js";
import { startStrictClient, type StrictClient } from "../helpers/lwm2m-strict-client.js";

const data = tempDir("ridge-lwm2m-send-");
const { ctx, events, counts } = recordingContext(data.dir);
let driver: Lwm2mDriver;
let client: StrictClient;
const outcomes = { accepted: 0, refused: 0 };

test.before(async () => {
  driver = new Lwm2mDriver(lwm2mDriverConfig.parse({ name: "field", listen: "127.0.0.1:0", limits: { maxSendBytes: 4096 } }), []);
  await driver.start(ctx);
  client = await startStrictClient({ server: { host: "127.0.0.1", port: driver.lwm2m.address().port }, endpoint: "hostile-1", values: {} });
  await client.register();
});

test.after(async () => {
  await client?.close();
  await driver?.stop().catch(() => {});
  data.cleanup();
});

async function check(payload: Uint8Array, format: number | undefined): Promise<void> {
  const r = await client.send(payload, format);
  if (r.code === "2.04") {
    outcomes.accepted++;
    return;
  }
  outcomes.refused++;
  assert.ok(["4.00", "4.13", "4.15"].includes(r.code), `answered ${r.code}: ${r.payload}`);
  const code = r.payload.split(":")[0]!;
  assert.ok(isErrorCode(code), `the refusal names a stable code: ${r.payload}`);
}

const path = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 })).map(([a, b, c]) => `/${a}/${b}/${c}`),
  fc.constantFrom("/3303/0/5700", "/3/0/9", "/3/0/", "/", "", "3303/0/5700", "/a/b/c", "/3303/0/5700/0/1"),
  fc.string({ maxLength: 12 }),
);
const anyValue = fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
const record = fc.dictionary(fc.constantFrom("bn", "n", "v", "vs", "vb", "vd", "t", "bt", "bv", "bver", "u", "s", "vlo", "x_", "zz"), fc.oneof(path, anyValue), { maxKeys: 5 });
const pack = fc.oneof(fc.array(record, { maxLength: 6 }), anyValue);

test("arbitrary bytes as SenML JSON, SenML CBOR, or another format: answered, refused with a code, counted", async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(110, 112, 0, 60, 11542, undefined), (b, f) => check(b, f)), { numRuns: 150 });
});

test("generated SenML-shaped JSON packs (wrong types, bad names, must-understand labels, base fields)", async () => {
  await fc.assert(fc.asyncProperty(pack, (p) => check(new TextEncoder().encode(JSON.stringify(p)), 110)), { numRuns: 200 });
});

test("generated SenML-shaped CBOR packs (integer and text labels)", async () => {
  const label = fc.oneof(fc.integer({ min: -7, max: 9 }), fc.constantFrom("vlo", "x_", "n"));
  const cval: fc.Arbitrary<CborValue> = fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 8 }), fc.boolean(), fc.uint8Array({ maxLength: 4 }), path);
  const cpack = fc.array(fc.array(fc.tuple(label, cval), { maxLength: 5 }).map((kv) => new Map<CborValue, CborValue>(kv)), { maxLength: 5 });
  await fc.assert(fc.asyncProperty(cpack, (p) => check(encodeCbor(p), 112)), { numRuns: 200 });
});

test("oversized, and the server still serves: every refusal counted, a valid Send still becomes an event", async () => {
  await check(new Uint8Array(5000).fill(0x20), 110);
  const before = events.length;
  const r = await client.send(new TextEncoder().encode(JSON.stringify([{ n: "/3303/0/5700", v: 12.25 }])), 110);
  assert.is(r.code, "2.04");
  outcomes.accepted++;
  const ev = await waitFor("event after the hostile run", () => events.slice(before).find((e) => e.payload.temperature === 12.25));
  assert.is(ev.device, "hostile-1");
  assert.is(counts.get("lwm2m_send_rejected_total") ?? 0, outcomes.refused);
  assert.is(driver.lwm2m.stats.sendsRejected, outcomes.refused);
  assert.is(driver.lwm2m.stats.sends, outcomes.accepted);
  assert.ok(outcomes.refused > 100, `most hostile Sends are refused (${outcomes.refused})`);
  assert.ok(driver.lwm2m.registrations.byEndpoint("hostile-1"), "still registered");
  for (const e of events.filter((x) => x.meta?.path === "/dp")) assert.ok(Object.keys(e.payload).length > 0);
});

test.run();
