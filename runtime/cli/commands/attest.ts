// Placeholder: the attest issue replaces this with the real subcommands.
import { RidgeError } from "../../../core/errors.js";

export async function run(_argv: string[]): Promise<number> {
  throw new RidgeError("E_NOT_BUILT", "internal", "ridge attest is not built yet");
}
