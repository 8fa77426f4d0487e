// Placeholder until the attestation issue lands.
import type { Component } from "../component.js";
import type { Services } from "../services.js";

export async function createAttestationComponent(_s: Services): Promise<Component | undefined> {
  return undefined;
}
