/**
 * The attestation component: measures what the gateway boots and runs into the measurement log
 * (board boot-chain files, the active runtime, the config, loaded drivers) at start and on every
 * change (config reload, model switch, OTA commit: told through `Measurements`), and answers
 * challenges with signed quotes:
 *   - control API: POST /attest/quote {"nonce": "<hex>"} → evidence; GET /attest/log
 *   - MQTT: a challenge {"nonce": "<hex>"} on ridge/<id>/down/attest is answered on
 *     ridge/<id>/up/attest (through the durable uplink, as an event of kind "attest").
 * The key and PCRs live on the board's TPM 2.0 when it has one, else in software.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RidgeError, errorMessage, type Clock, type Logger } from "../../core/index.js";
import type { Board } from "../../boards/index.js";
import {
  Attester,
  bumpBootCount,
  loadOrCreateSoftwareKey,
  openTpmBackend,
  softwareBackend,
  softwareSigner,
} from "../../attest/index.js";
import type { AttestBackend, AttestConfig, MeasuredKind, QuoteAlg } from "../../attest/index.js";
import type { Component } from "../component.js";
import type { GatewayConfig } from "../config/schema.js";
import type { Downlink, MeasureHook, Measurements } from "../contracts.js";
import type { Routes } from "../control/routes.js";
import type { Metrics } from "../metrics.js";
import type { UplinkQueue } from "../store/queue.js";
import { VERSION } from "../version.js";
import { runtimeImage } from "./runtime-image.js";

export interface AttestationOptions {
  config: GatewayConfig;
  /** The config file, measured as it is (else the effective config). */
  configFile: string | undefined;
  board: Board;
  dataDir: string;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  routes: Routes;
  downlink: Downlink;
  /** Challenges from the cloud are answered through the durable uplink. */
  uplink: Pick<UplinkQueue, "append">;
  measurements: Measurements;
}

const NONCE_RE = /^([0-9a-fA-F]{2}){8,32}$/;

export function quoteAlgOf(cfg: AttestConfig): QuoteAlg {
  return cfg.signer === "sm2" ? "sm2-sm3" : "ecdsa-p256-sha256";
}

/** The TCTI to use: the config's, else the board's TPM device; undefined when there is no TPM. */
export function tctiFor(s: { board: Board }, cfg: AttestConfig): string | undefined {
  if (cfg.tpm === "off") return undefined;
  if (cfg.tcti) return cfg.tcti;
  return s.board.tpm === "none" ? undefined : `device:${s.board.tpm.device}`;
}

