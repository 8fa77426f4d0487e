/**
 * The checks of a gateway config that look across sections (a device's driver, a source's `from:`,
 * the pipeline's wiring) or at values whose trouble only shows at run time (URL ports, `$` topics).
 *
 * They read the raw, merged config (board defaults + file + environment) rather than the schema's
 * output, so that they run whatever else is wrong: a broken operator does not hide a dangling
 * reference three lines below it (issue 18: every error at once). A check whose input is missing or
 * of the wrong type is skipped; the schema reports that input. Issues are zod custom issues with a
 * `params.code`, located by the loader like every other.
 */
import type { z } from "zod";
import { didYouMean } from "../../core/index.js";
import { driverKinds, type DriverKindName } from "../drivers.js";

export type Path = (string | number)[];
export type CheckIssue = z.ZodIssue & { code: "custom" };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function issue(path: Path, message: string, code: string): CheckIssue {
  return { code: "custom", path, message, params: { code } };
}

/** A name or a list of names as written (`input: a` or `input: [a, b]`), or undefined when it is neither. */
function nameList(v: unknown): string[] | undefined {
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  return undefined;
}

export interface RawDriver {
  index: number;
  kind: string;
  name: string;
}

/** The drivers as written: each entry with exactly one key naming its kind and a string `name`. */
export function rawDrivers(cfg: Record<string, unknown>): RawDriver[] | undefined {
  if (!Array.isArray(cfg.drivers)) return undefined;
  const out: RawDriver[] = [];
  cfg.drivers.forEach((e, index) => {
    if (!isPlainObject(e)) return;
    // an entry with two kinds (a list item's indentation slipped) is its own error: its names still
    // count, so that what refers to them is not reported as well
    for (const [kind, body] of Object.entries(e)) if (isPlainObject(body) && typeof body.name === "string") out.push({ index, kind, name: body.name });
  });
  return out;
}

/** The message for a name that refers to no driver, shared by devices and sources. */
function noDriver(what: string, name: string, known: string[]): string {
  return `${what} "${name}", but no driver has that name (drivers: ${known.join(", ") || "none"})${didYouMean(name, known)}`;
}

function driverChecks(cfg: Record<string, unknown>, out: CheckIssue[]): void {
  const drivers = rawDrivers(cfg);
  if (!drivers) return;
  const byName = new Map<string, RawDriver>();
  for (const d of drivers) {
    const prev = byName.get(d.name);
    if (prev) out.push(issue(["drivers", d.index, d.kind, "name"], `driver name "${d.name}" is already used by drivers[${prev.index}]`, "E_CONFIG_DUPLICATE"));
    else byName.set(d.name, d);
  }
  const known = [...byName.keys()];
  if (Array.isArray(cfg.devices)) {
    const ids = new Set<string>();
    cfg.devices.forEach((dev, i) => {
      if (!isPlainObject(dev)) return;
      if (typeof dev.id === "string") {
        if (ids.has(dev.id)) out.push(issue(["devices", i, "id"], `device id "${dev.id}" is used twice`, "E_CONFIG_DUPLICATE"));
        ids.add(dev.id);
      }
      if (typeof dev.driver !== "string") return;
      const d = byName.get(dev.driver);
      if (!d) {
        out.push(issue(["devices", i, "driver"], noDriver(`device "${String(dev.id)}" is on driver`, dev.driver, known), "E_CONFIG_REFERENCE"));
        return;
      }
      if (!(d.kind in driverKinds)) return; // the unknown kind is the error
      const schema = driverKinds[d.kind as DriverKindName].device;
      if (!schema) {
        out.push(issue(["devices", i, "driver"], `driver "${dev.driver}" (${d.kind}) does not take configured devices`, "E_CONFIG_REFERENCE"));
        return;
      }
      const r = schema.safeParse(dev);
      if (!r.success) for (const is of r.error.issues) out.push({ ...is, path: ["devices", i, ...is.path] } as CheckIssue);
      if (d.kind === "mqtt") topicChecks(dev, ["devices", i], out);
      if (d.kind === "lwm2m" && typeof dev.type === "string") {
        // the driver refuses to start with a device type it does not have (lwm2m-driver.ts)
        const body = ((cfg.drivers as Record<string, unknown>[])[d.index]!.lwm2m ?? {}) as Record<string, unknown>;
        const types = isPlainObject(body.deviceTypes) ? Object.keys(body.deviceTypes) : [];
        if (!types.includes(dev.type))
          out.push(issue(["devices", i, "type"], `no device type "${dev.type}" in driver "${d.name}"'s deviceTypes (${types.join(", ") || "none"})${didYouMean(dev.type, types)}`, "E_CONFIG_REFERENCE"));
      }
    });
  }
  const pipeline = cfg.pipeline;
  if (isPlainObject(pipeline) && isPlainObject(pipeline.sources))
    for (const [src, def] of Object.entries(pipeline.sources)) {
      if (!isPlainObject(def)) continue;
      const from = nameList(def.from);
      from?.forEach((d, j) => {
        if (byName.has(d)) return;
        out.push(issue(["pipeline", "sources", src, "from", ...(Array.isArray(def.from) ? [j] : [])], noDriver(`source "${src}" reads from`, d, known), "E_CONFIG_REFERENCE"));
      });
    }
  for (const d of drivers) if (d.kind === "mqtt") topicChecks((cfg.drivers as Record<string, unknown>[])[d.index]!.mqtt as Record<string, unknown>, ["drivers", d.index, "mqtt"], out);
}

