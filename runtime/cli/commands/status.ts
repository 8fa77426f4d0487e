import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { RidgeError } from "../../../core/index.js";
import { controlRequest, socketPathFor } from "../../control/client.js";
import { parseCommand } from "../args.js";
import { readLastExit } from "../last-exit.js";

const spec = {
  usage: "ridge status [--json] [--data DIR]",
  summary: "Show the running gateway's status through its control socket (<data>/ridge.sock).",
  details: "  --data DIR   the gateway's data directory (default: $RIDGE_DATA, ./.ridgeline if present, else /var/lib/ridgeline)\n  --json       print the raw JSON",
  options: { json: { type: "boolean" }, data: { type: "string", short: "d" } },
} as const;

export function defaultDataDir(): string {
  if (process.env.RIDGE_DATA) return resolve(process.env.RIDGE_DATA);
  if (existsSync(socketPathFor(resolve(".ridgeline")))) return resolve(".ridgeline");
  return "/var/lib/ridgeline";
}

export interface StatusBody {
  version: string;
  gateway: string;
  board: string;
  arch: string;
  uptimeSec: number;
  healthy: boolean;
  /** Why the gateway is degraded though its components are up (a cloud link down too long). */
  degraded?: { code: string; message: string }[];
  components: Record<string, { state: string; health: { up: boolean; detail?: string }; restarts: number; lastError?: { code: string; message: string } } & Record<string, unknown>>;
}

/** Nested `lastError: { code, message }` entries (two levels deep), deduplicated. */
function problems(o: Record<string, unknown>, depth = 0, out = new Set<string>()): Set<string> {
  for (const [k, v] of Object.entries(o)) {
    if (!v || typeof v !== "object" || Array.isArray(v)) continue;
    const e = v as { code?: unknown; message?: unknown };
    if (k === "lastError" && typeof e.code === "string" && typeof e.message === "string") out.add(`${e.code}: ${e.message}`);
    else if (depth < 2) problems(v as Record<string, unknown>, depth + 1, out);
  }
  return out;
}

/** The human form of /status: a summary line, what makes it degraded, then one row per component under column headers. */
export function formatStatus(st: StatusBody): string[] {
  const out = [`gateway ${st.gateway}  ridgeline ${st.version}  board ${st.board} (${st.arch})  up ${st.uptimeSec} s  ${st.healthy ? "healthy" : "DEGRADED"}`];
  for (const d of st.degraded ?? []) out.push(`  ! ${d.code}: ${d.message}`);
  const rows = Object.entries(st.components).map(([name, c]) => {
    const { state, health, restarts, lastError, ...rest } = c;
    const extra = Object.entries(rest)
      .filter(([, v]) => v !== null && typeof v !== "object")
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ");
    const detail = [health.detail ? `(${health.detail})` : "", lastError ? `last=${lastError.code}` : "", extra].filter(Boolean).join(" ");
    // What needs the operator: every error a component carries, e.g. a cloud certificate not provisioned yet.
    const notes = [...problems(rest)];
    if (lastError) notes.push(`${lastError.code}: ${lastError.message}`);
    return { cells: [name, state, health.up ? "up" : "down", String(restarts), detail], notes };
  });
  const head = ["COMPONENT", "STATE", "HEALTH", "RESTARTS", "DETAIL"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]!))).join("  ")}`.trimEnd();
  out.push(line(head));
  for (const r of rows) {
    out.push(line(r.cells));
    for (const n of r.notes) out.push(`  ${"".padEnd(w[0]!)}  ! ${n}`);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return 0;
  const dataDir = a.values.data ? resolve(a.values.data) : defaultDataDir();
  const r = await controlRequest(dataDir, "GET", "/status").catch((e: unknown) => {
    // Not running: say why it stopped when the gateway left the reason (a config error, exit 2).
    const why = readLastExit(dataDir);
    if (why && e instanceof RidgeError && (e.code === "E_CONTROL_NOT_RUNNING" || e.code === "E_CONTROL_UNREACHABLE"))
      throw new RidgeError("E_GATEWAY_STOPPED", `the gateway is not running: it stopped at ${why.at}${why.slot ? ` (slot ${why.slot})` : ""} with exit ${why.exit} and will not restart until that is fixed:\n${why.code}: ${why.message}`);
    throw e;
  });
  if (r.status !== 200) throw new RidgeError("E_CONTROL_STATUS", `status request failed (${r.status}): ${r.text}`);
  if (a.values.json) {
    console.log(JSON.stringify(r.body, null, 2));
    return 0;
  }
  const st = r.body as StatusBody;
  for (const l of formatStatus(st)) console.log(l);
  return 0;
}
