/** Structured logs (pino) to stderr, so stdout stays for the ready line and command output. */
import pino, { type Logger } from "pino";

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
}
