/** Durations and sizes as an operator writes them in YAML: `250ms`, `60s`, `6h`, `7d`, `512MiB`. */
import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(v: string | number): number | undefined {
  if (typeof v === "number") return v >= 0 && Number.isFinite(v) ? v : undefined;
  const m = DURATION.exec(v.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_MS[m[2]!]!);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/;
const SIZE_BYTES: Record<string, number> = { B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3, TB: 1e12, TiB: 1024 ** 4 };

export function parseSize(v: string | number): number | undefined {
  if (typeof v === "number") return v >= 0 && Number.isFinite(v) ? Math.floor(v) : undefined;
  const m = SIZE.exec(v.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_BYTES[m[2] ?? "B"]!);
}

/** A duration in ms: a number of ms or a string like `5s`. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as 500ms, 5s, 6h or 7d, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

/** A size in bytes: a number or a string like `512MiB`. */
export const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const b = parseSize(v);
  if (b === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a size such as 4096, 64KiB or 512MiB, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return b;
});

/** `host:port` for a listener; port 1–65535, or 0 for a free port chosen at start. */
export const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "expected host:port such as 127.0.0.1:1883")
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, (s) => ({ message: `port ${s.slice(s.lastIndexOf(":") + 1)} is out of range: a port is 1 to 65535 (0: any free port)` }));

export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
}
