/**
 * One error taxonomy for the whole runtime. Every error that crosses a module boundary is a
 * RidgeError with a stable string `code` (tests assert codes, never message text) and a fault
 * category that tells an operator whose problem it is.
 */
export type FaultCategory =
  | "peer" // bad input from a device, a broker, a repository: not our bug, keep running
  | "config" // bad configuration from the user: say where and what to change
  | "board" // the board lacks a capability (no TPM, no serial port)
  | "environment" // disk full, permission denied, missing binary
  | "internal"; // a bug in Ridgeline

export interface RidgeErrorOptions {
  cause?: unknown;
  detail?: Record<string, unknown>;
}

export class RidgeError extends Error {
  override readonly name = "RidgeError";
  readonly detail: Record<string, unknown> | undefined;
  constructor(
    readonly code: string,
    readonly category: FaultCategory,
    message: string,
    options: RidgeErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.detail = options.detail;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, category: this.category, message: this.message, ...(this.detail ? { detail: this.detail } : {}) };
  }
}

export function isRidgeError(e: unknown, code?: string): e is RidgeError {
  return e instanceof RidgeError && (code === undefined || e.code === code);
}

/** The code of any thrown value: a RidgeError's code, a Node system error's code, or E_INTERNAL. */
export function errorCode(e: unknown): string {
  if (e instanceof RidgeError) return e.code;
  if (e && typeof e === "object" && "code" in e && typeof (e as { code: unknown }).code === "string") {
    return (e as { code: string }).code;
  }
  return "E_INTERNAL";
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
