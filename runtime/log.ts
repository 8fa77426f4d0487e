/**
 * Structured logs (pino) to stderr, so stdout stays for the ready line and command output, in the
 * form the reader has:
 *  - `pretty` (a terminal): `time LEVEL component message key=value …`, one line per entry;
 *  - `journal` (under systemd: JOURNAL_STREAM names our stderr): sd-daemon(3) `<N>` priority
 *    prefixes, which journald turns into PRIORITY (so `journalctl -p warning -u ridgeline` works),
 *    then `component: message key=value …`; the journal adds the time and SYSLOG_IDENTIFIER (the
 *    unit's SyslogIdentifier=). Node has no AF_UNIX datagram socket (node:dgram is UDP only), so
 *    the native protocol with fields of our own (/run/systemd/journal/socket) needs a native
 *    addon; the stream protocol is what pure Node can speak;
 *  - `json` (anything else, or asked): pino's JSON lines, one object per entry.
 * Every entry has each key once: a field given again by a call or a child logger replaces the
 * bound one (pino would write both, e.g. `"driver":"site","driver":"site"`).
 */
import { fstatSync } from "node:fs";
import pino, { type Logger, type DestinationStream } from "pino";

export type LogFormat = "auto" | "pretty" | "json" | "journal";
export type ResolvedLogFormat = Exclude<LogFormat, "auto">;

export interface LogOptions {
  /** Default `auto`: $RIDGE_LOG_FORMAT if set, else `journal` under journald, `pretty` on a terminal, else `json`. */
  format?: LogFormat;
  /** Where lines go (tests); default stderr. */
  stream?: { write(s: string): unknown };
  env?: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal (default: process.stderr.isTTY). */
  isTTY?: boolean;
}

/** Pino's level numbers. */
const LEVEL_NAMES: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

/** syslog(3) priorities as journald reads them from a `<N>` prefix (sd-daemon(3): SD_CRIT … SD_DEBUG). */
export function journalPriority(level: number): number {
  if (level >= 60) return 2; // crit
  if (level >= 50) return 3; // err
  if (level >= 40) return 4; // warning
  if (level >= 30) return 6; // info
  return 7; // debug
}

/**
 * systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connected to stdout/stderr
 * (systemd.exec(5)); a child whose stderr was redirected inherits the variable, so it counts only
 * when stderr is that very stream.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const v = env.JOURNAL_STREAM;
  const m = v ? /^(\d+):(\d+)$/.exec(v) : null;
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

export function resolveLogFormat(format: LogFormat = "auto", env: NodeJS.ProcessEnv = process.env, isTTY = process.stderr.isTTY === true): ResolvedLogFormat {
  if (format !== "auto") return format;
  const asked = env.RIDGE_LOG_FORMAT;
  if (asked === "pretty" || asked === "json" || asked === "journal") return asked;
  if (stderrIsJournal(env)) return "journal";
  return isTTY ? "pretty" : "json";
}

/** Keys every entry has that the text formats show in their own places (or, `gateway`, not at all: one per process). */
const PLACED = new Set(["time", "level", "msg", "component", "gateway", "pid", "hostname"]);

function fieldValue(v: unknown): string {
  if (typeof v === "string") return v !== "" && /^[^\s"=\\]+$/.test(v) ? v : JSON.stringify(v);
  if (v === null || typeof v !== "object") return String(v);
  return JSON.stringify(v);
}

function fields(e: Record<string, unknown>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(e)) if (!PLACED.has(k) && v !== undefined) out.push(`${k}=${fieldValue(v)}`);
  return out.length ? ` ${out.join(" ")}` : "";
}

/** Who logged: the component, or the driver for a driver's logger. */
function origin(e: Record<string, unknown>): string {
  if (typeof e.component === "string") return e.component;
  if (typeof e.driver === "string") return `driver:${e.driver}`;
  return "gateway";
}

/** One pino JSON entry as a terminal line. */
export function prettyLine(e: Record<string, unknown>): string {
  const level = (LEVEL_NAMES[Number(e.level)] ?? String(e.level)).toUpperCase();
  return `${String(e.time ?? new Date().toISOString())} ${level.padEnd(5)} ${origin(e)}: ${String(e.msg ?? "")}${fields(e)}\n`;
}

/** One pino JSON entry as a line for journald's stream protocol (priority prefix, no time). */
export function journalLine(e: Record<string, unknown>): string {
  const msg = String(e.msg ?? "").replace(/\n/g, " ");
  return `<${journalPriority(Number(e.level))}>${origin(e)}: ${msg}${fields(e)}\n`;
}

/** A pino destination that rewrites each JSON line into a text line. */
function textStream(format: (e: Record<string, unknown>) => string, out: { write(s: string): unknown; flush?: (cb?: (err?: Error) => void) => void }): DestinationStream & { flush(cb?: (err?: Error) => void): void } {
  return {
    write(line: string) {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      out.write(format(e));
    },
    flush(cb?: (err?: Error) => void) {
      if (out.flush) out.flush(cb);
      else cb?.();
    },
  };
}

/** `,"a":1,"b":"x"` (pino's serialized bindings) with each key once, the last value kept. */
function uniqueChindings(chindings: string): string {
  if (!chindings) return chindings;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(`{${chindings.slice(1)}}`) as Record<string, unknown>;
  } catch {
    return chindings;
  }
  const s = JSON.stringify(o);
  return s === "{}" ? "" : `,${s.slice(1, -1)}`;
}

const chindingsSym = pino.symbols.chindingsSym as unknown as string;
const boundCache = new Map<string, Record<string, unknown>>();

function boundFields(logger: unknown): Record<string, unknown> {
  const c = (logger as Record<string, string | undefined>)[chindingsSym] ?? "";
  let b = boundCache.get(c);
  if (!b) {
    try {
      b = c ? (JSON.parse(`{${c.slice(1)}}`) as Record<string, unknown>) : {};
    } catch {
      b = {};
    }
    if (boundCache.size > 1000) boundCache.clear();
    boundCache.set(c, b);
  }
  return b;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === "object" && typeof b === "object" && JSON.stringify(a) === JSON.stringify(b));
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}, opts: LogOptions = {}): Logger {
  const format = resolveLogFormat(opts.format, opts.env ?? process.env, opts.isTTY ?? process.stderr.isTTY === true);
  const out = opts.stream ?? pino.destination({ fd: 2, sync: false });
  const dest = format === "json" ? (out as DestinationStream) : textStream(format === "pretty" ? prettyLine : journalLine, out as { write(s: string): unknown });
  return pino(
    {
      level,
      base: { ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      // A child binding a key its parent bound: one key, the child's value.
      onChild(child) {
        const c = child as unknown as Record<string, string>;
        c[chindingsSym] = uniqueChindings(c[chindingsSym] ?? "");
      },
      hooks: {
        // A call giving a field the logger already binds: the same value is written once; a
        // different one replaces the bound value for this entry.
        logMethod(args, method) {
          const obj = args[0];
          if (obj === null || typeof obj !== "object" || Array.isArray(obj) || obj instanceof Error) return method.apply(this, args);
          const bound = boundFields(this);
          let own: Record<string, unknown> | undefined;
          let override: Record<string, unknown> | undefined;
          for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
            if (!(k in bound)) continue;
            own ??= { ...(obj as Record<string, unknown>) };
            delete own[k];
            if (!sameValue(bound[k], v)) (override ??= {})[k] = v;
          }
          if (!own) return method.apply(this, args);
          const rest = args.slice(1) as [string, ...unknown[]];
          return method.apply(override ? this.child(override) : this, [own, ...rest]);
        },
      },
    },
    dest,
  );
}
