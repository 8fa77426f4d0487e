/**
 * Admission of a Register (OMA-TS-LightweightM2M-Core §6.2.1) as a pure machine in core's FSM
 * convention: configured endpoints always get in; an endpoint the config rejects never does;
 * unknown endpoints are bounded by a cap and a token bucket (rate and burst), so a registration
 * flood is bounded in memory and cannot lock out configured devices. A Register replacing a live
 * registration of the same endpoint takes no new place and no token. The state is the bucket.
 */
import type { Transition } from "../../core/index.js";

/** How the device config classifies an endpoint. */
export type Admission = "known" | "unknown" | "reject";

export interface AdmissionState {
  tokens: number;
  /** monotonic ms of the last refill */
  refilledAt: number;
}

export interface AdmissionInput {
  kind: "register";
  admission: Admission;
  endpoint: string;
  /** the endpoint is registered already (this Register replaces it) */
  replacing: boolean;
  /** unknown endpoints registered right now */
  unknownRegistered: number;
  /** monotonic ms */
  now: number;
}

export type AdmissionRefusal = "E_LWM2M_RATE_LIMITED" | "E_LWM2M_REGISTRATION_CAP" | "E_LWM2M_ENDPOINT_REJECTED";

export type AdmissionEffect = { kind: "admit"; known: boolean } | { kind: "refuse"; code: AdmissionRefusal; reason: string };

export interface AdmissionEnv {
  /** registrations from endpoints that are not in the device config */
  maxUnknown: number;
  /** new registrations per second from unknown endpoints (token bucket) */
  ratePerSecond: number;
  burst: number;
}

export function admissionStart(env: AdmissionEnv, now: number): AdmissionState {
  return { tokens: env.burst, refilledAt: now };
}

export function admissionStep(state: AdmissionState, input: AdmissionInput, env: AdmissionEnv): Transition<AdmissionState, AdmissionEffect> {
  const refuse = (s: AdmissionState, code: AdmissionRefusal, reason: string) => ({ state: s, effects: [{ kind: "refuse", code, reason }] as AdmissionEffect[] });
  if (input.admission === "reject") return refuse(state, "E_LWM2M_ENDPOINT_REJECTED", `endpoint ${input.endpoint} is not configured and unknown endpoints are not accepted`);
  if (input.admission === "known" || input.replacing) return { state, effects: [{ kind: "admit", known: input.admission === "known" }] };
  if (input.unknownRegistered >= env.maxUnknown) return refuse(state, "E_LWM2M_REGISTRATION_CAP", `${input.unknownRegistered} unknown endpoints registered (cap ${env.maxUnknown})`);
  const tokens = Math.min(env.burst, state.tokens + ((input.now - state.refilledAt) / 1000) * env.ratePerSecond);
  if (tokens < 1) return refuse({ tokens, refilledAt: input.now }, "E_LWM2M_RATE_LIMITED", "registration rate limit");
  return { state: { tokens: tokens - 1, refilledAt: input.now }, effects: [{ kind: "admit", known: false }] };
}
