/**
 * The plain CoAP driver's own client (drivers/coap/coap-transport) against a scripted device on a
 * loopback UDP socket, for the exchanges libcoap does not show on demand: a separate response
 * (RFC 7252 §5.2.2) acknowledged by the client, a lost request retransmitted (§4.2), a duplicate
 * handled once (§4.5), Block2 reassembly (RFC 7959), RST for a notification nobody observes any more
 * (RFC 7641 §3.6), and reset() failing what is pending with a RidgeError.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createSocket, type RemoteInfo } from "node:dgram";
import { isRidgeError } from "../../core/index.js";
import { CoapClientTransport } from "../../drivers/coap/index.js";
import { CoapOption, CoapType, codeFromString, decodeBlockOption, decodeCoapMessage, encodeBlockOption, encodeCoapMessage, encodeUint, optionValues, uriPath, type CoapMessage } from "../../codecs/index.js";
import { waitFor } from "../../peers/process.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A device whose every answer is scripted by the test; it records what it received. */
async function device(answer: (m: CoapMessage, reply: (m: Omit<CoapMessage, "token"> & { token?: Uint8Array }) => void, seen: number) => void) {
  const sock = createSocket("udp4");
  const received: CoapMessage[] = [];
  let peer: RemoteInfo | undefined;
  const send = (m: CoapMessage) => peer && sock.send(encodeCoapMessage(m), peer.port, peer.address);
  sock.on("message", (buf, rinfo) => {
    const d = decodeCoapMessage(buf);
    if (!d.ok) return;
    peer = rinfo;
    received.push(d.value);
    const m = d.value;
    answer(m, (r) => send({ ...r, token: r.token ?? m.token }), received.length);
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  return { url: `coap://127.0.0.1:${sock.address().port}`, received, send, close: () => sock.close() };
}

const content = (m: CoapMessage, payload: string, options: CoapMessage["options"] = []): CoapMessage => ({ type: CoapType.ACK, code: codeFromString("2.05"), messageId: m.messageId, token: m.token, options, payload: utf8(payload) });

test("piggybacked answer; a GET carries the URL's path", async () => {
  const dev = await device((m, reply) => reply(content(m, uriPath(m))));
  const t = new CoapClientTransport();
  const r = await t.get(`${dev.url}/sensors/temp`);
  assert.is(r.code, "2.05");
  assert.is(text(r.payload), "/sensors/temp");
  t.reset(dev.url);
  dev.close();
});

test("separate response: empty ACK first, then a CON answer the client acknowledges", async () => {
  const dev = await device((m, reply) => {
    if (m.type !== CoapType.CON) return;
    reply({ type: CoapType.ACK, code: 0, messageId: m.messageId, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) });
    setTimeout(() => reply({ type: CoapType.CON, code: codeFromString("2.05"), messageId: 0x7000, options: [], payload: utf8("later") }), 50);
  });
  const t = new CoapClientTransport();
  const r = await t.get(`${dev.url}/slow`);
  assert.is(text(r.payload), "later");
  const ack = await waitFor("the client's ACK", () => dev.received.find((m) => m.type === CoapType.ACK && m.messageId === 0x7000));
  assert.is(ack.code, 0);
  t.reset(dev.url);
  dev.close();
});

test("a lost request is retransmitted with the same message id; a duplicate answer is handled once", async () => {
  const dev = await device((m, reply, seen) => {
    if (seen === 1) return; // the first transmission is lost
    reply(content(m, "ok"));
    reply(content(m, "ok")); // duplicated on the way
  });
  const t = new CoapClientTransport();
  const r = await t.get(`${dev.url}/x`);
  assert.is(text(r.payload), "ok");
  assert.is(dev.received.length, 2);
  assert.is(dev.received[0]!.messageId, dev.received[1]!.messageId);
  t.reset(dev.url);
  dev.close();
});

test("Block2: the later blocks are asked for until M=0, and the body reassembled", async () => {
  const body = "0123456789abcdef".repeat(5); // 80 bytes in 32-byte blocks
  const dev = await device((m, reply) => {
    const asked = decodeBlockOption(optionValues(m, CoapOption.Block2)[0] ?? new Uint8Array(0));
    const num = asked.ok ? asked.value.num : 0;
    const chunk = body.slice(num * 32, num * 32 + 32);
    reply(content(m, chunk, [{ number: CoapOption.Block2, value: encodeBlockOption({ num, more: (num + 1) * 32 < body.length, size: 32 }) }]));
  });
  const t = new CoapClientTransport();
  const r = await t.get(`${dev.url}/big`);
  assert.is(text(r.payload), body);
  assert.is(dev.received.length, 3);
  t.reset(dev.url);
  dev.close();
});

test("observe: notifications arrive; after stopObserving the next one is answered with RST", async () => {
  let observer: CoapMessage | undefined;
  const dev = await device((m, reply) => {
    if (m.type !== CoapType.CON || m.code !== 0x01) return;
    observer = m;
    reply(content(m, "v1", [{ number: CoapOption.Observe, value: encodeUint(1) }]));
  });
  const t = new CoapClientTransport();
  const got: string[] = [];
  await t.observe(`${dev.url}/obs`, (r) => got.push(text(r.payload)));
  const notify = (mid: number, v: string) => dev.send({ type: CoapType.CON, code: codeFromString("2.05"), messageId: mid, token: observer!.token, options: [{ number: CoapOption.Observe, value: encodeUint(mid) }], payload: utf8(v) });
  notify(0x100, "v2");
  await waitFor("v2", () => (got.includes("v2") ? true : undefined));
  assert.ok(dev.received.some((m) => m.type === CoapType.ACK && m.messageId === 0x100), "a CON notification is acknowledged");
  t.stopObserving(`${dev.url}/obs`);
  notify(0x101, "v3");
  await waitFor("RST", () => dev.received.find((m) => m.type === CoapType.RST && m.messageId === 0x101));
  assert.equal(got, ["v1", "v2"]);
  t.reset(dev.url);
  dev.close();
});

test("reset() fails a pending request with a RidgeError; the next request opens a new socket", async () => {
  let answer = false;
  const dev = await device((m, reply) => answer && reply(content(m, "back")));
  const t = new CoapClientTransport();
  const pending = t.get(`${dev.url}/hang`);
  await waitFor("request sent", () => (dev.received.length > 0 ? true : undefined));
  t.reset(dev.url);
  const e = await pending.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(isRidgeError(e, "E_COAP_RESET"), String(e));
  answer = true;
  assert.is(text((await t.get(`${dev.url}/again`)).payload), "back");
  t.reset(dev.url);
  dev.close();
});

test.run();
