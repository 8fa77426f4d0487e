/**
 * Watches the MQTT byte stream from one client and reports a packet larger than the limit as soon
 * as its fixed header is read, before the body is buffered (aedes itself has no packet size cap).
 * Pure and streaming: chunks may split a header anywhere.
 *
 * MQTT 3.1.1 §2.2 / 5.0 §2.1.1 fixed header:
 *   byte 1: packet type (4 bits) | flags (4 bits)
 *   byte 2..5: Remaining Length, variable byte integer: 7 bits a byte, high bit = more (at most 4 bytes)
 */
export type FrameVerdict = { ok: true } | { ok: false; reason: "oversize" | "malformed"; size?: number };

export class MqttFrameMeter {
  /** Bytes of the current packet's body still to skip. */
  private skip = 0;
  private stage: "type" | "length" = "type";
  private len = 0;
  private mul = 1;
  private lenBytes = 0;
  constructor(private readonly maxPacket: number) {}

  feed(chunk: Uint8Array): FrameVerdict {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const b = chunk[i++]!;
      if (this.stage === "type") {
        this.stage = "length";
        this.len = 0;
        this.mul = 1;
        this.lenBytes = 0;
        continue;
      }
      this.len += (b & 0x7f) * this.mul;
      this.mul *= 128;
      this.lenBytes++;
      if (b & 0x80) {
        if (this.lenBytes >= 4) return { ok: false, reason: "malformed" };
        continue;
      }
      const total = 1 + this.lenBytes + this.len;
      if (total > this.maxPacket) return { ok: false, reason: "oversize", size: total };
      this.skip = this.len;
      this.stage = "type";
    }
    return { ok: true };
  }
}
