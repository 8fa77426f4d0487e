/**
 * Hostile evidence against the verifier: random mutations of a valid quote's JSON, its hex
 * fields and its structure. The verifier must never throw, never pass a modified quote, and
 * record every verdict in an audit chain that still verifies.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { basePolicy, makeGateway, makeVerifier } from "../helpers/attest-fixture.js";
import type { Evidence } from "../../attest/index.js";

const gw = await makeGateway();
const v = makeVerifier(basePolicy(gw.pem), gw.clock);

async function freshText(): Promise<{ nonce: Uint8Array; text: string }> {
  const nonce = v.verifier.issueNonce("gw-1");
  return { nonce, text: JSON.stringify(await gw.attester.quote(nonce)) };
}

test("byte-level mutations of the evidence text never pass and never throw", async () => {
  // one quote, and a fresh verifier state per case, so every mutation meets an unused nonce
  const nonce = new Uint8Array(20).fill(5);
  const text = JSON.stringify(await gw.attester.quote(nonce));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: 255 }), (pos, byte) => {
      const b = Buffer.from(text);
      const at = pos % b.length;
      if (b[at] === byte) return true;
      b[at] = byte;
      const fresh = makeVerifier(basePolicy(gw.pem), gw.clock);
      const verdict = fresh.verifier.verify(new Uint8Array(b), { expectedNonce: nonce, adoptNonce: true });
      // a change that leaves the same JSON value (whitespace) is not a change
      const same = (() => {
        try {
          return JSON.stringify(JSON.parse(b.toString())) === JSON.stringify(JSON.parse(text));
        } catch {
          return false;
        }
      })();
      fresh.db.close();
      return same || !verdict.ok;
    }),
    { numRuns: Number(process.env.RIDGE_FUZZ_RUNS ?? 400) },
  );
  const control = makeVerifier(basePolicy(gw.pem), gw.clock);
  assert.ok(control.verifier.verify(text, { expectedNonce: nonce, adoptNonce: true }).ok, "the unmodified quote passes");
});

test("structural mutations (fields dropped, swapped, typed wrong, huge) fail with a reason", async () => {
  const { nonce, text } = await freshText();
  const base = JSON.parse(text) as Record<string, unknown>;
  const keys = Object.keys(base);
  const values = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 40 }), fc.array(fc.integer(), { maxLength: 5 }), fc.constant("ff".repeat(5000)), fc.object({ maxDepth: 2 }));
  fc.assert(
    fc.property(fc.constantFrom(...keys), values, fc.boolean(), (k, val, drop) => {
      const e = { ...base };
      if (drop) delete e[k];
      else e[k] = val;
      const verdict = v.verifier.verify(e, { expectedNonce: nonce });
      return !verdict.ok && verdict.reasons.length > 0;
    }),
    { numRuns: 300 },
  );
});

test("log mutations: reorder, duplicate, drop, add a forged event", async () => {
  // (order across different PCRs is not bound, as in a TCG log; within one PCR it is: see attest-verifier)
  const edits: ((e: Evidence) => void)[] = [
    (e) => e.log.push({ ...e.log[0]!, seq: e.log.length }),
    (e) => e.log.pop(),
    (e) => e.log.splice(1, 0, { ...e.log[1]!, component: "runtime" }),
    (e) => (e.log[1]!.pcr = 12),
    (e) => (e.log = []),
  ];
  for (const edit of edits) {
    const { nonce, text } = await freshText();
    const e = JSON.parse(text) as Evidence;
    edit(e);
    e.log.forEach((x, i) => (x.seq = i));
    const verdict = v.verifier.verify(e, { expectedNonce: nonce });
    assert.not.ok(verdict.ok, edit.toString());
  }
});

test("a flood of garbage keeps the verifier and its audit chain sound", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => !v.verifier.verify(b).ok),
    { numRuns: 300 },
  );
  const c = v.audit.verifyChain();
  assert.ok(c.ok);
});

test.run();
