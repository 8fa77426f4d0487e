/**
 * Issue 18 items 2-4: every config error in one go (schema, references and topology together,
 * sorted by position), "did you mean" for the five kinds of names, and the run-time failures caught
 * at check time: references, ports, files, `$` topics.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type LoadOptions } from "../../runtime/config/load.js";
import { urlPortProblem } from "../../runtime/config/cross-checks.js";
import { ConfigError, type ConfigIssue } from "../../core/config-errors.js";

function issuesOf(text: string, opts: Partial<LoadOptions> = {}): ConfigIssue[] {
  try {
    loadConfig({ text, file: "gateway.yaml", env: {}, ...opts });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues;
  }
  assert.unreachable(`config was accepted:\n${text}`);
  return [];
}

function accepted(text: string, opts: Partial<LoadOptions> = {}): void {
  try {
    loadConfig({ text, file: "gateway.yaml", env: {}, ...opts });
  } catch (e) {
    assert.unreachable(`refused: ${(e as Error).message}\n${text}`);
  }
}

const base = "gateway: { id: gw-1 }\nboard: sim\n";
const sink = "  sinks:\n    out: { log: {}, input: s }\n";

test("schema, reference and topology errors come in one round, sorted by line:column", () => {
  const text = [
    "gateway: { id: gw-1 }", // 1
    "board: sim", // 2
    "log: { level: loud }", // 3  schema (enum)
    "drivers:", // 4
    "  - sim: { name: trail, devicez: 3 }", // 5  schema (unknown key)
    "  - mqtt: { name: site, listen: '127.0.0.1:99999' }", // 6  schema (port)
    "devices:", // 7
    "  - { id: d1, driver: trai }", // 8  reference (device → driver)
    "pipeline:", // 9
    "  sources: { s: { from: trial } }", // 10 reference (source → driver)
    "  operators:", // 11
    "    f: { filtr: 'payload.x > 1', input: s }", // 12 schema (operator kind)
    "    g: { filter: 'payload.x >', input: ss }", // 13 schema (expression) + topology (input)
    "    h: { filter: 'true', input: k }", // 14 topology (cycle h ← k ← h)
    "    k: { filter: 'true', input: h }", // 15
    "  sinks:", // 16
    "    out: { log: {}, input: gg }", // 17 topology (sink input)
    "",
  ].join("\n");
  const issues = issuesOf(text);
  const codes = issues.map((i) => `${i.line} ${i.code} ${i.path}`);
  for (const want of [
    "3 E_CONFIG_ENUM log.level",
    "5 E_CONFIG_UNKNOWN_KEY drivers[0].sim.devicez",
    "6 E_CONFIG_RANGE drivers[1].mqtt.listen",
    "8 E_CONFIG_REFERENCE devices[0].driver",
    "10 E_CONFIG_REFERENCE pipeline.sources.s.from",
    "12 E_PIPELINE_UNKNOWN_OPERATOR pipeline.operators.f.filtr",
    "13 E_EXPR_SYNTAX pipeline.operators.g.filter",
    "13 E_PIPELINE_REFERENCE pipeline.operators.g.input",
    "17 E_PIPELINE_REFERENCE pipeline.sinks.out.input",
  ])
    assert.ok(codes.includes(want), `missing ${want} in\n${codes.join("\n")}`);
  assert.ok(issues.some((i) => i.code === "E_PIPELINE_CYCLE"), codes.join("\n"));
  // sorted by position
  const pos = issues.map((i) => i.line * 10_000 + i.col);
  assert.equal(pos, [...pos].sort((a, b) => a - b));
  // one issue per place and code (the pipeline's own topology check repeats none)
  const keys = issues.map((i) => `${i.path} ${i.code} ${i.message}`);
  assert.is(new Set(keys).size, keys.length);
});

test("a clean pipeline's topology errors are not reported twice (cross-checks and the pipeline schema agree)", () => {
  const text = base + "drivers:\n  - sim: { name: trail }\npipeline:\n  sources: { s: { from: trail } }\n  operators:\n    a: { filter: 'true', input: b }\n    b: { filter: 'true', input: a }\n    c: { filter: 'true', input: nope }\n" + sink + "    lost: { log: {} }\n";
  const issues = issuesOf(text);
  const byPath = issues.map((i) => `${i.code} ${i.path}`);
  assert.is(new Set(byPath).size, byPath.length, byPath.join("\n"));
  assert.ok(byPath.includes("E_PIPELINE_REFERENCE pipeline.operators.c.input"));
  assert.ok(byPath.includes("E_PIPELINE_UNCONNECTED pipeline.sinks.lost"));
  assert.ok(issues.some((i) => i.code === "E_PIPELINE_CYCLE"));
});

test("did you mean: unknown keys, with the keys known at that place", () => {
  const rows: [string, string, string][] = [
    [base + "pipline: {}\n", "pipline", "pipeline"],
    [base + "drivers:\n  - mqtt: { name: a, lisen: '127.0.0.1:1883' }\n", "drivers[0].mqtt.lisen", "listen"],
    [base + "drivers:\n  - mqtt: { name: a, limits: { burts: 3 } }\n", "drivers[0].mqtt.limits.burts", "burst"],
    [base + "cloud:\n  mqtt: { url: 'mqtts://h:8883', topicPrefx: ridge }\n", "cloud.mqtt.topicPrefx", "topicPrefix"],
    [base + "drivers:\n  - sim: { name: trail }\npipeline:\n  sources: { s: { from: trail } }\n  operators:\n    w: { window: { tumblin: 60s }, aggregate: { n: count() }, input: s }\n" + sink, "pipeline.operators.w.window.tumblin", "tumbling"],
    [base + "drivers:\n  - sim: { name: trail }\npipeline:\n  sources: { s: { from: trail } }\n  sinks:\n    out: { file: { path: a.log, fsycn: true }, input: s }\n", "pipeline.sinks.out.file.fsycn", "fsync"],
    [base + "drivers:\n  - modbus: { name: bus, port: /dev/ttyS0 }\ndevices:\n  - { id: p, driver: bus, unit: 1, pols: {}, points: [{ name: a, fn: coil, address: 1 }] }\n", "devices[0].pols", "poll"],
  ];
  for (const [text, path, want] of rows) {
    const i = issuesOf(text).find((x) => x.path === path);
    assert.ok(i, `no issue at ${path}`);
    assert.is(i!.code, "E_CONFIG_UNKNOWN_KEY");
    assert.match(i!.message, `did you mean "${want}"?`);
  }
  // nothing close: no suggestion
  const far = issuesOf(base + "zzzzzz: 1\n").find((x) => x.path === "zzzzzz")!;
  assert.not.match(far.message, "did you mean");
});

test("did you mean: driver, operator and sink kinds, references of every kind, expression names", () => {
  const withTrail = base + "drivers:\n  - sim: { name: trail }\n";
  const rows: [string, string, string, string][] = [
    [base + "drivers:\n  - modbsu: { name: a }\n", "drivers[0].modbsu", "E_CONFIG_DRIVER_KIND", "modbus"],
    [withTrail + "pipeline:\n  sources: { s: { from: trail } }\n  operators:\n    f: { fitler: 'true', input: s }\n" + sink, "pipeline.operators.f.fitler", "E_PIPELINE_UNKNOWN_OPERATOR", "filter"],
    [withTrail + "pipeline:\n  sources: { s: { from: trail } }\n  sinks:\n    out: { uplnk: {}, input: s }\n", "pipeline.sinks.out.uplnk", "E_PIPELINE_UNKNOWN_SINK", "uplink"],
    [withTrail + "devices:\n  - { id: d, driver: trial }\n", "devices[0].driver", "E_CONFIG_REFERENCE", "trail"],
    [withTrail + "pipeline:\n  sources: { s: { from: [trail, trial] } }\n" + sink, "pipeline.sources.s.from[1]", "E_CONFIG_REFERENCE", "trail"],
    [withTrail + "pipeline:\n  sources: { trackers: { from: trail } }\n  sinks:\n    out: { log: {}, input: trackrs }\n", "pipeline.sinks.out.input", "E_PIPELINE_REFERENCE", "trackers"],
    [withTrail + "pipeline:\n  sources: { s: { from: trail } }\n  operators:\n    valid: { filter: 'true', input: s }\n    r: { route: [{ to: vaild }], input: s }\n" + sink, "pipeline.operators.r.route[0].to", "E_PIPELINE_REFERENCE", "valid"],
    [withTrail + "pipeline:\n  sources: { s: { from: trail } }\n  operators:\n    f: { filter: 'paylod.x > 1', input: s }\n" + sink, "pipeline.operators.f.filter", "E_EXPR_UNKNOWN_NAME", "payload"],
    [withTrail + "pipeline:\n  sources: { s: { from: trail } }\n  operators:\n    m: { map: { y: 'abss(payload.x)' }, input: s }\n" + sink, "pipeline.operators.m.map.y", "E_EXPR_UNKNOWN_FUNCTION", "abs"],
    [withTrail + "pipeline:\n  sources: { s: { from: trail } }\n  operators:\n    w: { window: { tumbling: 60s }, aggregate: { a: 'avgg(payload.x)' }, input: s }\n" + sink, "pipeline.operators.w.aggregate.a", "E_EXPR_AGGREGATE", "avg"],
  ];
  for (const [text, path, code, want] of rows) {
    const issues = issuesOf(text);
    const i = issues.find((x) => x.path === path && x.code === code);
    assert.ok(i, `no ${code} at ${path}: ${JSON.stringify(issues)}`);
    assert.match(i!.message, `did you mean "${want}"?`);
  }
});

test("did you mean: a misspelt key beside an entry's kind; the names of such an entry still count", () => {
  const text = base + "drivers:\n  - sim: { name: trail }\n    mqt: { name: x }\npipeline:\n  sources: { s: { from: trail } }\n  operators:\n    f: { filter: 'true', inptu: s }\n  sinks:\n    out: { log: {}, input: f, bacth: 3 }\n";
  const issues = issuesOf(text);
  const at = (path: string) => issues.filter((i) => i.path === path);
  assert.match(at("drivers[0]")[0]!.message, '"mqt": did you mean "mqtt"?');
  assert.is(at("drivers[0]")[0]!.code, "E_CONFIG_DRIVER_KIND");
  assert.is(at("pipeline.operators.f").length, 1, JSON.stringify(issues));
  assert.match(at("pipeline.operators.f")[0]!.message, '"inptu": did you mean "input"?');
  assert.match(at("pipeline.sinks.out")[0]!.message, '"bacth": did you mean "batch"?');
  // "trail" is still a driver name: the source is not reported
  assert.is(at("pipeline.sources.s.from").length, 0);
});

test("references the drivers check only at start: an LwM2M device's type; a TCTI port; did you mean for enum values", () => {
  const lw = issuesOf(base + "drivers:\n  - sim: { name: trail }\n  - lwm2m: { name: field, deviceTypes: { thermometer: { observe: [/3303/0/5700] } } }\ndevices:\n  - { id: t1, driver: field, type: thermometr }\n").find((i) => i.path === "devices[0].type");
  assert.is(lw?.code, "E_CONFIG_REFERENCE");
  assert.match(lw!.message, 'did you mean "thermometer"?');
  accepted(base + "drivers:\n  - sim: { name: trail }\n  - lwm2m: { name: field, deviceTypes: { thermometer: {} } }\ndevices:\n  - { id: t1, driver: field, type: thermometer }\n");
  const tcti = issuesOf(base + "attest: { tcti: 'swtpm:host=127.0.0.1,port=70000' }\n").find((i) => i.path === "attest.tcti");
  assert.is(tcti?.code, "E_CONFIG_RANGE");
  const level = issuesOf(base + "log: { level: wran }\n").find((i) => i.path === "log.level")!;
  assert.is(level.code, "E_CONFIG_ENUM");
  assert.match(level.message, 'got "wran"; did you mean "warn"?');
});

test("ports: a URL port outside 1-65535 is refused at check time, generated over every URL field", () => {
  const fields: [string, (url: string) => string, string][] = [
    ["cloud.mqtt.url", (u) => `cloud:\n  mqtt: { url: "${u}" }\n`, "mqtts"],
    ["drivers[0].mqtt.client.url", (u) => `drivers:\n  - mqtt: { name: a, broker: client, client: { url: "${u}" } }\n`, "mqtt"],
    ["ota.repo", (u) => `ota: { repo: "${u}" }\n`, "https"],
    ["ota.mirrors[0]", (u) => `ota: { repo: /srv/repo, mirrors: ["${u}"] }\n`, "https"],
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...fields),
      fc.oneof(fc.integer({ min: 65536, max: 99999 }), fc.constant(0)),
      fc.constantFrom("localhost", "10.0.0.7", "[::1]", "iot.example.com"),
      ([path, make, scheme], port, host) => {
        const url = `${scheme}://${host}:${port}/`;
        const issues = issuesOf(base + make(url));
        const i = issues.find((x) => x.path === path && x.code === "E_CONFIG_RANGE");
        assert.ok(i, `${path} ${url}: ${JSON.stringify(issues)}`);
        assert.match(i!.message, `port ${port}`);
        assert.match(i!.message, "1 to 65535");
      },
    ),
    { numRuns: 40 },
  );
  // in range: accepted
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 65535 }), (port) => {
      assert.is(urlPortProblem(`mqtts://iot.example.com:${port}`), undefined);
      accepted(base + `cloud:\n  mqtt: { url: "mqtts://iot.example.com:${port}" }\n`);
    }),
    { numRuns: 25 },
  );
  assert.is(urlPortProblem("mqtt://h"), undefined);
  assert.match(urlPortProblem("mqtt://h:x1")!, "not a number");
});

test("ports: a listen port above 65535 is E_CONFIG_RANGE on every listen field (generated)", () => {
  const fields: [string, (a: string) => string][] = [
    ["drivers[0].mqtt.listen", (a) => `drivers:\n  - mqtt: { name: a, listen: "${a}" }\n`],
    ["drivers[0].lwm2m.listen", (a) => `drivers:\n  - lwm2m: { name: a, listen: "${a}" }\n`],
    ["control.http.listen", (a) => `control:\n  http: { listen: "${a}", token: abcdefghijklmnopqrstuvwx }\n`],
  ];
  fc.assert(
    fc.property(fc.constantFrom(...fields), fc.integer({ min: 65536, max: 99999 }), ([path, make], port) => {
      const i = issuesOf(base + make(`127.0.0.1:${port}`)).find((x) => x.path === path);
      assert.ok(i, path);
      assert.is(i!.code, "E_CONFIG_RANGE");
    }),
    { numRuns: 20 },
  );
});

test("topics starting with $ are refused: cloud prefix, MQTT sink topic, MQTT driver and device topics", () => {
  const rows: [string, string][] = [
    [base + "cloud:\n  mqtt: { url: 'mqtts://h:8883', topicPrefix: '$aws/things' }\n", "cloud.mqtt.topicPrefix"],
    [base + "drivers:\n  - sim: { name: trail }\npipeline:\n  sources: { s: { from: trail } }\n  sinks:\n    out: { mqtt: { url: 'mqtt://127.0.0.1:1883', topic: '$SYS/x/{device}' }, input: s }\n", "pipeline.sinks.out.mqtt.topic"],
    [base + "drivers:\n  - mqtt: { name: a, topics: [{ pattern: '$SYS/{device}/t' }] }\n", "drivers[0].mqtt.topics[0].pattern"],
    [base + "drivers:\n  - mqtt: { name: a, command: '$share/{device}/cmd' }\n", "drivers[0].mqtt.command"],
    [base + "drivers:\n  - mqtt: { name: a }\ndevices:\n  - { id: d, driver: a, topics: [{ pattern: '$x/{device}' }] }\n", "devices[0].topics[0].pattern"],
  ];
  for (const [text, path] of rows) {
    const i = issuesOf(text).find((x) => x.path === path);
    assert.ok(i, path);
    assert.is(i!.code, "E_CONFIG_TOPIC", path);
  }
});

test("references: a source from a driver that does not exist, a device on a driver that takes none", () => {
  const a = issuesOf(base + "drivers:\n  - mqtt: { name: site }\npipeline:\n  sources: { s: { from: plant } }\n" + sink).find((x) => x.path === "pipeline.sources.s.from");
  assert.is(a?.code, "E_CONFIG_REFERENCE");
  const b = issuesOf(base + "drivers:\n  - sim: { name: trail }\ndevices:\n  - { id: d, driver: trail }\n").find((x) => x.path === "devices[0].driver");
  assert.is(b?.code, "E_CONFIG_REFERENCE");
  assert.match(b!.message, "does not take configured devices");
  // still reported next to a broken driver entry
  const c = issuesOf(base + "drivers:\n  - sim: { name: trail, rateHz: -1 }\npipeline:\n  sources: { s: { from: trial } }\n" + sink).map((x) => x.code);
  assert.ok(c.includes("E_CONFIG_RANGE") && c.includes("E_CONFIG_REFERENCE"), c.join());
});

test("files: certificates, keys, CAs and model files must exist and be readable, resolved as the runtime does", () => {
  const dir = mkdtempSync(join(tmpdir(), "ridge-cfg-files-"));
  try {
    const data = join(dir, "data");
    mkdirSync(join(data, "models", "current"), { recursive: true });
    writeFileSync(join(data, "ca.pem"), "x");
    writeFileSync(join(dir, "server.crt"), "x");
    writeFileSync(join(data, "m.json"), "{}");
    // a path through a file: there, but not readable as a file (ENOTDIR), whoever runs the check
    const unreadable = join(dir, "server.crt", "server.key");
    const text =
      base +
      `data: ${data}\n` +
      "drivers:\n" +
      `  - mqtt: { name: a, tls: { cert: ${join(dir, "server.crt")}, key: ${unreadable}, ca: ${join(dir, "nope-ca.pem")} } }\n` +
      "  - sim: { name: trail }\n" +
      "cloud:\n  mqtt: { url: 'mqtts://h:8883', ca: ca.pem, cert: id.crt, key: id.key }\n" +
      "pipeline:\n  sources: { s: { from: trail } }\n  operators:\n" +
      "    m: { model: { name: anomaly, file: missing.json }, input: s }\n" +
      "    n: { model: { name: other, file: m.json }, input: m }\n" +
      "    c: { model: { name: cached, file: gone.json }, input: n }\n" +
      "  sinks:\n    out: { log: {}, input: c }\n";
    writeFileSync(join(data, "models", "current", "cached"), "{}");
    const issues = issuesOf(text, { checkFiles: true });
    const files = issues.filter((i) => i.code === "E_CONFIG_FILE").map((i) => i.path).sort();
    const want = ["cloud.mqtt.cert", "cloud.mqtt.key", "drivers[0].mqtt.tls.ca", "drivers[0].mqtt.tls.key", "pipeline.operators.m.model.file"].sort();
    assert.equal(files, want, JSON.stringify(issues, null, 1));
    const cert = issues.find((i) => i.path === "cloud.mqtt.cert")!;
    assert.match(cert.message, `${join(data, "id.crt")}, resolved against the data directory ${data}`);
    assert.match(cert.message, "does not exist");
    assert.match(issues.find((i) => i.path === "drivers[0].mqtt.tls.key")!.message, "cannot be read");
    assert.match(issues.find((i) => i.path === "drivers[0].mqtt.tls.key")!.message, "ENOTDIR");
    // a relative MQTT driver path is resolved against the working directory
    const rel = issuesOf(base + "drivers:\n  - mqtt: { name: a, tls: { cert: no-such.crt, key: no-such.key } }\n", { checkFiles: true }).find((i) => i.path === "drivers[0].mqtt.tls.cert")!;
    assert.match(rel.message, `resolved against the working directory ${process.cwd()}`);
    // a directory is not a file
    const d = issuesOf(base + `drivers:\n  - mqtt: { name: a, tls: { cert: ${dir}, key: ${join(dir, "server.crt")} } }\n`, { checkFiles: true }).find((i) => i.path === "drivers[0].mqtt.tls.cert")!;
    assert.match(d.message, "is a directory");
    // without checkFiles (flash, reload) nothing is read
    accepted(base + "drivers:\n  - sim: { name: trail }\n  - mqtt: { name: a, tls: { cert: no-such.crt, key: no-such.key } }\n");
    // file errors come with the others, in one go
    const mixed = issuesOf(base + "log: { level: loud }\ndrivers:\n  - sim: { name: trail }\n  - mqtt: { name: a, tls: { cert: no-such.crt, key: no-such.key } }\n", { checkFiles: true }).map((i) => i.code);
    assert.equal(mixed, ["E_CONFIG_ENUM", "E_CONFIG_FILE", "E_CONFIG_FILE"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unreadable credential file is one E_CONFIG_FILE error at the secret's use, not a crash", () => {
  const dir = mkdtempSync(join(tmpdir(), "ridge-cfg-cred-"));
  try {
    // there but not a readable file (EISDIR), whoever runs the check (root reads any mode)
    mkdirSync(join(dir, "RIDGE_TOKEN"));
    const issues = issuesOf(base + 'control:\n  http: { listen: "127.0.0.1:8080", token: "${RIDGE_TOKEN}" }\n', { env: { CREDENTIALS_DIRECTORY: dir } });
    assert.is(issues.length, 1);
    assert.is(issues[0]!.code, "E_CONFIG_FILE");
    assert.is(issues[0]!.path, "control.http.token");
    assert.match(issues[0]!.message, join(dir, "RIDGE_TOKEN"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
