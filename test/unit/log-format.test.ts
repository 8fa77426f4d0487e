// runtime/log.ts: each key once in every JSON entry (bindings given again by a call or a child),
// terminal and journald lines, and how the format is chosen (JOURNAL_STREAM must name stderr).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, fstatSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseStrictJson } from "../../core/strict-json.js";
import { createLogger, journalLine, journalPriority, prettyLine, resolveLogFormat, stderrIsJournal, type LogFormat } from "../../runtime/log.js";

const codes = { syntax: "E_OTA_PARSE", duplicateKey: "E_OTA_JSON_DUPLICATE_KEY", depth: "E_OTA_JSON_DEPTH", number: "E_OTA_JSON_NUMBER" } as const;

function recorder(format: LogFormat = "json") {
  const lines: string[] = [];
  const log = createLogger("debug", { gateway: "gw-1" }, { format, stream: { write: (s: string) => lines.push(s) } });
  return { log, lines };
}

/** Parse one JSON line, refusing duplicate keys (JSON.parse would keep the last silently). */
function strict(line: string): Record<string, unknown> {
  const r = parseStrictJson(line.trim(), { codes, maxDepth: 16 });
  if (!r.ok) throw new Error(`${r.code}: ${r.reason} in ${line}`);
  return r.value as Record<string, unknown>;
}

test("a driver logging its own name through its driver logger: the key once", () => {
  const { log, lines } = recorder();
  const dlog = log.child({ driver: "site" });
  dlog.info({ driver: "site", url: "mqtt://x" }, "mqtt: connected to the site broker");
  assert.is(lines.length, 1);
  assert.not.match(lines[0]!, /"driver":"site".*"driver":"site"/);
  const e = strict(lines[0]!);
  assert.is(e.driver, "site");
  assert.is(e.url, "mqtt://x");
  assert.is(e.gateway, "gw-1");
});

test("a child binding its parent's key again, and a call giving another value: one key, the nearest value", () => {
  const { log, lines } = recorder();
  const a = log.child({ component: "cloud", gateway: "gw-1" });
  const b = a.child({ component: "twin" });
  b.warn({ code: "E_X" }, "one");
  a.warn({ component: "models", code: "E_Y" }, "two");
  a.warn({ gateway: "gw-1" }, "three");
  const [one, two, three] = lines.map(strict);
  assert.is(one!.component, "twin");
  assert.is(two!.component, "models");
  assert.is(two!.code, "E_Y");
  assert.is(three!.gateway, "gw-1");
  // and the logger itself keeps its own binding for the next entry
  a.info({}, "four");
  assert.is(strict(lines[3]!).component, "cloud");
});

test("the duplicate checker itself refuses a duplicate key", () => {
  assert.throws(() => strict('{"driver":"site","driver":"site"}'), /DUPLICATE_KEY/);
});

test("pretty lines: time, level name, component, message, key fields", () => {
  const { log, lines } = recorder("pretty");
  log.child({ component: "cloud" }).warn({ code: "E_CLOUD_TLS", err: "certificate unknown", retryInMs: 2000 }, "cloud link: connect failed");
  log.child({ driver: "rs485-1" }).info({ driver: "rs485-1", port: "/dev/ttyAMA0" }, "serial port is back");
  assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  cloud: cloud link: connect failed code=E_CLOUD_TLS err="certificate unknown" retryInMs=2000\n$/);
  assert.match(lines[1]!, / INFO  driver:rs485-1: serial port is back driver=rs485-1 port=\/dev\/ttyAMA0\n$/);
  assert.is(lines[1]!.split("driver=").length, 2);
});

test("journal lines: the sd-daemon priority prefix, no time (the journal has it)", () => {
  const { log, lines } = recorder("journal");
  const c = log.child({ component: "pipeline" });
  c.error({ code: "E_CONFIG_REF" }, "reload rejected");
  c.warn({}, "w");
  c.info({}, "i");
  c.debug({}, "d");
  log.fatal({}, "f");
  assert.equal(lines, ["<3>pipeline: reload rejected code=E_CONFIG_REF\n", "<4>pipeline: w\n", "<6>pipeline: i\n", "<7>pipeline: d\n", "<2>gateway: f\n"]);
  assert.equal([10, 20, 30, 40, 50, 60].map(journalPriority), [7, 7, 6, 4, 3, 2]);
  assert.is(journalLine({ level: 40, msg: "two\nlines", component: "x" }), "<4>x: two lines\n");
  assert.is(prettyLine({ level: 30, time: "T", msg: "m", nested: { a: 1 }, empty: "" }), 'T INFO  gateway: m nested={"a":1} empty=""\n');
});

test("the format: asked, else RIDGE_LOG_FORMAT, else journald, a terminal, json", () => {
  assert.is(resolveLogFormat("json", { RIDGE_LOG_FORMAT: "pretty" }, true), "json");
  assert.is(resolveLogFormat("pretty", {}, false), "pretty");
  assert.is(resolveLogFormat("auto", { RIDGE_LOG_FORMAT: "journal" }, true), "journal");
  assert.is(resolveLogFormat("auto", {}, true), "pretty");
  assert.is(resolveLogFormat("auto", {}, false), "json");
  assert.is(resolveLogFormat(undefined, { JOURNAL_STREAM: "1:2" }, false), stderrIsJournal({ JOURNAL_STREAM: "1:2" }) ? "journal" : "json");
});

test("JOURNAL_STREAM counts only when it names the stream stderr is", () => {
  const dir = mkdtempSync(join(tmpdir(), "ridge-log-"));
  const fd = openSync(join(dir, "stream"), "w");
  const other = openSync(join(dir, "other"), "w");
  try {
    const st = fstatSync(fd, { bigint: true });
    const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
    assert.ok(stderrIsJournal(env, fd));
    assert.not.ok(stderrIsJournal(env, other));
    assert.not.ok(stderrIsJournal({}, fd));
    assert.not.ok(stderrIsJournal({ JOURNAL_STREAM: "garbage" }, fd));
  } finally {
    closeSync(fd);
    closeSync(other);
  }
});

test.run();
