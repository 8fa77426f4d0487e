/**
 * One error taxonomy for the whole runtime. Every error that crosses a module boundary is a
 * RidgeError with a stable `code` from the table in codes.ts (tests assert codes, never message
 * text); its fault category comes from that table and tells an operator whose problem it is.
 */
import { ERROR_CODES, type ErrorCode } from "./codes.js";
import type { FaultCategory } from "./category.js";

export type { FaultCategory } from "./category.js";
export { ERROR_CODES, isErrorCode, asErrorCode, type ErrorCode } from "./codes.js";

export interface RidgeErrorOptions {
  cause?: unknown;
  detail?: Record<string, unknown>;
}

export class RidgeError extends Error {
  override readonly name = "RidgeError";
  readonly category: FaultCategory;
  readonly detail: Record<string, unknown> | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: RidgeErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.category = ERROR_CODES[code].category;
    this.detail = options.detail;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, category: this.category, message: this.message, ...(this.detail ? { detail: this.detail } : {}) };
  }
}

export function isRidgeError(e: unknown, code?: ErrorCode): e is RidgeError {
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
