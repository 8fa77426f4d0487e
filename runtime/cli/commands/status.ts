import { RidgeError } from "../../../core/errors.js";
export async function run(_argv: string[]): Promise<number> {
  throw new RidgeError("E_NOT_BUILT", "internal", "not built yet");
}
