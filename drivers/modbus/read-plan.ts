/**
 * Coalescing points into reads: points of one function whose registers (or coils) are contiguous
 * — or separated by at most `maxGap` unmapped ones — become one request, capped at the spec's
 * 125 registers / 2000 bits per read (application protocol §6.1–6.4). Pure.
 */
import type { ModbusPointConfig } from "./config.js";
import { MAX_READ_BITS, MAX_READ_REGISTERS, type Request } from "./pdu.js";
import { applyScale, decodeRegisters, registerCount, type PointFunction, type RawValue } from "./register-map.js";

export interface ReadBlock {
  fn: PointFunction;
  address: number;
  quantity: number;
  points: ModbusPointConfig[];
}

const FN_CODE = { coil: 0x01, discrete: 0x02, holding: 0x03, input: 0x04 } as const;

export function pointSpan(p: ModbusPointConfig): number {
  return p.fn === "coil" || p.fn === "discrete" ? 1 : registerCount(p.type, p.length);
}

export function planReads(points: readonly ModbusPointConfig[], maxGap = 0): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  for (const fn of ["coil", "discrete", "holding", "input"] as const) {
    const limit = fn === "coil" || fn === "discrete" ? MAX_READ_BITS : MAX_READ_REGISTERS;
    const sorted = points.filter((p) => p.fn === fn).sort((a, b) => a.address - b.address || pointSpan(b) - pointSpan(a));
    let cur: ReadBlock | undefined;
    for (const p of sorted) {
      const end = p.address + pointSpan(p);
      if (cur && p.address <= cur.address + cur.quantity + maxGap && Math.max(end, cur.address + cur.quantity) - cur.address <= limit) {
        cur.quantity = Math.max(end, cur.address + cur.quantity) - cur.address;
        cur.points.push(p);
      } else {
        cur = { fn, address: p.address, quantity: pointSpan(p), points: [p] };
        blocks.push(cur);
      }
    }
  }
  return blocks;
}

export function blockRequest(b: ReadBlock): Request {
  return { fn: FN_CODE[b.fn], address: b.address, quantity: b.quantity };
}

/** The engineering values of a block's points from the bits or registers read. */
export function extractValues(b: ReadBlock, data: readonly boolean[] | readonly number[]): Record<string, RawValue> {
  const out: Record<string, RawValue> = {};
  for (const p of b.points) {
    const at = p.address - b.address;
    if (b.fn === "coil" || b.fn === "discrete") {
      out[p.name] = Boolean(data[at]);
      continue;
    }
    const regs = (data as readonly number[]).slice(at, at + pointSpan(p));
    if (p.bit !== undefined) {
      // One bit of a status word (bit 0 = least significant).
      out[p.name] = (((regs[0] ?? 0) >> p.bit) & 1) === 1;
      continue;
    }
    out[p.name] = applyScale(decodeRegisters(regs, p.type, p.order), p);
  }
  return out;
}
