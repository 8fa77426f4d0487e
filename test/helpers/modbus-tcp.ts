/**
 * Modbus TCP test helpers: an in-memory Modbus TCP server link (the simulated slaves of
 * helpers/modbus.ts behind MBAP framing, answers held until the test releases them, in any order),
 * and the real pymodbus TCP server and raw socket peers (peers/modbus-tcp-server.ts), re-exported
 * here so tests import one place.
 */
import type { ByteLink } from "../../drivers/modbus/master-session.js";
import { MbapFramer, encodeMbap, type MbapFrame } from "../../drivers/modbus/mbap.js";
import { SimSlaves } from "./modbus.js";

export { startTcpServer, startRawTcpPeer, startTcpRelay, canRunTcpServer, type TcpServerOptions, type RealTcpServer, type RawTcpPeer } from "../../peers/modbus-tcp-server.js";

/**
 * What a Modbus TCP session writes, and the answers the simulated slaves would give, held in
 * `held` until the test calls `release()` (all, or some, in the order it chooses).
 */
export class FakeTcpServer {
  readonly slaves = new SimSlaves();
  readonly requests: MbapFrame[] = [];
  readonly held: { request: MbapFrame; answer: Uint8Array | undefined }[] = [];
  private readonly framer = new MbapFramer();
  /** Where answers go (the session's receive). */
  deliver: ((chunk: Uint8Array) => void) | undefined;
  /** Answer at once instead of holding. */
  auto = false;
  /** Replace an answer's unit id (a gateway that answers from the wrong unit). */
  answerUnit: number | undefined;

  readonly link: ByteLink = {
    write: async (bytes) => {
      const r = this.framer.push(bytes);
      for (const f of r.frames) {
        this.requests.push(f);
        const pdu = this.slaves.answer(f.unit, f.pdu);
        const answer = pdu && encodeMbap(f.transaction, this.answerUnit ?? f.unit, pdu);
        if (this.auto) {
          if (answer) queueMicrotask(() => this.deliver?.(answer));
        } else this.held.push({ request: f, answer });
      }
    },
  };

  /** Send held answers: `order` picks them by index into `held` (default: all, first come first). */
  release(order?: number[]): void {
    const picks = order ?? this.held.map((_, i) => i);
    const taken = picks.map((i) => this.held[i]!);
    for (const t of taken) this.held.splice(this.held.indexOf(t), 1);
    for (const t of taken) if (t.answer) this.deliver?.(t.answer);
  }
}
