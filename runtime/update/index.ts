// Placeholder until the OTA issue lands.
import type { Component } from "../component.js";
import type { Services } from "../services.js";

export async function createUpdateComponent(_s: Services): Promise<Component | undefined> {
  return undefined;
}
