import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../runtime/config/load.js";
import { ConfigError, type ConfigIssue } from "../../core/config-errors.js";
import { parseDuration, parseSize } from "../../core/units.js";

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigIssue[] {
  try {
    loadConfig({ text, file: "gateway.yaml", env });
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).issues;
  }
  assert.unreachable("config was accepted");
  return [];
}

const base = "gateway: { id: gw-1 }\nboard: sim\n";

// Each bad config → the code, the line:col and the path of the first issue.
const table: { name: string; text: string; code: string; line: number; col: number; path: string; message?: RegExp }[] = [
  { name: "unknown top-level key", text: base + "colour: blue\n", code: "E_CONFIG_UNKNOWN_KEY", line: 3, col: 1, path: "colour" },
  { name: "missing gateway id", text: "gateway: {}\nboard: rpi5\n", code: "E_CONFIG_MISSING", line: 1, col: 10, path: "gateway.id" },
  { name: "wrong type", text: base + "shutdown:\n  deadline: [1]\n", code: "E_CONFIG_TYPE", line: 4, col: 13, path: "shutdown.deadline" },
  { name: "bad duration", text: base + "shutdown:\n  deadline: soon\n", code: "E_CONFIG_INVALID", line: 4, col: 13, path: "shutdown.deadline", message: /expected a duration/ },
  { name: "enum", text: base + "log:\n  level: loud\n", code: "E_CONFIG_ENUM", line: 4, col: 10, path: "log.level", message: /expected one of trace, debug.*got "loud"/ },
  {
    name: "unknown driver kind",
    text: base + "drivers:\n  - sim: { name: a }\n  - canbus: { name: b }\n",
    code: "E_CONFIG_DRIVER_KIND",
    line: 5,
    col: 5,
    path: "drivers[1].canbus",
  },
  {
    name: "driver field out of range",
    text: base + "drivers:\n  - sim:\n      name: a\n      devices: -3\n",
    code: "E_CONFIG_RANGE",
    line: 6,
    col: 16,
    path: "drivers[0].sim.devices",
  },
  {
    name: "unknown driver field",
    text: base + "drivers:\n  - sim:\n      name: a\n      speed: 3\n",
    code: "E_CONFIG_UNKNOWN_KEY",
    line: 6,
    col: 7,
    path: "drivers[0].sim.speed",
  },
  {
    name: "duplicate driver names",
    text: base + "drivers:\n  - sim: { name: a }\n  - sim: { name: a }\n",
    code: "E_CONFIG_DUPLICATE",
    line: 5,
    col: 18,
    path: "drivers[1].sim.name",
  },
  { name: "device on unknown driver", text: base + "devices:\n  - { id: d1, driver: nope }\n", code: "E_CONFIG_REFERENCE", line: 4, col: 23, path: "devices[0].driver" },
  {
    name: "pipeline source from a driver that does not exist, with a suggestion",
    text: base + "drivers:\n  - sim: { name: trail }\npipeline:\n  sources:\n    s: { from: trial }\n  sinks:\n    out: { log: {}, input: s }\n",
    code: "E_CONFIG_REFERENCE",
    line: 7,
    col: 16,
    path: "pipeline.sources.s.from",
    message: /no driver has that name \(drivers: trail\); did you mean "trail"\?/,
  },
  {
    name: "listen port above 65535 (ERR_SOCKET_BAD_PORT at run time before)",
    text: base + "drivers:\n  - mqtt: { name: site, listen: 127.0.0.1:99999 }\n",
    code: "E_CONFIG_RANGE",
    line: 4,
    col: 33,
    path: "drivers[0].mqtt.listen",
    message: /port 99999 is out of range: a port is 1 to 65535/,
  },
  { name: "device on a misspelt driver", text: base + "drivers:\n  - sim: { name: trail }\ndevices:\n  - { id: d1, driver: trai }\n", code: "E_CONFIG_REFERENCE", line: 6, col: 23, path: "devices[0].driver", message: /did you mean "trail"\?/ },
  { name: "non-loopback control without allowRemote", text: base + "control:\n  http: { listen: \"0.0.0.0:8080\", token: abcdefghijklmnopqrstuvwx }\n", code: "E_CONFIG_NOT_LOOPBACK", line: 4, col: 19, path: "control.http.listen" },
  { name: "short token", text: base + "control:\n  http: { listen: \"127.0.0.1:8080\", token: short }\n", code: "E_CONFIG_RANGE", line: 4, col: 44, path: "control.http.token" },
  { name: "missing env var", text: base + "control:\n  http: { listen: \"127.0.0.1:8080\", token: \"${RIDGE_TOKEN}\" }\n", code: "E_CONFIG_ENV", line: 4, col: 44, path: "control.http.token" },
  { name: "yaml syntax", text: base + "drivers: [\n", code: "E_CONFIG_SYNTAX", line: 4, col: 1, path: "(syntax)" },
];

