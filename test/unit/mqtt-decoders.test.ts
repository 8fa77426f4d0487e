/** Pure pieces of the MQTT driver: payload decoders, topic patterns, frame meter, token bucket, password hashes, config. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  decodePayload,
  filterCovers,
  fillTopic,
  hashPassword,
  MqttFrameMeter,
  mqttDeviceConfig,
  mqttDriverConfig,
  sniffFormat,
  TopicPattern,
  topicMatches,
  verifyPassword,
} from "../../drivers/mqtt/index.js";
import { TokenBuckets } from "../../drivers/mqtt/rate-limiter.js";
import { FakeClock } from "../../core/clock.js";

const enc = (s: string) => new TextEncoder().encode(s);

test("payload: bare number", () => {
  assert.equal(decodePayload("number", enc(" 42.5\n"), 1000), { ok: true, value: [{ ts: 1000, payload: { value: 42.5 } }] });
  assert.equal(decodePayload("number", enc("-1e3"), 0), { ok: true, value: [{ ts: 0, payload: { value: -1000 } }] });
  for (const bad of ["", "abc", "1,5", "NaN", "Infinity", "1e999", "0x10", "1 2"]) assert.not.ok(decodePayload("number", enc(bad), 0).ok, bad);
});

test("payload: JSON object with id and ts (ms or ISO)", () => {
  assert.equal(decodePayload("json", enc('{"id":"x-1","ts":5,"a":1}'), 0), { ok: true, value: [{ id: "x-1", ts: 5, payload: { a: 1 } }] });
  const iso = decodePayload("json", enc('{"ts":"2024-01-01T00:00:00Z","a":1}'), 0);
  assert.ok(iso.ok && iso.value[0]!.ts === Date.UTC(2024, 0, 1));
  for (const bad of ["[1]", "1", "null", '{"id":5}', '{"ts":"yesterday"}', '{"ts":-1}', "{", "\u00ff"]) assert.not.ok(decodePayload("json", enc(bad), 0).ok, bad);
  const deep = "[".repeat(100) + "]".repeat(100);
  assert.not.ok(decodePayload("json", enc(`{"a":${deep}}`), 0).ok);
});

test("payload: SenML groups records by time into readings, keys relative to bn", () => {
  const r = decodePayload("senml-json", enc('[{"bn":"pump-3:","bt":1700000000,"n":"flow","u":"l/min","v":12},{"n":"run","vb":true},{"n":"flow","t":10,"v":13}]'), 0);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value, [
    { ts: 1_700_000_000_000, payload: { flow: 12, run: true }, meta: { format: "senml", bn: "pump-3:", "unit.flow": "l/min" } },
    { ts: 1_700_000_010_000, payload: { flow: 13 }, meta: { format: "senml", bn: "pump-3:" } },
  ]);
  const rel = decodePayload("senml-json", enc('[{"n":"t","v":1,"t":-2}]'), 10_000);
  assert.ok(rel.ok && rel.value[0]!.ts === 8000, "relative time against the receive clock");
});

test("payload: SenML names that are Object.prototype's (__proto__, constructor) are plain keys", () => {
  const r = decodePayload("senml-json", enc('[{"bn":"pump-3:","bt":1,"n":"__proto__","v":1},{"n":"constructor","v":2},{"n":"flow","v":3}]'), 0);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(r.value.length, 1, "one time, one reading");
  const p = r.value[0]!.payload;
  assert.equal(Object.keys(p), ["__proto__", "constructor", "flow"]);
  assert.is(Object.getPrototypeOf(p), Object.prototype);
  assert.is(JSON.stringify(p), '{"__proto__":1,"constructor":2,"flow":3}');
});

test("payload: auto sniffs the format", () => {
  assert.is(sniffFormat(enc(" [")), "senml-json");
  assert.is(sniffFormat(enc("{")), "json");
  assert.is(sniffFormat(Uint8Array.of(0x81)), "senml-cbor");
  assert.is(sniffFormat(enc("12")), "number");
  assert.is(sniffFormat(new Uint8Array(0)), "number");
});

test("fuzz: decodePayload never throws, whatever the format", () => {
  fc.assert(
    fc.property(fc.constantFrom("auto", "json", "senml-json", "senml-cbor", "number") as fc.Arbitrary<"auto">, fc.uint8Array({ maxLength: 300 }), (f, b) => {
      decodePayload(f, b, 0);
      return true;
    }),
    { numRuns: 3000 },
  );
});

test("topic patterns: match, filter, wildcard coverage", () => {
  const p = new TopicPattern("devices/{device}/telemetry");
  assert.is(p.match("devices/d1/telemetry"), "d1");
  assert.is(p.match("devices/d1/telemetry/x"), undefined);
  assert.is(p.match("devices//telemetry"), undefined);
  assert.is(p.match("devices/d1"), undefined);
  assert.is(p.filter(), "devices/+/telemetry");
  assert.is(p.filter("d1"), "devices/d1/telemetry");
  const q = new TopicPattern("site/+/{device}/#");
  assert.is(q.match("site/north/d7/a/b"), "d7");
  assert.is(q.match("site/north/d7"), "d7");
  assert.ok(topicMatches("a/+/c", "a/b/c"));
  assert.ok(topicMatches("a/#", "a"));
  assert.not.ok(topicMatches("#", "$SYS/x"));
  assert.ok(filterCovers("devices/d1/cmd/#", "devices/d1/cmd/+"));
  assert.ok(filterCovers("devices/d1/cmd/#", "devices/d1/cmd/valve"));
  assert.not.ok(filterCovers("devices/d1/cmd/#", "devices/+/cmd/#"));
  assert.not.ok(filterCovers("devices/d1/cmd/+", "devices/d1/cmd/#"));
  assert.is(fillTopic("devices/{device}/cmd/{point}", "d1", "valve"), "devices/d1/cmd/valve");
  assert.is(fillTopic("devices/{device}/cmd/{point}", "d1"), "devices/d1/cmd");
});

test("property: a filter covers the topics it covers (filterCovers ⇒ topicMatches)", () => {
  const level = fc.constantFrom("a", "b", "+");
  fc.assert(
    fc.property(fc.array(level, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.array(fc.constantFrom("a", "b"), { minLength: 1, maxLength: 5 }), (ls, hash, topic) => {
      const outer = [...ls, ...(hash ? ["#"] : [])].join("/");
      const t = topic.join("/");
      if (filterCovers(outer, t)) return topicMatches(outer, t);
      return true;
    }),
  );
});

test("frame meter: oversize and malformed headers, chunks split anywhere", () => {
  // CONNECT of 18 bytes, PUBLISH of 5 + 200 bytes body, then a PUBLISH announcing 5000 bytes
  const small = Uint8Array.of(0x10, 16, ...new Array(16).fill(0));
  const mid = Uint8Array.of(0x30, 0xc8, 0x01, ...new Array(200).fill(0x41));
  const big = Uint8Array.of(0x30, 0x88, 0x27);
  const all = Uint8Array.from([...small, ...mid, ...big]);
  for (let cut = 0; cut <= all.length; cut++) {
    const m = new MqttFrameMeter(1024);
    const a = m.feed(all.subarray(0, cut));
    const b = m.feed(all.subarray(cut));
    const verdict = a.ok ? b : a;
    assert.equal(verdict, { ok: false, reason: "oversize", size: 1 + 2 + 5000 }, `cut ${cut}`);
  }
  const m = new MqttFrameMeter(1024);
  assert.equal(m.feed(Uint8Array.of(...small, ...mid)), { ok: true });
  assert.equal(new MqttFrameMeter(1 << 20).feed(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff)), { ok: false, reason: "malformed" });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }), (b) => typeof new MqttFrameMeter(64).feed(b).ok === "boolean"));
});

test("token bucket with a fake clock: burst, then the sustained rate", async () => {
  const clock = new FakeClock(0);
  const b = new TokenBuckets(2, 3, () => clock.monotonic());
  assert.equal([b.take("c"), b.take("c"), b.take("c"), b.take("c")], [true, true, true, false]);
  await clock.advance(500);
  assert.equal([b.take("c"), b.take("c")], [true, false]);
  assert.ok(b.take("other"));
  await clock.advance(10_000);
  assert.equal([b.take("c"), b.take("c"), b.take("c"), b.take("c")], [true, true, true, false], "refill capped at the burst");
});

test("password hashes: verify, wrong password, malformed hashes answer false", async () => {
  const h = await hashPassword("s3cret", { ln: 8 }, new Uint8Array(16).fill(7));
  assert.match(h, /^\$scrypt\$ln=8,r=8,p=1\$/);
  assert.ok(await verifyPassword("s3cret", h));
  assert.not.ok(await verifyPassword("s3cret!", h));
  for (const bad of ["", "plain", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA", "$scrypt$ln=8,r=8,p=1$AAAA$AAAA", h.replace("ln=8", "ln=0"), h.slice(0, -4)]) {
    assert.not.ok(await verifyPassword("s3cret", bad), bad);
  }
  assert.is(await hashPassword("s3cret", { ln: 8 }, new Uint8Array(16).fill(7)), h, "deterministic for a given salt");
});

test("config: defaults, client mode needs a url, bad patterns and hashes are config errors", async () => {
  const c = mqttDriverConfig.parse({ name: "site" });
  assert.is(c.broker, "embedded");
  assert.is(c.listen, "127.0.0.1:1883");
  assert.is(c.topics.length, 3);
  assert.is(c.command, "devices/{device}/cmd/{point}");
  assert.is(c.limits.maxPacket, 65536);
  assert.not.ok(mqttDriverConfig.safeParse({ name: "x", broker: "client" }).success);
  assert.not.ok(mqttDriverConfig.safeParse({ name: "x", topics: [{ pattern: "devices/+/telemetry" }] }).success);
  assert.not.ok(mqttDriverConfig.safeParse({ name: "x", topics: [{ pattern: "a/#/{device}" }] }).success);
  assert.not.ok(mqttDriverConfig.safeParse({ name: "x", auth: { users: { u: "plaintext" } } }).success);
  assert.not.ok(mqttDriverConfig.safeParse({ name: "x", unknownKey: 1 }).success);
  assert.ok(mqttDriverConfig.safeParse({ name: "x", auth: { users: { u: await hashPassword("p", { ln: 4 }) } }, limits: { maxPacket: "16KiB", connectTimeout: "5s" } }).success);
  assert.not.ok(mqttDeviceConfig.safeParse({ id: "a/b", driver: "x" }).success);
  assert.ok(mqttDeviceConfig.safeParse({ id: "pump-3", driver: "x", command: "pumps/{device}/set" }).success);
});

test.run();
