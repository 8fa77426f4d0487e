/**
 * CRC-16/MODBUS: reflected polynomial 0xA001 (0x8005 reversed), initial value 0xFFFF, no final XOR.
 * Modbus over serial line V1.02 §6.2.2: the CRC is appended low byte first.
 * Table-driven, one lookup per byte; the table is built once at module load.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC of `bytes[start, end)`, as a 16-bit number (transmit `crc & 0xff` first). */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** True when the last two bytes of `frame` are the little-endian CRC of the bytes before them. */
export function crcMatches(frame: Uint8Array, length = frame.length): boolean {
  if (length < 3) return false;
  const c = crc16(frame, 0, length - 2);
  return frame[length - 2] === (c & 0xff) && frame[length - 1] === c >>> 8;
}