for (const row of table) {
  test(`bad config: ${row.name} → ${row.code} at ${row.line}:${row.col}`, () => {
    const issues = issuesOf(row.text);
    const i = issues.find((x) => x.code === row.code);
    assert.ok(i, `expected ${row.code}, got ${JSON.stringify(issues)}`);
    assert.is(i!.path, row.path);
    assert.is(`${i!.line}:${i!.col}`, `${row.line}:${row.col}`, `${JSON.stringify(i)}`);
    assert.is(i!.file, "gateway.yaml");
    if (row.message) assert.match(i!.message, row.message);
  });
}

test("several errors are reported at once, in file order, formatted file:line:col path: message", () => {
  const text = base + "log: { level: loud }\ncolour: blue\ndrivers:\n  - sim: { name: a, devices: 0 }\n";
  try {
    loadConfig({ text, file: "gateway.yaml", env: {} });
    assert.unreachable();
  } catch (e) {
    const ce = e as ConfigError;
    assert.is(ce.code, "E_CONFIG_INVALID");
    // the board's default pipeline reads from "trail", which the file's drivers replaced: reported in the same go
    assert.is(ce.issues.length, 4);
    const lines = ce.message.split("\n");
    assert.match(lines[0]!, /^gateway\.yaml:3:15 log\.level: expected one of .*got "loud"$/);
    assert.match(lines[1]!, /^gateway\.yaml:4:1 colour: unknown key "colour"/);
    assert.match(lines[2]!, /^gateway\.yaml:6:30 drivers\[0\]\.sim\.devices: /);
    // located in the board's file, where that pipeline is written, after the config file's own errors
    assert.match(lines[3]!, /^boards\/sim\.yaml:\d+:\d+ pipeline\.sources\.trackers\.from: .*board's default pipeline/);
  }
});

test("environment substitution for secrets, with defaults", () => {
  const text = base + 'control:\n  http: { listen: "127.0.0.1:${PORT:-8080}", token: "${RIDGE_TOKEN}" }\n';
  const { config } = loadConfig({ text, file: "gateway.yaml", env: { RIDGE_TOKEN: "0123456789abcdef0123" } });
  assert.is(config.control.http?.token, "0123456789abcdef0123");
  assert.is(config.control.http?.listen, "127.0.0.1:8080");
});

test("the gateway config overrides the board defaults key by key; lists replace", () => {
  const { config, board, dataDir } = loadConfig({ text: base + "drivers:\n  - sim: { name: trail, devices: 3 }\n", file: "g.yaml", env: {} });
  assert.is(board.name, "sim");
  assert.is(config.gateway.id, "gw-1");
  assert.is(config.drivers.length, 1);
  assert.is(config.drivers[0]!.name, "trail");
  assert.is(config.drivers[0]!.config.devices, 3);
  // drivers replaced under another name: the board's default pipeline would read nothing, and says so
  const bad = issuesOf(base + "drivers:\n  - sim: { name: x }\n");
  assert.is(bad[0]!.code, "E_CONFIG_REFERENCE");
  assert.match(bad[0]!.message, /reads from "trail".*board's default pipeline: give the config its own `pipeline:`/);
  assert.ok(dataDir.endsWith(".ridgeline"));
  // No file at all: the sim board's embedded default.
  const d = loadConfig({ env: {} });
  assert.is(d.config.gateway.id, "sim-gw");
  assert.is(d.config.drivers[0]!.kind, "sim");
});

test("a gateway's pipeline replaces the board's default pipeline whole", () => {
  const text = base + "pipeline:\n  sources: { s: { from: trail } }\n  sinks: { out: { log: {}, input: s } }\n";
  const { config } = loadConfig({ text, file: "g.yaml", env: {} });
  assert.equal(Object.keys(config.pipeline.sources), ["s"]);
  assert.equal(Object.keys(config.pipeline.operators ?? {}), []);
  assert.equal(Object.keys(config.pipeline.sinks), ["out"]);
});

test("unknown board is a config error with the list of boards", () => {
  try {
    loadConfig({ text: "gateway: { id: a }\nboard: toaster\n", file: "g.yaml", env: {} });
    assert.unreachable();
  } catch (e) {
    assert.is((e as ConfigError).code, "E_BOARD_UNKNOWN");
    assert.match((e as Error).message, /rpi5/);
  }
});

test("units: durations and sizes", () => {
  assert.is(parseDuration("250ms"), 250);
  assert.is(parseDuration("6h"), 21_600_000);
  assert.is(parseDuration("7d"), 604_800_000);
  assert.is(parseDuration("1.5s"), 1500);
  assert.is(parseDuration("fast"), undefined);
  assert.is(parseSize("512MiB"), 512 * 1024 * 1024);
  assert.is(parseSize("64KB"), 64_000);
  assert.is(parseSize(4096), 4096);
  assert.is(parseSize("lots"), undefined);
});

test.run();
