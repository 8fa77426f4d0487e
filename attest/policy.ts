/**
 * The verifier's policy: which gateways are registered (key, signing mode, SM2 ID), which
 * algorithms are acceptable, and the reference values every measured component must match
 * (allowed digests per component and version). YAML or JSON.
 *
 *   nonceTtl: 2m
 *   algorithms: [sm2-sm3, ecdsa-p256-sha256]
 *   minRuntimeVersion: 0.1.0
 *   requirePcrs: [11, 12]
 *   resettablePcrs: [16, 17, 18, 19, 20, 21, 22, 23]   # the default: quotes over these are refused
 *   gateways:
 *     - { id: gw-7, key: "-----BEGIN PUBLIC KEY-----…", mode: gm, sm2Id: "1234567812345678" }
 *   reference:
 *     runtime: [{ version: 0.1.0, sm3: "…", sha256: "…" }]
 *     config:  [{ sm3: "…" }]
 *     "driver:*": [{ any: true }]
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { parseYamlWith, duration, RidgeError } from "../core/index.js";
import { publicKeyFromPem } from "./crypto/index.js";
import { RESETTABLE_PCRS } from "./pcr-bank.js";

const hexDigest = z.string().regex(/^[0-9a-fA-F]{40,128}$/, "a hex digest").transform((s) => s.toLowerCase());

const referenceEntry = z
  .object({
    version: z.string().optional(),
    sha256: hexDigest.optional(),
    sm3: hexDigest.optional(),
    /** Accept any digest for this component (e.g. drivers whose code is the runtime's). */
    any: z.boolean().optional(),
    note: z.string().optional(),
  })
  .strict()
  .refine((e) => e.any || e.sha256 || e.sm3, "a reference entry needs sha256, sm3 or any: true");

const gatewayEntry = z
  .object({
    id: z.string().min(1),
    key: z.string().optional(),
    keyFile: z.string().optional(),
    mode: z.enum(["gm", "tpm"]).default("gm"),
    sm2Id: z.string().default("1234567812345678"),
  })
  .strict()
  .refine((g) => !!g.key !== !!g.keyFile, "give exactly one of key (PEM) or keyFile");

export const policySchema = z
  .object({
    nonceTtl: duration.default(120_000),
    algorithms: z.array(z.enum(["sm2-sm3", "ecdsa-p256-sha256"])).min(1).default(["sm2-sm3", "ecdsa-p256-sha256"]),
    /** Hashes allowed in the signature scheme (a TPM's SM2 quote uses sha256: TPMs without SM3). */
    hashes: z.array(z.enum(["sm3", "sha256", "sha384", "sha512"])).min(1).default(["sm3", "sha256"]),
    minRuntimeVersion: z.string().regex(/^\d+\.\d+\.\d+/).optional(),
    /** PCRs every quote must cover. */
    requirePcrs: z.array(z.number().int().min(0).max(23)).default([]),
    /**
     * PCRs a process can reset without a reboot: a quote covering any of them is refused
     * (E_ATTEST_PCR_RESETTABLE), since its value can be rebuilt at will. Default 16-23 (TCG PC
     * Client: 16 and 23 at locality 0, 17-22 by D-RTM); a D-RTM-aware fleet may narrow it to [16, 23].
     */
    resettablePcrs: z.array(z.number().int().min(0).max(23)).default([...RESETTABLE_PCRS]),
    /** Components without a reference entry: fail (default) or allow. */
    allowUnknownComponents: z.boolean().default(false),
    gateways: z.array(gatewayEntry).default([]),
    reference: z.record(z.array(referenceEntry)).default({}),
  })
  .strict();

export type PolicyInput = z.input<typeof policySchema>;
export type ReferenceEntry = z.output<typeof referenceEntry>;

export interface RegisteredGateway {
  id: string;
  alg: "sm2-sm3" | "ecdsa-p256-sha256";
  publicKey: Uint8Array;
  mode: "gm" | "tpm";
  sm2Id: string;
}

export interface Policy {
  nonceTtlMs: number;
  algorithms: readonly string[];
  hashes: readonly string[];
  minRuntimeVersion?: string;
  requirePcrs: readonly number[];
  resettablePcrs: readonly number[];
  allowUnknownComponents: boolean;
  gateways: Map<string, RegisteredGateway>;
  reference: Record<string, ReferenceEntry[]>;
}

function toPolicy(p: z.output<typeof policySchema>, baseDir: string): Policy {
  const gateways = new Map<string, RegisteredGateway>();
  for (const g of p.gateways) {
    const pem = g.key ?? readFileSync(resolve(baseDir, g.keyFile!), "utf8");
    const { alg, publicKey } = publicKeyFromPem(pem);
    if (alg === "ed25519") throw new RidgeError("E_ATTEST_POLICY", `gateway ${g.id}: Ed25519 is not an attestation key algorithm`);
    if (gateways.has(g.id)) throw new RidgeError("E_ATTEST_POLICY", `gateway ${g.id} is registered twice`);
    gateways.set(g.id, { id: g.id, alg, publicKey, mode: g.mode, sm2Id: g.sm2Id });
  }
  return {
    nonceTtlMs: p.nonceTtl,
    algorithms: p.algorithms,
    hashes: p.hashes,
    ...(p.minRuntimeVersion ? { minRuntimeVersion: p.minRuntimeVersion } : {}),
    requirePcrs: p.requirePcrs,
    resettablePcrs: p.resettablePcrs,
    allowUnknownComponents: p.allowUnknownComponents,
    gateways,
    reference: p.reference,
  };
}

/** Build a policy from an object (tests, programmatic use). */
export function policyFrom(input: PolicyInput, baseDir = "."): Policy {
  const r = policySchema.safeParse(input);
  if (!r.success) {
    const is = r.error.issues[0]!;
    throw new RidgeError("E_ATTEST_POLICY", `policy ${is.path.join(".")}: ${is.message}`);
  }
  return toPolicy(r.data, baseDir);
}

/** Load a policy file (YAML or JSON) with located errors. */
export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new RidgeError("E_ATTEST_POLICY", `cannot read policy ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { value } = parseYamlWith(file, text, policySchema);
  return toPolicy(value, dirname(file));
}

/** Reference entries for a component: exact key first, then a "prefix:*" wildcard. */
export function referenceFor(policy: Policy, component: string): ReferenceEntry[] | undefined {
  const exact = policy.reference[component];
  if (exact) return exact;
  const colon = component.indexOf(":");
  return colon > 0 ? policy.reference[`${component.slice(0, colon)}:*`] : undefined;
}