// ---------------------------------------------------------------- pipeline wiring

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const OPERATOR_EXTRA = ["input", "edge", "aggregate"];
const SINK_EXTRA = ["input", "edge", "batch"];

function kindOf(entry: Record<string, unknown>, extra: string[]): string | undefined {
  const kinds = Object.keys(entry).filter((k) => !extra.includes(k));
  return kinds.length === 1 ? kinds[0] : undefined;
}

/** The same rules as the pipeline schema's topology check (runtime/pipeline/config.ts), on what was written. */
function pipelineChecks(cfg: Record<string, unknown>, out: CheckIssue[]): void {
  const p = cfg.pipeline;
  if (!isPlainObject(p)) return;
  const section = (k: string) => (isPlainObject(p[k]) ? (p[k] as Record<string, unknown>) : {});
  const sources = section("sources");
  const operators = section("operators");
  const sinks = section("sinks");
  const at = (...path: Path): Path => ["pipeline", ...path];
  const owner = new Map<string, "sources" | "operators" | "sinks">();
  for (const [sec, entries] of [["sources", sources], ["operators", operators], ["sinks", sinks]] as const)
    for (const n of Object.keys(entries)) {
      if (!NAME.test(n)) out.push(issue(at(sec, n), `"${n}" is not a valid name (letters, digits, '_' or '-', starting with a letter)`, "E_PIPELINE_NAME"));
      const prev = owner.get(n);
      if (prev) out.push(issue(at(sec, n), `the name "${n}" is already used in ${prev}`, "E_PIPELINE_DUPLICATE_NAME"));
      else owner.set(n, sec);
    }
  const opKind = (n: string) => (isPlainObject(operators[n]) ? kindOf(operators[n] as Record<string, unknown>, OPERATOR_EXTRA) : undefined);
  const readableNames = [...owner.entries()].filter(([, s]) => s !== "sinks").map(([n]) => n);
  const lateNames = Object.keys(operators).filter((n) => opKind(n) === "window").map((n) => `${n}.late`);
  const readable = (ref: string): "ok" | "sink" | "unknown" => {
    const [base, port, ...rest] = ref.split(".");
    if (rest.length) return "unknown";
    const o = owner.get(base!);
    if (!o) return "unknown";
    if (o === "sinks") return "sink";
    if (port === undefined) return "ok";
    return o === "operators" && port === "late" && opKind(base!) === "window" ? "ok" : "unknown";
  };
  const unknownInput = (ref: string) => `no source or operator named "${ref}" (known: ${readableNames.join(", ") || "none"})${didYouMean(ref, [...readableNames, ...lateNames])}`;

  const routed = new Set<string>();
  const routes: { name: string; cases: { to: string[]; raw: unknown; ci: number }[] }[] = [];
  for (const [name, op] of Object.entries(operators)) {
    if (!isPlainObject(op) || opKind(name) !== "route" || !Array.isArray(op.route)) continue;
    const cases = op.route.flatMap((c, ci) => {
      const to = isPlainObject(c) ? nameList(c.to) : undefined;
      return to ? [{ to, raw: c.to, ci }] : [];
    });
    for (const c of cases) for (const t of c.to) routed.add(t);
    routes.push({ name, cases });
  }
  const deps = new Map<string, string[]>();
  const checkInputs = (sec: "operators" | "sinks", name: string, entry: Record<string, unknown>) => {
    if (entry.input === undefined) {
      // an entry without exactly one kind is reported as such (often a misspelt `input` beside the kind)
      if (!routed.has(name) && kindOf(entry, sec === "operators" ? OPERATOR_EXTRA : SINK_EXTRA) !== undefined)
        out.push(
          sec === "operators"
            ? issue(at(sec, name), `operator "${name}" needs \`input: <source or operator>\` (or a route sending to it)`, "E_PIPELINE_INPUT")
            : issue(at(sec, name), `sink "${name}" has no input and no route sends to it`, "E_PIPELINE_UNCONNECTED"),
        );
      return;
    }
    const input = nameList(entry.input);
    if (!input) return; // not a name or a list of names: the schema says so
    input.forEach((ref, i) => {
      const path = at(sec, name, "input", ...(input.length > 1 ? [i] : []));
      const r = readable(ref);
      if (r === "sink") out.push(issue(path, `"${ref}" is a sink; ${sec === "operators" ? "an operator" : "a sink"} reads from a source or ${sec === "operators" ? "another operator" : "an operator"}`, "E_PIPELINE_REFERENCE"));
      else if (r === "unknown") out.push(issue(path, unknownInput(ref), "E_PIPELINE_REFERENCE"));
    });
    if (sec === "operators") deps.set(name, input.map((r) => r.split(".")[0]!));
  };
  for (const [name, op] of Object.entries(operators)) if (isPlainObject(op)) checkInputs("operators", name, op);
  for (const [name, sk] of Object.entries(sinks)) if (isPlainObject(sk)) checkInputs("sinks", name, sk);
  const targets = Object.keys(operators).concat(Object.keys(sinks));
  for (const r of routes)
    for (const c of r.cases)
      c.to.forEach((t, ti) => {
        const o = owner.get(t);
        if (o === "operators") deps.set(t, [...(deps.get(t) ?? []), r.name]);
        else if (o !== "sinks") out.push(issue(at("operators", r.name, "route", c.ci, "to", ...(c.to.length > 1 ? [ti] : [])), `no sink or operator named "${t}"${didYouMean(t, targets)}`, "E_PIPELINE_REFERENCE"));
      });
  // cycles among operators (depth-first, the first operator of each cycle found)
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      if (!(d in operators)) continue;
      const s = state.get(d);
      if (s === 1) out.push(issue(at("operators", d, "input"), `cycle: ${[...stack.slice(stack.indexOf(d)), d].reverse().join(" → ")}`, "E_PIPELINE_CYCLE"));
      else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of Object.keys(operators)) if (!state.has(n)) visit(n);
  for (const [name, sk] of Object.entries(sinks))
    if (isPlainObject(sk) && isPlainObject(sk.mqtt) && typeof sk.mqtt.topic === "string" && sk.mqtt.topic.startsWith("$"))
      out.push(issue(at("sinks", name, "mqtt", "topic"), reservedTopic(sk.mqtt.topic), "E_CONFIG_TOPIC"));
}

