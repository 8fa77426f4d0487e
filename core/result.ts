/**
 * One result shape for verification and decoding: hostile or wrong input ends in a `Failure`
 * carrying a stable error code (the same codes `RidgeError` uses) and a reason for a person,
 * never in a thrown TypeError. Code that must throw turns a Failure into a RidgeError (same code,
 * the reason as message) at its boundary.
 */
import type { ErrorCode } from "./errors/index.js";

export interface Failure<C extends ErrorCode = ErrorCode> {
  readonly ok: false;
  readonly code: C;
  readonly reason: string;
  /** Where in the input the problem was found (byte offset, record number), when known. */
  readonly offset?: number;
}

export interface Success<T> {
  readonly ok: true;
  readonly value: T;
}

export type Result<T, C extends ErrorCode = ErrorCode> = Success<T> | Failure<C>;

export function ok<T>(value: T): Success<T> {
  return { ok: true, value };
}

export function fail<C extends ErrorCode>(code: C, reason: string, offset?: number): Failure<C> {
  return offset === undefined ? { ok: false, code, reason } : { ok: false, code, reason, offset };
}
