/**
 * Device passwords for the embedded broker, stored in config only as scrypt hashes:
 *   $scrypt$ln=<log2 N>,r=<block size>,p=<parallelism>$<salt, base64>$<hash, base64>
 * scrypt runs in Node's OpenSSL on the libuv thread pool, so a burst of CONNECTs does not stall
 * the event loop. Verification never throws on a malformed hash: it answers false.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from "node:crypto";

const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

export interface ScryptParams {
  /** log2 of the CPU/memory cost N (default 14: N = 16384). */
  ln?: number;
  r?: number;
  p?: number;
}

function scrypt(password: string, salt: Buffer, keylen: number, ln: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize("NFC"), salt, keylen, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** Hash a password for `auth.users` or a device's `password`. */
export async function hashPassword(password: string, params: ScryptParams = {}, salt: Uint8Array = randomBytes(16)): Promise<string> {
  const ln = params.ln ?? 14;
  const r = params.r ?? 8;
  const p = params.p ?? 1;
  if (ln < 1 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) throw new RangeError("scrypt parameters out of range (ln 1..20, r 1..32, p 1..16)");
  const key = await scrypt(password, Buffer.from(salt), 32, ln, r, p);
  return `$scrypt$ln=${ln},r=${r},p=${p}$${Buffer.from(salt).toString("base64")}$${key.toString("base64")}`;
}

/** Does `password` match `hash`? False for a wrong password and for a malformed or out-of-range hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const m = FORMAT.exec(hash);
  if (!m) return false;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 1 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(m[4]!, "base64");
  const want = Buffer.from(m[5]!, "base64");
  if (want.length !== 32) return false; // our format always stores 32 bytes; a shorter key would match a prefix
  try {
    const got = await scrypt(password, salt, want.length, ln, r, p);
    return timingSafeEqual(got, want);
  } catch {
    return false;
  }
}
