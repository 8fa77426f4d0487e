/**
 * The CoAP client transport behind the plain CoAP driver, as a small interface so the driver's
 * polling/backoff logic is tested with a fake and run with node-coap-client (CoAP over UDP and
 * DTLS-PSK) in production.
 */
import { CoapClient } from "node-coap-client";
import { Origin } from "node-coap-client/build/lib/Origin.js";
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

const toResult = (r: { code: { major: number; minor: number }; payload?: Buffer }): CoapResult => ({
  code: `${r.code.major}.${String(r.code.minor).padStart(2, "0")}`,
  payload: r.payload ? new Uint8Array(r.payload) : new Uint8Array(0),
});

interface QueuedMessage {
  connection: { origin: Origin };
}

/**
 * node-coap-client keeps its connections in static state (one transport per process) and allows
 * ONE outstanding confirmable request at a time across all origins, so a device that stopped
 * answering must be reset promptly (the driver does so on every timeout) or it stalls the others.
 */
export const nodeCoapClientTransport: CoapTransport = {
  setPsk(hostname, identity, key) {
    guardDtlsSockets();
    CoapClient.setSecurityParams(hostname, { psk: { [identity]: key } });
  },
  async get(url) {
    return toResult(await CoapClient.request(url, "get", undefined, { keepAlive: true, confirmable: true, retransmit: true }));
  },
  async observe(url, onNotify) {
    await CoapClient.observe(url, "get", (r) => onNotify(toResult(r)), undefined, { keepAlive: true, confirmable: true });
  },
  stopObserving(url) {
    CoapClient.stopObserving(url);
  },
  reset(url) {
    guardDtlsSockets();
    const origin = Origin.fromUrl(new URL(url));
    try {
      // (a string argument would be taken as a hostname: pass the Origin)
      CoapClient.reset(origin);
    } catch {
      /* nothing to reset */
    }
    // messages still queued for the closed connection would be sent on a dead socket later
    const q = (CoapClient as unknown as { sendQueue?: QueuedMessage[] }).sendQueue;
    if (Array.isArray(q)) {
      const keep = q.filter((m) => m.connection.origin.toString() !== origin.toString());
      q.splice(0, q.length, ...keep);
    }
  },
};