// ---------------------------------------------------------------- topics and ports

/** MQTT 5 §4.7.2: topics beginning with $ are the broker's own ($SYS/…, AWS $aws/…); clients' publishes to them are refused or dropped. */
function reservedTopic(t: string): string {
  return `topic "${t}" starts with $: topics beginning with $ are reserved for the broker ($SYS, $aws, …; MQTT 5 §4.7.2) and a client's publish or subscription there is refused or dropped`;
}

/** `topics[].pattern` and `command` of an MQTT driver or device. */
function topicChecks(o: unknown, path: Path, out: CheckIssue[]): void {
  if (!isPlainObject(o)) return;
  if (Array.isArray(o.topics))
    o.topics.forEach((t, j) => {
      if (isPlainObject(t) && typeof t.pattern === "string" && t.pattern.startsWith("$")) out.push(issue([...path, "topics", j, "pattern"], reservedTopic(t.pattern), "E_CONFIG_TOPIC"));
    });
  if (typeof o.command === "string" && o.command.startsWith("$")) out.push(issue([...path, "command"], reservedTopic(o.command), "E_CONFIG_TOPIC"));
}

/** `scheme://[user@]host[:port]…`: the port as written, when there is one. */
const URL_AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:[^@/?#\s]*@)?(\[[^\]]*\]|[^:/?#\s]*)(?::([^/?#]*))?/;

/** A port outside 1–65535 in a URL, or undefined. Exported for the tests' generated ports. */
export function urlPortProblem(url: string): string | undefined {
  const m = URL_AUTHORITY.exec(url);
  if (!m || m[3] === undefined) return undefined;
  const port = m[3];
  if (!/^\d+$/.test(port)) return `the port "${port}" in ${url} is not a number: a port is 1 to 65535`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `port ${port} in ${url} is out of range: a port is 1 to 65535`;
  return undefined;
}

function portChecks(v: unknown, path: Path, out: CheckIssue[]): void {
  if (typeof v === "string") {
    const p = urlPortProblem(v);
    if (p) out.push(issue(path, p, "E_CONFIG_RANGE"));
  } else if (Array.isArray(v)) v.forEach((x, i) => portChecks(x, [...path, i], out));
  else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) portChecks(x, [...path, k], out);
}

/** Every cross-section check of a raw merged config. */
export function crossChecks(cfg: unknown): CheckIssue[] {
  if (!isPlainObject(cfg)) return [];
  const out: CheckIssue[] = [];
  driverChecks(cfg, out);
  pipelineChecks(cfg, out);
  portChecks(cfg, [], out);
  // a TPM simulator's TCTI: `swtpm:host=…,port=N`
  const tcti = isPlainObject(cfg.attest) ? cfg.attest.tcti : undefined;
  if (typeof tcti === "string")
    for (const m of tcti.matchAll(/(?:^|[:,])port=(\d+)/g))
      if (Number(m[1]) < 1 || Number(m[1]) > 65535) out.push(issue(["attest", "tcti"], `port ${m[1]} in TCTI "${tcti}" is out of range: a port is 1 to 65535`, "E_CONFIG_RANGE"));
  return out;
}
