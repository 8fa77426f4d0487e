/**
 * Files a gateway config names that must exist where the gateway runs: TLS certificates, keys and
 * CAs, model files. Without this check a missing file shows only at run time (a driver that fails
 * to start, a restart loop); `ridge config check` runs it on the machine it checks for.
 *
 * Each path is resolved the way the runtime resolves it: the cloud link's `ca`/`cert`/`key` and a
 * model's `file` against the data directory (runtime/cloud/tls-material.ts, pipeline/model-provider.ts),
 * an MQTT driver's TLS files against the working directory (the driver reads them as given).
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { CheckIssue, Path } from "./cross-checks.js";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export interface FileCheckContext {
  /** The resolved data directory. */
  dataDir: string;
  /** The working directory of the gateway (default: this process's). */
  cwd?: string;
  /** Paths not to check (a deferred secret's stand-in). */
  skip?: (path: Path) => boolean;
}

type Base = "data" | "cwd";

/** Why `file` (as written, resolved against `base`) cannot be read, or undefined when it can. */
export function fileProblem(file: string, base: Base, ctx: FileCheckContext): string | undefined {
  const baseDir = base === "data" ? ctx.dataDir : (ctx.cwd ?? process.cwd());
  const path = isAbsolute(file) ? file : base === "data" ? join(baseDir, file) : resolve(baseDir, file);
  const where = isAbsolute(file) ? path : `${path}, resolved against the ${base === "data" ? "data directory" : "working directory"} ${baseDir}`;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "?";
    return code === "ENOENT" ? `file ${file} does not exist (${where})` : `file ${file} cannot be read (${where}: ${code})`;
  }
  if (st.isDirectory()) return `${file} is a directory, not a file (${where})`;
  try {
    accessSync(path, constants.R_OK);
  } catch (e) {
    return `file ${file} cannot be read (${where}: ${(e as NodeJS.ErrnoException).code ?? "?"}); the gateway reads it as its own user`;
  }
  return undefined;
}

/** Every file field of a raw merged config that names a file that is not there or not readable. */
export function fileChecks(cfg: unknown, ctx: FileCheckContext): CheckIssue[] {
  const out: CheckIssue[] = [];
  if (!isPlainObject(cfg)) return out;
  const check = (o: unknown, path: Path, fields: readonly string[], base: Base, what: string) => {
    if (!isPlainObject(o)) return;
    for (const f of fields) {
      const v = o[f];
      if (typeof v !== "string" || v === "" || ctx.skip?.([...path, f])) continue;
      const p = fileProblem(v, base, ctx);
      if (p) out.push({ code: "custom", path: [...path, f], message: `${what}: ${p}`, params: { code: "E_CONFIG_FILE" } });
    }
  };
  if (Array.isArray(cfg.drivers))
    cfg.drivers.forEach((e, i) => {
      if (!isPlainObject(e) || !isPlainObject(e.mqtt)) return;
      const m = e.mqtt;
      // the embedded broker reads tls:, a client of a site broker reads client:
      if (m.broker === "client") check(m.client, ["drivers", i, "mqtt", "client"], ["ca", "cert", "key"], "cwd", "the site broker's TLS material");
      else check(m.tls, ["drivers", i, "mqtt", "tls"], ["cert", "key", "ca"], "cwd", "the embedded broker's TLS listener needs it");
    });
  if (isPlainObject(cfg.cloud)) check(cfg.cloud.mqtt, ["cloud", "mqtt"], ["ca", "cert", "key"], "data", "the cloud link's TLS material");
  const ops = isPlainObject(cfg.pipeline) && isPlainObject(cfg.pipeline.operators) ? cfg.pipeline.operators : {};
  for (const [name, op] of Object.entries(ops)) {
    if (!isPlainObject(op) || !isPlainObject(op.model)) continue;
    const m = op.model;
    // a model the cache already holds (<data>/models/current/<name>) does not need its file
    if (typeof m.name === "string" && existsSync(join(ctx.dataDir, "models", "current", m.name))) continue;
    check(m, ["pipeline", "operators", name, "model"], ["file"], "data", `model "${String(m.name)}" is not in the model cache and its file is needed`);
  }
  return out;
}
