/** `ridge pipeline reload`: ask the running gateway to re-read its config and swap the pipeline topology. */
import { RidgeError, formatIssue, type ConfigIssue } from "../../../core/index.js";
import { resolve } from "node:path";
import { controlRequest } from "../../control/client.js";
import { EXIT, parseCommand } from "../args.js";
import { defaultDataDir } from "./status.js";

const spec = {
  usage: "ridge pipeline reload [--data DIR]",
  summary: "Re-read the gateway config and swap the pipeline topology without a restart. Invalid config: the old topology keeps running, the errors are printed (exit 2).",
  options: { data: { type: "string" } },
  details: "  --data DIR   the gateway's data directory (its control socket is DIR/ridge.sock); default: $RIDGE_DATA, ./.ridgeline if present, else /var/lib/ridgeline",
} as const;

export async function run(argv: string[]): Promise<number> {
  const a = parseCommand(argv, spec);
  if (!a) return EXIT.ok;
  const [sub] = a.positionals;
  if (sub !== "reload") throw new RidgeError("E_USAGE", `usage: ${spec.usage}`);
  const dataDir = a.values.data ? resolve(a.values.data) : defaultDataDir();
  const r = await controlRequest(dataDir, "POST", "/pipeline/reload");
  const body = (r.body ?? {}) as { ok?: boolean; errors?: ConfigIssue[]; ms?: number; kept?: string[]; rebuilt?: string[]; carried?: { operator: string; fresh: string[] }[]; lost?: { operator: string; reason: string }[] };
  if (r.status === 200 && body.ok) {
    console.log(`pipeline reloaded in ${(body.ms ?? 0).toFixed(1)} ms; kept ${body.kept?.length ?? 0} (${(body.kept ?? []).join(", ") || "none"}), rebuilt ${body.rebuilt?.length ?? 0} (${(body.rebuilt ?? []).join(", ") || "none"})`);
    for (const c of body.carried ?? []) console.log(`  ${c.operator}: changed, open state carried over${c.fresh.length ? ` (${c.fresh.join(", ")} start${c.fresh.length === 1 ? "s" : ""} with this reload's events)` : ""}`);
    for (const l of body.lost ?? []) console.log(`  ${l.operator}: changed, its state is lost: ${l.reason}`);
    return EXIT.ok;
  }
  if (body.errors?.length) {
    for (const i of body.errors) console.error(formatIssue(i));
    console.error(`${body.errors.length} config error${body.errors.length === 1 ? "" : "s"}: the running pipeline is unchanged`);
    return EXIT.badConfig;
  }
  throw new RidgeError("E_PIPELINE_RELOAD", `reload failed: HTTP ${r.status} ${r.text}`);
}
