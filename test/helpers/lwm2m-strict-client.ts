/**
 * A raw-UDP LwM2M client that behaves like Eclipse Wakaama's towards requests that arrive before
 * its registration is acknowledged: it records them and answers nothing (no ACK, no response), so
 * the server only gets an answer to a CoAP retransmission. It records every datagram it receives,
 * in order, so a test can assert what came first and that no request had to be retransmitted
 * (the same message id twice). IPv4 or IPv6 (`host: "::1"`). Built on our CoAP codec, no library
 * in between, so what it records is what crossed the socket.
 *
 * After registration it answers: GET (Read, Observe with Observe=0 → 2.05 with an Observe option),
 * PUT with a query (Write-Attributes → 2.04). `send()` does a LwM2M 1.1 Send (POST /dp).
 */
import { createSocket, type Socket } from "node:dgram";
import { randomBytes, randomInt } from "node:crypto";
import { CoapOption, CoapType, codeString, decodeCoapMessage, encodeCoapMessage, encodeUint, optionUint, optionValues, pathOptions, queryOptions, uriPath, type CoapMessage } from "../../codecs/index.js";
import { waitFor } from "../../peers/process.js";

export interface Received {
  seq: number;
  type: "CON" | "NON" | "ACK" | "RST";
  code: string;
  messageId: number;
  path: string;
  /** a request, received before this client had its Register acknowledged (ignored) */
  ignored: boolean;
  /** a request whose message id was seen before: a retransmission */
  retransmission: boolean;
}

export interface StrictClient {
  port: number;
  received: Received[];
  registered(): boolean;
  location(): string;
  register(o?: { lifetime?: number }): Promise<string>;
  /** forget the registration on this side only (a client that will register again) */
  unregisterLocally(): void;
  send(payload: Uint8Array, format: number | undefined): Promise<{ code: string; payload: string }>;
  /** requests answered after registration, by path */
  answered: string[];
  close(): Promise<void>;
}

const TYPES = ["CON", "NON", "ACK", "RST"] as const;

export async function startStrictClient(o: { server: { host: string; port: number }; endpoint: string; values?: Record<string, number | string> }): Promise<StrictClient> {
  const v6 = o.server.host.includes(":");
  const socket: Socket = createSocket(v6 ? "udp6" : "udp4");
  await new Promise<void>((r) => socket.bind(0, v6 ? "::1" : "127.0.0.1", () => r()));
  const values = new Map(Object.entries(o.values ?? { "/3303/0/5700": 21.5, "/3/0/9": 87 }));
  const received: Received[] = [];
  const answered: string[] = [];
  const seenIds = new Set<number>();
  let isRegistered = false;
  let loc = "";
  let mid = randomInt(0x10000);
  let registerId = -1;
  const waiting = new Map<number, (m: CoapMessage) => void>();
  const transmit = (m: CoapMessage) => socket.send(encodeCoapMessage(m), o.server.port, o.server.host);
  const reply = (req: CoapMessage, code: number, payload: Uint8Array, options: CoapMessage["options"] = []) =>
    transmit({ type: CoapType.ACK, code, messageId: req.messageId, token: req.token, options, payload });

  socket.on("message", (buf) => {
    const d = decodeCoapMessage(new Uint8Array(buf));
    if (!d.ok) return;
    const m = d.value;
    const isRequest = m.code >= 1 && m.code <= 31;
    const retransmission = isRequest && seenIds.has(m.messageId);
    if (isRequest) seenIds.add(m.messageId);
    received.push({ seq: received.length, type: TYPES[m.type]!, code: codeString(m.code), messageId: m.messageId, path: uriPath(m), ignored: isRequest && !isRegistered, retransmission });
    if (!isRequest) {
      // the 2.01 to our Register: registered from this datagram on (Wakaama's state change)
      if (m.type === CoapType.ACK && m.code === 0x41 && m.messageId === registerId) isRegistered = true;
      if (m.type === CoapType.ACK || m.type === CoapType.RST) waiting.get(m.messageId)?.(m);
      return;
    }
    // Wakaama: requests before the Register is acknowledged are dropped
    if (!isRegistered) return;
    const path = uriPath(m);
    answered.push(`${codeString(m.code)} ${path}`);
    if (m.code === 0x01) {
      const observe = optionUint(m, CoapOption.Observe);
      const value = values.get(path);
      if (value === undefined) return reply(m, 0x84, new Uint8Array(0));
      const opts = [...(observe === 0 ? [{ number: CoapOption.Observe, value: encodeUint(1) }] : []), { number: CoapOption.ContentFormat, value: encodeUint(0) }];
      return reply(m, 0x45, new TextEncoder().encode(String(value)), opts);
    }
    if (m.code === 0x03) return reply(m, 0x44, new Uint8Array(0)); // Write-Attributes / Write: 2.04
    return reply(m, 0x85, new Uint8Array(0)); // 4.05
  });

  /** One CON request; retransmitted (RFC 7252 §4.2, shortened) until its ACK. */
  const request = (code: number, path: string, query: string[], payload: Uint8Array, format?: number) =>
    new Promise<CoapMessage>((resolve, reject) => {
      const id = (mid = (mid + 1) & 0xffff);
      if (path === "/rd") registerId = id;
      const m: CoapMessage = {
        type: CoapType.CON,
        code,
        messageId: id,
        token: randomBytes(4),
        options: [...pathOptions(path), ...(format === undefined ? [] : [{ number: CoapOption.ContentFormat, value: encodeUint(format) }]), ...queryOptions(query)].sort((a, b) => a.number - b.number),
        payload,
      };
      let tries = 0;
      const timer = setInterval(() => (++tries > 4 ? (clearInterval(timer), waiting.delete(id), reject(new Error(`no ACK to ${path}`))) : transmit(m)), 1000);
      waiting.set(id, (ack) => {
        clearInterval(timer);
        waiting.delete(id);
        resolve(ack);
      });
      transmit(m);
    });

  return {
    port: socket.address().port,
    received,
    answered,
    registered: () => isRegistered,
    location: () => loc,
    unregisterLocally() {
      isRegistered = false;
    },
    async register(r = {}) {
      // Wakaama: "registering" until the 2.01 arrives; requests meanwhile are dropped
      isRegistered = false;
      const instances = [...new Set([...values.keys()].map((p) => p.split("/").slice(0, 3).join("/")))].map((p) => `<${p}>`);
      const links = [`</>;rt="oma.lwm2m";ct="0 110 112"`, ...instances].join(",");
      const ack = await request(0x02, "/rd", [`ep=${o.endpoint}`, `lt=${r.lifetime ?? 60}`, "lwm2m=1.1", "b=U"], new TextEncoder().encode(links), 40);
      if (codeString(ack.code) !== "2.01") throw new Error(`Register answered ${codeString(ack.code)}`);
      loc = "/" + optionValues(ack, CoapOption.LocationPath).map((b) => Buffer.from(b).toString()).join("/");
      isRegistered = true;
      return loc;
    },
    async send(payload, format) {
      const ack = await request(0x02, "/dp", [], payload, format);
      return { code: codeString(ack.code), payload: Buffer.from(ack.payload).toString() };
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** Wait until `fn` holds, on the client's own record. */
export const until = <T>(what: string, fn: () => T | undefined | false, ms = 10_000) => waitFor(what, fn, ms);
