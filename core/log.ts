/**
 * The one logger interface every folder codes against: pino's object-first call shape, so the
 * runtime passes its pino logger (or a child of it) and tests pass a recorder. Fields go in the
 * object, the message is a short constant sentence.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** A logger that drops everything (for callers that have none, e.g. one-shot CLI readers). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
