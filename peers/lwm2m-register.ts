/** A raw LwM2M Register datagram (OMA-TS-LightweightM2M-Core §6.2.1: CON POST /rd?ep=…&lt=…, CoRE Link Format payload), for the flood tests and the benchmark swarm. */
import { CoapOption, encodeCoapMessage } from "../codecs/index.js";

export function registerDatagram(endpoint: string, messageId: number, lifetime: number, links: string): Uint8Array {
  const enc = new TextEncoder();
  return encodeCoapMessage({
    type: 0,
    code: 2,
    messageId: messageId & 0xffff,
    token: Uint8Array.of((messageId >> 8) & 0xff, messageId & 0xff),
    options: [
      { number: CoapOption.UriPath, value: enc.encode("rd") },
      { number: CoapOption.UriQuery, value: enc.encode(`ep=${endpoint}`) },
      { number: CoapOption.UriQuery, value: enc.encode(`lt=${lifetime}`) },
    ],
    payload: enc.encode(links),
  });
}