export async function createAttestationComponent(s: AttestationOptions): Promise<Component | undefined> {
  const cfg = s.config.attest;
  if (!cfg) return undefined;
  const log = s.log;
  const alg = quoteAlgOf(cfg);
  const dir = join(s.dataDir, "attest");
  const tcti = tctiFor(s, cfg);
  if (cfg.tpm === "required" && !tcti) {
    throw new RidgeError("E_ATTEST_NO_TPM", `attest.tpm is "required" but board ${s.board.name} has no TPM (tpm: none) and no attest.tcti is set`);
  }
  const quotes = s.metrics.counter("ridge_attest_quotes_total", "Attestation quotes produced", ["via"]);
  const measured = s.metrics.counter("ridge_attest_measurements_total", "Measurements recorded in the attestation log", ["kind"]);
  let attester: Attester | undefined;
  let backend: AttestBackend | undefined;
  let lastError: string | undefined;
  let unlisten: (() => void) | undefined;

  const pcrFor = (kind: MeasuredKind, requested?: number): number => {
    if (backend?.kind === "tpm") return cfg.tpmPcr;
    if (kind === "boot") return requested ?? 0;
    return cfg.pcrs[kind];
  };

  const measure = (m: { type: MeasuredKind; component: string; description: string; data: Uint8Array; version?: string; pcr?: number }) => {
    if (!attester) return Promise.resolve();
    return attester.measure(m).then(
      () => measured.inc({ kind: m.type }),
      (e: unknown) => {
        lastError = errorMessage(e);
        log.error({ err: lastError, what: m.component }, "attestation: measurement failed");
      },
    );
  };

  const hook: MeasureHook = (what) => {
    const at = what.name.lastIndexOf("@");
    const base = at > 0 ? what.name.slice(0, at) : what.name;
    const version = at > 0 ? what.name.slice(at + 1) : undefined;
    const component = what.kind === "runtime" ? "runtime" : what.kind === "config" && (base === "" || base === "gateway") ? "config" : `${what.kind}:${base}`;
    void measure({ type: what.kind, component, description: `${what.kind} ${what.name} changed`, data: what.data, ...(version ? { version } : {}) });
  };

  const answer = async (nonceHex: unknown, via: string) => {
    if (!attester) throw new RidgeError("E_ATTEST_NOT_READY", "attestation is not started");
    if (typeof nonceHex !== "string" || !NONCE_RE.test(nonceHex)) {
      throw new RidgeError("E_ATTEST_NONCE_FORMAT", "nonce must be 8 to 32 bytes in hex");
    }
    const ev = await attester.quote(Uint8Array.from(Buffer.from(nonceHex, "hex")));
    quotes.inc({ via });
    return ev;
  };

  s.routes.add("POST", "/attest/quote", async (req) => {
    let body: unknown;
    try {
      body = await req.json();
    } catch (e) {
      return { status: 400, body: { error: "E_API_BAD_JSON", message: errorMessage(e) } };
    }
    try {
      return { body: await answer((body as { nonce?: unknown } | null)?.nonce, "api") };
    } catch (e) {
      const code = e instanceof RidgeError ? e.code : "E_ATTEST";
      return { status: code === "E_ATTEST_NONCE_FORMAT" ? 400 : 503, body: { error: code, message: errorMessage(e) } };
    }
  });
  s.routes.add("GET", "/attest/log", () =>
    attester
      ? { body: { gateway: s.config.gateway.id, backend: backend?.kind, alg, events: attester.log.entries() } }
      : { status: 503, body: { error: "E_ATTEST_NOT_READY", message: "attestation is not started" } },
  );

  s.downlink.on("attest", async (_suffix, payload) => {
    let nonce: unknown;
    try {
      nonce = (JSON.parse(payload.toString("utf8")) as { nonce?: unknown }).nonce;
    } catch {
      log.warn({}, "attestation: a challenge that is not JSON was ignored");
      return;
    }
    try {
      const ev = await answer(nonce, "mqtt");
      await s.uplink.append([{ id: `attest/${String(nonce)}`, ts: s.clock.now(), device: s.config.gateway.id, kind: "attest", payload: ev as unknown as Record<string, unknown> }]);
    } catch (e) {
      log.warn({ err: errorMessage(e) }, "attestation: challenge not answered");
    }
  });

  return {
    name: "attestation",
    async start() {
      if (tcti) {
        // the PCR outlives the process: a restart in the same TPM boot resumes the saved log (attest/tpm)
        const tpm = await openTpmBackend({ tcti, dir: join(dir, "tpm"), alg, pcr: cfg.tpmPcr });
        if (tpm.resumedEvents) log.info({ events: tpm.resumedEvents, file: tpm.logFile, resetCount: tpm.resetCount }, "attestation: resumed this TPM boot's measurement log");
        backend = tpm;
      } else {
        const key = loadOrCreateSoftwareKey(dir, alg);
        if (key.created) log.info({ key: key.path }, "attestation: generated the attestation key");
        backend = softwareBackend({ signer: softwareSigner(alg, key.privateKey, key.publicKey, cfg.id), clock: s.clock, resetCount: bumpBootCount(dir), runtimeVersion: VERSION });
      }
      attester = new Attester({ gatewayId: s.config.gateway.id, runtimeVersion: VERSION, backend, pcrFor });
      for (const b of s.board.measure) {
        let data: Uint8Array;
        try {
          data = new Uint8Array(readFileSync(b.path));
        } catch (e) {
          log.debug({ path: b.path, err: errorMessage(e) }, "attestation: boot file not readable, not measured");
          continue;
        }
        await measure({ type: "boot", pcr: b.pcr, component: b.what, description: b.path, data });
      }
      const rt = runtimeImage(s);
      await measure({ type: "runtime", component: "runtime", version: rt.version, description: rt.description, data: rt.data });
      const cfgBytes = s.configFile && existsSync(s.configFile) ? new Uint8Array(readFileSync(s.configFile)) : new TextEncoder().encode(JSON.stringify(s.config));
      await measure({ type: "config", component: "config", description: s.configFile ?? "effective config", data: cfgBytes });
      // loaded drivers: the kind (its code is the runtime's) — the policy decides which kinds may run
      for (const d of s.config.drivers) {
        await measure({ type: "driver", component: `driver:${d.kind}`, description: `driver ${d.name} (${d.kind})`, data: new TextEncoder().encode(`${d.kind}@${VERSION}`) });
      }
      unlisten = s.measurements.listen(hook);
      log.info({ backend: backend.kind, alg, events: attester.log.length, runtime: rt.description }, "attestation: measured");
    },
    async stop() {
      unlisten?.();
      unlisten = undefined;
      await backend?.close?.();
    },
    health() {
      return attester ? { up: true, ...(lastError ? { detail: lastError } : {}) } : { up: false, detail: "not started" };
    },
    status() {
      return { backend: backend?.kind ?? "none", alg, events: attester?.log.length ?? 0, quotes: attester?.quoteCount ?? 0 };
    },
  };
}
