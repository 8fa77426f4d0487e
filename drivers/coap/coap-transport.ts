/**
 * The CoAP client transport behind the plain CoAP driver, as a small interface so the driver's
 * polling/backoff logic is tested with a fake, and its production implementation: our own client
 * on the CoAP message codec (codecs/coap-message) over node:dgram, with node-dtls-client for
 * coaps:// (DTLS-PSK). Each transport owns its endpoints (one socket per origin), requests and
 * observations: no process-wide state, so a device that stopped answering stalls no other, and
 * `reset(origin)` drops exactly that origin's socket, requests and observations.
 *
 * RFC 7252 §4.2: a CON request is retransmitted after ACK_TIMEOUT × (1..ACK_RANDOM_FACTOR),
 * doubling, at most MAX_RETRANSMIT times. §5.2: a response comes piggybacked on the ACK or
 * separately (a CON response is acknowledged; §4.5: a duplicate is acknowledged again, handled once).
 * RFC 7641 §3.6: a notification for a token we no longer observe is answered with RST, which
 * ends the observation on the device. RFC 7959 §2.4: a GET's later Block2 blocks are requested
 * until M=0.
 */
import { randomBytes, randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { dtls } from "node-dtls-client";
import { RidgeError, type ErrorCode } from "../../core/index.js";
import { CoapOption, CoapType, codeString, decodeBlockOption, decodeCoapMessage, encodeBlockOption, encodeCoapMessage, encodeUint, optionValues, pathOptions, queryOptions, type CoapMessage, type CoapOptionValue } from "../../codecs/index.js";
import { guardDtlsSockets } from "./dtls-guard.js";

export interface CoapResult {
  /** "2.05" */
  code: string;
  payload: Uint8Array;
}

export interface CoapTransport {
  setPsk(hostname: string, identity: string, key: string): void;
  get(url: string): Promise<CoapResult>;
  observe(url: string, onNotify: (r: CoapResult) => void): Promise<void>;
  stopObserving(url: string): void;
  /** Drop connections and pending requests to an origin (a device that stopped answering). */
  reset(origin: string): void;
}

// RFC 7252 §4.8 transmission parameters.
const ACK_TIMEOUT_MS = 2000;
const ACK_RANDOM_FACTOR = 1.5;
const MAX_RETRANSMIT = 4;
const GET = 0x01;
/** Message ids of CON/NON messages received lately, for §4.5 deduplication. */
const RECENT_IDS = 64;

/** A datagram socket bound to one origin: plain UDP (connected) or a DTLS session. */
interface Datagrams {
  /** Never throws: a failed send reaches `onError`. */
  send(bytes: Uint8Array, onError: (e: Error) => void): void;
}

/** Calls `send`, turning a synchronous throw (a socket closed under us) into `onError`. */
function guardedSend(send: (done: (e: Error | null | undefined) => void) => void, onError: (e: Error) => void): void {
  try {
    send((e) => e && onError(e));
  } catch (e) {
    onError(e instanceof Error ? e : new Error(String(e)));
  }
}

interface Exchange {
  url: string;
  token: Uint8Array;
  /** The CON in flight (until ACKed, or answered), for retransmission and ACK/RST matching. */
  mid: number | undefined;
  bytes: Uint8Array;
  timer: NodeJS.Timeout | undefined;
  tries: number;
  /** Block2 blocks received so far (RFC 7959), for a plain GET. */
  body: Uint8Array[];
  observe: boolean;
  onMessage(m: CoapMessage, payload: Uint8Array): void;
  onError(e: RidgeError): void;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** `coap://host:port` (URL.origin is "null" for schemes WHATWG does not know). */
const originOf = (u: URL) => `${u.protocol}//${u.host}`;
const coapError = (code: ErrorCode, url: string, what: string) => new RidgeError(code, `CoAP ${url}: ${what}`);

class Endpoint {
  private readonly socket: Promise<Datagrams>;
  private readonly byToken = new Map<string, Exchange>();
  private readonly byMid = new Map<number, Exchange>();
  private readonly recent: number[] = [];
  private nextMid = randomInt(0x10000);
  private closed = false;
  private closeSocket: () => void = () => undefined;

  constructor(
    private readonly origin: URL,
    psk: { identity: string; key: string } | undefined,
    private readonly onDead: () => void,
  ) {
    this.socket = this.open(psk);
    this.socket.catch((e: unknown) => this.die(coapError("E_COAP_TRANSPORT", originOf(origin), e instanceof Error ? e.message : String(e))));
  }

  private open(psk: { identity: string; key: string } | undefined): Promise<Datagrams> {
    const host = this.origin.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(this.origin.port || (this.origin.protocol === "coaps:" ? 5684 : 5683));
    const type = isIPv6(host) ? "udp6" : "udp4";
    return new Promise<Datagrams>((resolve, reject) => {
      if (this.origin.protocol === "coaps:") {
        if (!psk) return reject(new Error("no DTLS pre-shared key for this host"));
        guardDtlsSockets();
        const s = dtls.createSocket({ type, address: host, port, psk: { [psk.identity]: psk.key } });
        this.closeSocket = () => s.close();
        s.on("message", (msg: Buffer) => this.receive(msg));
        s.on("error", (e: Error) => (reject(e), this.die(coapError("E_COAP_TRANSPORT", originOf(this.origin), e.message))));
        s.on("close", () => this.die(coapError("E_COAP_TRANSPORT", originOf(this.origin), "DTLS session closed")));
        s.once("connected", () => resolve({ send: (bytes, onError) => guardedSend((done) => s.send(Buffer.from(bytes), done), onError) }));
      } else {
        const s = createSocket(type);
        this.closeSocket = () => s.close();
        s.on("message", (msg) => this.receive(msg));
        s.on("error", (e) => (reject(e), this.die(coapError("E_COAP_TRANSPORT", originOf(this.origin), e.message))));
        s.connect(port, host, () => resolve({ send: (bytes, onError) => guardedSend((done) => s.send(bytes, done), onError) }));
      }
    });
  }

  request(url: URL, observe: boolean, onMessage: Exchange["onMessage"], onError: Exchange["onError"]): void {
    const x: Exchange = { url: url.href, token: randomBytes(4), mid: undefined, bytes: new Uint8Array(0), timer: undefined, tries: 0, body: [], observe, onMessage, onError };
    this.byToken.set(hex(x.token), x);
    this.sendGet(x, url, observe ? [{ number: CoapOption.Observe, value: encodeUint(0) }] : []);
  }

  /** Forget an exchange: its later notifications get RST. */
  forget(x: Exchange): void {
    this.settle(x);
    this.byToken.delete(hex(x.token));
  }

  observing(url: string): Exchange | undefined {
    for (const x of this.byToken.values()) if (x.observe && x.url === url) return x;
    return undefined;
  }

  /** Close the socket and fail everything still pending on it. */
  die(e: RidgeError): void {
    if (this.closed) return;
    this.closed = true;
    this.onDead();
    for (const x of this.byToken.values()) {
      this.settle(x);
      x.onError(e);
    }
    this.byToken.clear();
    try {
      this.closeSocket();
    } catch {
      /* already closed */
    }
  }

  private sendGet(x: Exchange, url: URL, extra: CoapOptionValue[]): void {
    const query = url.search ? url.search.slice(1).split("&").filter((q) => q.length > 0) : [];
    const options = [...pathOptions(decodeURIComponent(url.pathname)), ...queryOptions(query), ...extra];
    x.mid = this.mid();
    x.bytes = encodeCoapMessage({ type: CoapType.CON, code: GET, messageId: x.mid, token: x.token, options, payload: new Uint8Array(0) });
    x.tries = 0;
    this.byMid.set(x.mid, x);
    this.transmit(x, ACK_TIMEOUT_MS * (1 + Math.random() * (ACK_RANDOM_FACTOR - 1)));
  }

  private transmit(x: Exchange, wait: number): void {
    const bytes = x.bytes;
    this.socket.then(
      (s) => {
        if (this.closed || !this.byToken.has(hex(x.token))) return;
        s.send(bytes, (e) => this.die(coapError("E_COAP_TRANSPORT", x.url, e.message)));
        x.timer = setTimeout(() => {
          if (++x.tries > MAX_RETRANSMIT) {
            this.forget(x);
            x.onError(coapError("E_COAP_TIMEOUT", x.url, `no answer after ${MAX_RETRANSMIT} retransmissions`));
          } else this.transmit(x, wait * 2);
        }, wait);
      },
      () => undefined,
    );
  }

  /** The CON is answered: no more retransmissions. */
  private settle(x: Exchange): void {
    if (x.timer) clearTimeout(x.timer);
    x.timer = undefined;
    if (x.mid !== undefined) this.byMid.delete(x.mid);
    x.mid = undefined;
  }

  private mid(): number {
    this.nextMid = (this.nextMid + 1) & 0xffff;
    return this.nextMid;
  }

  private reply(type: CoapType, messageId: number): void {
    const bytes = encodeCoapMessage({ type, code: 0, messageId, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) });
    this.socket.then((s) => !this.closed && s.send(bytes, () => undefined)).catch(() => undefined);
  }

  private receive(datagram: Uint8Array): void {
    const d = decodeCoapMessage(new Uint8Array(datagram));
    if (!d.ok || this.closed) return; // not CoAP: nothing to answer (§4.2: silently ignore)
    const m = d.value;
    if (m.type === CoapType.ACK || m.type === CoapType.RST) {
      const x = this.byMid.get(m.messageId);
      if (!x) return;
      this.settle(x);
      if (m.type === CoapType.RST) {
        this.forget(x);
        x.onError(coapError("E_COAP_RESET", x.url, "the device answered with Reset"));
      } else if (m.code !== 0) this.answer(x, m); // piggybacked; an empty ACK: the answer comes separately
      return;
    }
    // CON or NON from the device: a separate response or a notification (§5.2.2), or a request.
    const duplicate = this.recent.includes(m.messageId);
    if (!duplicate) {
      this.recent.push(m.messageId);
      if (this.recent.length > RECENT_IDS) this.recent.shift();
    }
    const x = m.code >> 5 >= 2 ? this.byToken.get(hex(m.token)) : undefined;
    if (!x) {
      this.reply(CoapType.RST, m.messageId);
      return;
    }
    if (m.type === CoapType.CON) this.reply(CoapType.ACK, m.messageId);
    if (duplicate) return;
    this.settle(x);
    this.answer(x, m);
  }

  private answer(x: Exchange, m: CoapMessage): void {
    const block = optionValues(m, CoapOption.Block2)[0];
    if (!x.observe && block !== undefined) {
      const b = decodeBlockOption(block);
      if (!b.ok) {
        this.forget(x);
        x.onError(coapError("E_COAP_BLOCK_OPTION", x.url, b.reason));
        return;
      }
      x.body.push(m.payload);
      if (b.value.more) {
        const next = [{ number: CoapOption.Block2, value: encodeBlockOption({ num: b.value.num + 1, more: false, size: b.value.size }) }];
        this.sendGet(x, new URL(x.url), next);
        return;
      }
      const payload = Buffer.concat(x.body);
      this.forget(x);
      x.onMessage(m, new Uint8Array(payload));
      return;
    }
    // a GET, or an observation the device declined (no Observe option): one answer, done
    if (!x.observe || optionValues(m, CoapOption.Observe).length === 0) this.forget(x);
    x.onMessage(m, m.payload);
  }
}

/** The production transport: one per driver. */
export class CoapClientTransport implements CoapTransport {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly psk = new Map<string, { identity: string; key: string }>();

  setPsk(hostname: string, identity: string, key: string): void {
    this.psk.set(hostname, { identity, key });
  }

  get(url: string): Promise<CoapResult> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      this.endpoint(u).request(u, false, (m, payload) => resolve({ code: codeString(m.code), payload }), reject);
    });
  }

  observe(url: string, onNotify: (r: CoapResult) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      let first = true;
      this.endpoint(u).request(
        u,
        true,
        (m, payload) => {
          onNotify({ code: codeString(m.code), payload });
          if (first) (first = false), resolve();
        },
        (e) => first && ((first = false), reject(e)),
      );
    });
  }

  stopObserving(url: string): void {
    const u = new URL(url);
    const ep = this.endpoints.get(originOf(u));
    const x = ep?.observing(u.href);
    if (ep && x) ep.forget(x);
  }

  reset(origin: string): void {
    const key = originOf(new URL(origin));
    this.endpoints.get(key)?.die(coapError("E_COAP_RESET", key, "connection reset by the driver"));
  }

  private endpoint(u: URL): Endpoint {
    const key = originOf(u);
    let ep = this.endpoints.get(key);
    if (!ep) {
      const created: Endpoint = new Endpoint(new URL(key), this.psk.get(u.hostname), () => {
        if (this.endpoints.get(key) === created) this.endpoints.delete(key);
      });
      ep = created;
      this.endpoints.set(key, ep);
    }
    return ep;
  }
}
