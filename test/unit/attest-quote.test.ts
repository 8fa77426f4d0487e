/** TPM structures, measurement log and PCR replay: byte vectors from real swtpm quotes, round trips, fuzz. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  MeasurementLog,
  TPM_ALG,
  decodeEccPublic,
  decodeQuoteInfo,
  decodeTpmSignature,
  encodeQuoteInfo,
  encodeTpmSignature,
  encodePcrBitmap,
  decodePcrBitmap,
  pcrCompositeDigest,
  replayLog,
  templateDigest,
  extend,
  PcrBank,
  sha256,
  sm3,
} from "../../attest/index.js";
import { SM2_SYNTHETIC_QUOTE, SWTPM_ECDSA_QUOTE, SWTPM_SM2_QUOTE, EXTEND } from "../vectors/attestation/crypto-vectors.js";

const h = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("decode the real swtpm ECDSA quote: fields and pcrDigest", () => {
  const v = SWTPM_ECDSA_QUOTE;
  const d = decodeQuoteInfo(h(v.attest));
  assert.ok(d.ok);
  if (!d.ok) return;
  const q = d.value;
  assert.is(q.magic, 0xff544347);
  assert.is(q.type, 0x8018);
  assert.is(hex(q.extraData), v.nonce);
  assert.is(q.clockInfo.clock, 0x1825n);
  assert.is(q.clockInfo.resetCount, 1);
  assert.is(q.clockInfo.restartCount, 0);
  assert.is(q.clockInfo.safe, true);
  assert.is(q.firmwareVersion, 0x2019102300163636n);
  assert.equal(q.pcrSelect, [{ hash: "sha256", pcrs: [0, 16, 23] }]);
  assert.is(hex(q.pcrDigest), v.pcrDigest);
  assert.is(hex(pcrCompositeDigest("sha256", [0, 16, 23].map((i) => h(v.pcrs[i]!)))), v.pcrDigest);
  assert.is(hex(encodeQuoteInfo(q)), v.attest, "re-encodes byte for byte");
  const s = decodeTpmSignature(h(v.signature));
  assert.ok(s.ok && s.value.sigAlg === TPM_ALG.ECDSA && s.value.hash === TPM_ALG.SHA256);
  if (s.ok) assert.is(hex(encodeTpmSignature(s.value)), v.signature);
});

test("decode the synthetic SM3-bank quote and the swtpm SM2 signature", () => {
  const d = decodeQuoteInfo(h(SM2_SYNTHETIC_QUOTE.attest));
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(d.value.pcrSelect, [{ hash: "sm3", pcrs: [0, 10] }]);
  assert.is(new TextDecoder().decode(d.value.extraData), SM2_SYNTHETIC_QUOTE.nonceAscii);
  assert.is(hex(pcrCompositeDigest("sm3", [h(SM2_SYNTHETIC_QUOTE.pcr0), h(SM2_SYNTHETIC_QUOTE.pcr10)])), SM2_SYNTHETIC_QUOTE.pcrDigest);
  const s = decodeTpmSignature(h(SWTPM_SM2_QUOTE.signature));
  assert.ok(s.ok && s.value.sigAlg === TPM_ALG.SM2 && s.value.hash === TPM_ALG.SHA256);
  const t = decodeTpmSignature(h(SM2_SYNTHETIC_QUOTE.tpmMode.tpmtSignature));
  assert.ok(t.ok && t.value.hash === TPM_ALG.SM3_256);
});

test("PCR bitmap: 01 00 81 selects PCR 0, 16, 23", () => {
  assert.equal(decodePcrBitmap(h("010081")), [0, 16, 23]);
  assert.is(hex(encodePcrBitmap([0, 16, 23])), "010081");
});

test("hostile TPMS_ATTEST: every truncation, trailing bytes, oversize TPM2B, wrong type fail with a reason", () => {
  const full = h(SWTPM_ECDSA_QUOTE.attest);
  for (let n = 0; n < full.length; n++) {
    const d = decodeQuoteInfo(full.subarray(0, n));
    assert.not.ok(d.ok, `truncated at ${n}`);
  }
  assert.not.ok(decodeQuoteInfo(Uint8Array.from([...full, 0])).ok, "trailing byte");
  const wrongType = Uint8Array.from(full);
  wrongType[5] = 0x17;
  assert.not.ok(decodeQuoteInfo(wrongType).ok);
  const bigSigner = Uint8Array.from(full);
  bigSigner[6] = 0xff;
  assert.not.ok(decodeQuoteInfo(bigSigner).ok);
});

test("fuzz: decoders never throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      decodeQuoteInfo(b);
      decodeTpmSignature(b);
      decodeEccPublic(b);
      return true;
    }),
    { numRuns: 2000 },
  );
  // mutate a real quote byte by byte
  const full = h(SWTPM_ECDSA_QUOTE.attest);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: full.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
      const m = Uint8Array.from(full);
      m[i] = v;
      decodeQuoteInfo(m);
      return true;
    }),
    { numRuns: 1000 },
  );
});

test("property: encode/decode TPMS_ATTEST round trip", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 32 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.nat({ max: 0xffffffff }),
      fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { maxLength: 24 }),
      (nonce, clock, reset, pcrs) => {
        const sorted = [...pcrs].sort((a, b) => a - b);
        const q = {
          qualifiedSigner: new Uint8Array(34).fill(1),
          extraData: nonce,
          clockInfo: { clock, resetCount: reset, restartCount: 0, safe: true },
          firmwareVersion: 1n,
          pcrSelect: [{ hash: "sm3" as const, pcrs: sorted }],
          pcrDigest: new Uint8Array(32).fill(9),
        };
        const d = decodeQuoteInfo(encodeQuoteInfo(q));
        return d.ok && d.value.clockInfo.clock === clock && hex(d.value.extraData) === hex(nonce) && d.value.pcrSelect[0]!.pcrs.join() === sorted.join();
      },
    ),
    { numRuns: 300 },
  );
});

test("PCR bank: extend chain vectors (sha256 and sm3)", () => {
  for (const bank of ["sm3", "sha256"] as const) {
    const b = new PcrBank(bank);
    for (const name of EXTEND.chain) b.extend(10, bank === "sm3" ? sm3(new TextEncoder().encode(name)) : sha256(new TextEncoder().encode(name)));
    assert.is(hex(b.read(10)), bank === "sm3" ? EXTEND.sm3Chain : EXTEND.sha256Chain);
  }
  assert.is(hex(new PcrBank("sm3").read(17)), "ff".repeat(32), "PCR 17 starts at all-FF");
});

test("measurement log: data digests kept, template digests extended, replay equals the live banks", () => {
  const log = new MeasurementLog();
  for (const name of EXTEND.chain) log.record({ pcr: 10, type: "boot", component: name, description: name, data: new TextEncoder().encode(name) });
  const e = log.entries();
  assert.is(e[0]!.digests.sm3, hex(sm3(new TextEncoder().encode("bootloader"))));
  assert.is(e[0]!.digests.sha256, hex(sha256(new TextEncoder().encode("bootloader"))));
  let p: Uint8Array = new Uint8Array(32);
  for (const ev of e) p = extend("sm3", p, templateDigest("sm3", ev, sm3(new TextEncoder().encode(ev.component))));
  assert.is(hex(log.pcr("sm3", 10)), hex(p));
  for (const bank of ["sm3", "sha256"] as const) {
    const r = replayLog(e, bank);
    assert.ok(r.ok);
    if (r.ok) assert.is(hex(r.value.get(10)!), hex(log.pcr(bank, 10)));
  }
  // metadata is bound: an edited description no longer replays to the same PCR
  const edited = e.map((x) => ({ ...x }));
  edited[1]!.description = "something else";
  const r = replayLog(edited, "sm3");
  assert.ok(r.ok && hex(r.value.get(10)!) !== hex(log.pcr("sm3", 10)));
  assert.equal(log.usedPcrs(), [10]);
});

test("replay: hostile log entries fail with a reason, never throw", () => {
  const bad = [
    [{ seq: 0, pcr: 99, type: "boot", component: "x", digests: { sm3: "00".repeat(32) }, description: "" }],
    [{ seq: 0, pcr: 1, type: "boot", component: "x", digests: { sha256: "00".repeat(32) }, description: "" }],
    [{ seq: 0, pcr: 1, type: "boot", component: "x", digests: { sm3: "zz".repeat(32) }, description: "" }],
    [{ seq: 0, pcr: 1, type: "boot", component: "x", digests: { sm3: "00".repeat(31) }, description: "" }],
  ] as const;
  for (const log of bad) {
    const r = replayLog(log as never, "sm3");
    assert.not.ok(r.ok);
    if (!r.ok) assert.equal([r.code, r.offset], ["E_ATTEST_LOG_REPLAY", 0]);
  }
});

test("TPM2B_PUBLIC: an ECC SM2 key parses to its point", () => {
  // built by hand per TPM 2.0 Part 2 Table 200/183 for the swtpm SM2 AK's point
  const x = h(SWTPM_SM2_QUOTE.x), y = h(SWTPM_SM2_QUOTE.y);
  const body = Uint8Array.from([
    0x00, 0x23, 0x00, 0x0b, 0x00, 0x05, 0x00, 0x72, 0x00, 0x00, 0x00, 0x10, 0x00, 0x1b, 0x00, 0x0b, 0x00, 0x20, 0x00, 0x10,
    0x00, 0x20, ...x, 0x00, 0x20, ...y,
  ]);
  const buf = Uint8Array.from([body.length >> 8, body.length & 0xff, ...body]);
  const d = decodeEccPublic(buf);
  assert.ok(d.ok);
  if (d.ok) {
    assert.is(d.value.curve, 0x20);
    assert.is(d.value.scheme, TPM_ALG.SM2);
    assert.is(hex(d.value.point), "04" + SWTPM_SM2_QUOTE.x + SWTPM_SM2_QUOTE.y);
  }
});

test.run();
