/**
 * node-dtls-client throws from inside socket callbacks and timers in two cases we meet in the
 * field: a handshake message it does not support (e.g. a ServerKeyExchange carrying a PSK
 * identity hint) and a retransmission after the connection was closed (a device went away).
 * Either would be an uncaught exception that takes the whole gateway down. This guard turns both
 * into a killed connection / a failed send, which the CoAP driver already handles as a failure.
 * Applied once, when the plain CoAP transport is first used.
 */
import { dtls } from "node-dtls-client";

interface GuardedSocket {
  _isClosed: boolean;
  send(data: Buffer, callback?: (err?: Error) => void): void;
  udp_onMessage(msg: Buffer, rinfo: unknown): void;
  killConnection(err?: Error): void;
}

let applied = false;

export function guardDtlsSockets(): void {
  if (applied) return;
  applied = true;
  const proto = dtls.Socket.prototype as unknown as GuardedSocket;
  const send = proto.send;
  proto.send = function (this: GuardedSocket, data, callback) {
    if (this._isClosed) {
      callback?.(new Error("DTLS socket is closed"));
      return;
    }
    try {
      send.call(this, data, callback);
    } catch (e) {
      callback?.(e instanceof Error ? e : new Error(String(e)));
    }
  };
  const onMessage = proto.udp_onMessage;
  proto.udp_onMessage = function (this: GuardedSocket, msg, rinfo) {
    try {
      onMessage.call(this, msg, rinfo);
    } catch (e) {
      try {
        this.killConnection(e instanceof Error ? e : new Error(String(e)));
      } catch {
        /* already dead */
      }
    }
  };
}
