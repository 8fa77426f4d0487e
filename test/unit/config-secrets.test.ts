// `${NAME}` secrets: resolved at run time from the systemd credentials directory (NAME or the
// flashed unit's ridgeline_NAME), else the environment; one clear error when missing, in the list
// with every other error; deferred at flash time and by `ridge config check --defer-secrets`; never
// shown in an error message; the flash options that place them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../core/config-errors.js";
import { RidgeError } from "../../core/index.js";
import { loadConfig, resolveSecrets, secretRefs } from "../../runtime/config/load.js";
import { run as runConfig } from "../../runtime/cli/commands/config.js";
import { parseSecretOptions, referencedSecrets, secretsEnv } from "../../flash/index.js";
import { tempDir } from "../../peers/process.js";

const TEXT = 'gateway: { id: s1 }\nboard: sim\ncontrol:\n  http: { listen: "127.0.0.1:${PORT:-8080}", token: "${RIDGE_TOKEN}" }\n';
const TOKEN = "0123456789abcdef0123456789";

function errorOf(f: () => unknown): RidgeError {
  try {
    f();
  } catch (e) {
    return e as RidgeError;
  }
  throw new Error("expected an error");
}

test("a credential file wins over the environment; the flashed unit's ridgeline_ prefix; one trailing newline dropped", () => {
  const t = tempDir("ridge-creds-");
  try {
    writeFileSync(join(t.dir, "RIDGE_TOKEN"), `${TOKEN}\n`);
    let c = loadConfig({ text: TEXT, file: "g.yaml", env: { CREDENTIALS_DIRECTORY: t.dir, RIDGE_TOKEN: "from-the-environment-000000" } });
    assert.is(c.config.control.http?.token, TOKEN);
    const folder = join(t.dir, "folder");
    mkdirSync(folder);
    writeFileSync(join(folder, "ridgeline_RIDGE_TOKEN"), TOKEN);
    c = loadConfig({ text: TEXT, file: "g.yaml", env: { CREDENTIALS_DIRECTORY: folder } });
    assert.is(c.config.control.http?.token, TOKEN);
    c = loadConfig({ text: TEXT, file: "g.yaml", env: { RIDGE_TOKEN: TOKEN } });
    assert.is(c.config.control.http?.token, TOKEN, "the environment (EnvironmentFile=) as the fallback");
    assert.equal(resolveSecrets(["RIDGE_TOKEN", "NOPE"], { CREDENTIALS_DIRECTORY: folder }), { RIDGE_TOKEN: TOKEN });
  } finally {
    t.cleanup();
  }
});

test("a missing secret is ONE error (E_CONFIG_SECRET, exit 2) that names it, where it was looked for, and how to provide it", () => {
  const e = errorOf(() => loadConfig({ text: TEXT, file: "g.yaml", env: { CREDENTIALS_DIRECTORY: "/run/credentials/ridgeline.service" } }));
  assert.ok(e instanceof ConfigError);
  const ce = e as ConfigError;
  assert.is(ce.code, "E_CONFIG_SECRET");
  assert.is(ce.issues.length, 1, "one issue, not a cascade of schema errors from the empty value");
  const i = ce.issues[0]!;
  assert.equal([i.code, i.path, `${i.line}:${i.col}`], ["E_CONFIG_ENV", "control.http.token", "4:53"]);
  for (const s of ["${RIDGE_TOKEN}", "/run/credentials/ridgeline.service", "/etc/ridgeline/credentials/RIDGE_TOKEN", "--secret RIDGE_TOKEN=", "--secret-file RIDGE_TOKEN=", "systemd-creds encrypt --name=RIDGE_TOKEN", "LoadCredentialEncrypted=RIDGE_TOKEN:", "environment variable RIDGE_TOKEN"])
    assert.ok(i.message.includes(s), `the message says ${s}: ${i.message}`);
  // two missing secrets: one error each, at its own place; a secret used twice is one error that names its other use
  const two = errorOf(() => loadConfig({ text: `${TEXT}cloud:\n  mqtt: { url: "mqtts://h:8883", username: "\${MQTT_PASSWORD}", password: "\${MQTT_PASSWORD}" }\n`, file: "g.yaml", env: {} })) as ConfigError;
  assert.is(two.code, "E_CONFIG_SECRET");
  assert.equal(
    two.issues.map((i) => [i.path, i.line]),
    [
      ["control.http.token", 4],
      ["cloud.mqtt.username", 6],
    ],
  );
  assert.match(two.issues[0]!.message, /^secret \$\{RIDGE_TOKEN\} is not provided/);
  assert.match(two.issues[1]!.message, /^secret \$\{MQTT_PASSWORD\} is not provided.*\(also used at cloud\.mqtt\.password\)$/);
});

test("a missing secret is one more error in the list: the other errors are still found, in file order; its stand-in's own issues are not reported", () => {
  // the trial's file: without RIDGE_TOKEN only the secret was reported, the two `colour` keys hidden
  const text = 'gateway: { id: s1 }\nlog: { colour: red, level: "${LOG_LEVEL}" }\ncontrol:\n  http: { listen: "127.0.0.1:8080", token: "${RIDGE_TOKEN}" }\ncolour: blue\n';
  const e = errorOf(() => loadConfig({ text, file: "bad.yaml", board: "generic-arm64", env: {} })) as ConfigError;
  assert.ok(e instanceof ConfigError);
  assert.is(e.code, "E_CONFIG_INVALID", "not only secrets are wrong");
  assert.equal(
    e.issues.map((i) => [`${i.line}:${i.col}`, i.path, i.code]),
    [
      ["2:8", "log.colour", "E_CONFIG_UNKNOWN_KEY"],
      ["2:28", "log.level", "E_CONFIG_ENV"],
      ["4:44", "control.http.token", "E_CONFIG_ENV"],
      ["5:1", "colour", "E_CONFIG_UNKNOWN_KEY"],
    ],
  );
  // LOG_LEVEL's stand-in is no log level and RIDGE_TOKEN's could have been too short: neither is reported, nor shown
  assert.not.match(e.message, /expected one of|bearer token|deferred/);
  // with the secrets given, the same file has exactly its own errors left
  const given = errorOf(() => loadConfig({ text, file: "bad.yaml", board: "generic-arm64", env: { RIDGE_TOKEN: TOKEN, LOG_LEVEL: "info" } })) as ConfigError;
  assert.equal(
    given.issues.map((i) => i.path),
    ["log.colour", "colour"],
  );
  // a missing secret beside a valid rest: E_CONFIG_SECRET, as the launcher and `ridge status` expect
  assert.is((errorOf(() => loadConfig({ text: TEXT, file: "g.yaml", env: {} })) as ConfigError).code, "E_CONFIG_SECRET");
});

test("flash time: deferSecrets accepts a secret only the device has, and says which", () => {
  const c = loadConfig({ text: TEXT, file: "g.yaml", env: {}, deferSecrets: true });
  assert.equal(c.deferredSecrets, ["RIDGE_TOKEN"]);
  assert.is(c.config.control.http?.listen, "127.0.0.1:8080", "defaults still apply");
  // a given value is checked as the device will check it
  const short = errorOf(() => loadConfig({ text: TEXT, file: "g.yaml", env: { RIDGE_TOKEN: "short" }, deferSecrets: true })) as ConfigError;
  assert.is(short.issues[0]!.code, "E_CONFIG_RANGE");
  // a deferred value in a field whose check the placeholder fails: the key's own check runs on the device
  const url = loadConfig({ text: 'gateway: { id: s1 }\nboard: sim\nota: { repo: "${OTA_REPO}", poll: 0 }\n', file: "g.yaml", env: {}, deferSecrets: true });
  assert.equal(url.deferredSecrets, ["OTA_REPO"]);
  // other errors are still errors
  const bad = errorOf(() => loadConfig({ text: `${TEXT}colour: blue\n`, file: "g.yaml", env: {}, deferSecrets: true })) as ConfigError;
  assert.match(bad.message, /unknown key "colour"/);
});

// Fields that take a `${NAME}` and fail with any (random) value, one per kind of schema issue.
const LEAKS: { what: string; name: string; path: string; text: (ref: string) => string; secret: fc.Arbitrary<string> }[] = [
  { what: "too short", name: "RIDGE_TOKEN", path: "control.http.token", text: (r) => `control:\n  http: { listen: "127.0.0.1:8080", token: "${r}" }\n`, secret: secretValue(4, 15) },
  { what: "regex", name: "MQTT_URL", path: "cloud.mqtt.url", text: (r) => `cloud:\n  mqtt: { url: "${r}", password: "x" }\n`, secret: secretValue() },
  { what: "regex (mqtt device password hash)", name: "DEVICE_PASSWORD", path: "devices[0].password", text: (r) => `drivers:\n  - mqtt: { name: m }\ndevices:\n  - { id: d1, driver: m, password: "${r}" }\n`, secret: secretValue() },
  { what: "enum", name: "LOG_LEVEL", path: "log.level", text: (r) => `log: { level: "${r}" }\n`, secret: secretValue() },
  { what: "wrong type", name: "SIM_RATE", path: "drivers[0].sim.rateHz", text: (r) => `drivers:\n  - sim: { name: a, rateHz: "${r}" }\n`, secret: secretValue() },
  { what: "a custom check that quotes the value", name: "DRIVER_NAME", path: "devices[0].driver", text: (r) => `devices:\n  - { id: d1, driver: "${r}" }\n`, secret: secretValue() },
  { what: "a value inside a longer string", name: "MQTT_PASSWORD", path: "cloud.mqtt.url", text: (r) => `cloud:\n  mqtt: { url: "user:${r}@nowhere", password: "${r}" }\n`, secret: secretValue() },
];

/** Secret-like values, quotes, backslashes and non-ASCII included; not a piece of what replaces them. */
function secretValue(min = 4, max = 40): fc.Arbitrary<string> {
  const ch = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-.:!é\"\\ ");
  return fc
    .array(ch, { minLength: min, maxLength: max })
    .map((a) => a.join(""))
    .filter((v) => v.trim() === v && !/^\s*$/.test(v) && !"${RIDGE_TOKEN MQTT_URL DEVICE_PASSWORD LOG_LEVEL SIM_RATE DRIVER_NAME MQTT_PASSWORD} (99 characters) 0123456789".includes(v));
}

test("no error message shows a value that came from ${NAME}, for every kind of schema issue (fast-check over values and fields)", () => {
  const t = tempDir("ridge-leak-");
  try {
    for (const leak of LEAKS)
      fc.assert(
        fc.property(leak.secret, fc.boolean(), (secret, fromFile) => {
          const text = `gateway: { id: s1 }\nboard: sim\n${leak.text(`\${${leak.name}}`)}`;
          let env: NodeJS.ProcessEnv = { [leak.name]: secret };
          if (fromFile) {
            writeFileSync(join(t.dir, leak.name), secret);
            env = { CREDENTIALS_DIRECTORY: t.dir };
          }
          const e = errorOf(() => loadConfig({ text, file: "g.yaml", env }));
          assert.ok(e instanceof ConfigError, `${leak.what}: ${e.message}`);
          const issues = (e as ConfigError).issues;
          const at = issues.filter((i) => i.path === leak.path);
          assert.ok(at.length > 0, `${leak.what}: an error at ${leak.path}: ${e.message}`);
          assert.ok(at.some((i) => i.message.includes(`\${${leak.name}}`)), `${leak.what}: the error names \${${leak.name}}: ${e.message}`);
          for (const form of [secret, JSON.stringify(secret), JSON.stringify(secret).slice(1, -1)]) {
            assert.not.ok(e.message.includes(form), `${leak.what}: ${JSON.stringify(form)} in ${e.message}`);
            assert.not.ok(JSON.stringify(issues).includes(JSON.stringify(form).slice(1, -1)), `${leak.what}: in the issues' detail`);
          }
        }),
        { numRuns: 40 },
      );
  } finally {
    t.cleanup();
  }
  // the trial's message
  const e = errorOf(() => loadConfig({ text: TEXT, file: "g.yaml", env: { RIDGE_TOKEN: "short-secret-15" } })) as ConfigError;
  assert.is(e.issues[0]!.message, "a bearer token of at least 16 characters, got ${RIDGE_TOKEN} (15 characters)");
});

test("ridge config check --defer-secrets (alias --no-secrets): a config checked without its secrets, which ones are said, exit 0; other errors still fail", async () => {
  const t = tempDir("ridge-check-defer-");
  const log = console.log;
  const out: string[] = [];
  const saved = process.env.RIDGE_TOKEN;
  delete process.env.RIDGE_TOKEN;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    const good = join(t.dir, "good.yaml");
    writeFileSync(good, TEXT);
    for (const flag of ["--defer-secrets", "--no-secrets"]) {
      out.length = 0;
      assert.is(await runConfig(["check", good, flag]), 0, flag);
      assert.match(out.join("\n"), /good\.yaml: ok \(gateway s1/);
      assert.match(out.join("\n"), /secrets not resolved here, so not checked: \$\{RIDGE_TOKEN\}/);
    }
    const e = await runConfig(["check", good]).then(
      () => undefined,
      (x: unknown) => x as ConfigError,
    );
    assert.is(e?.code, "E_CONFIG_SECRET", "without the flag the secret is needed");
    const bad = join(t.dir, "bad.yaml");
    writeFileSync(bad, `${TEXT}colour: blue\n`);
    const b = await runConfig(["check", bad, "--defer-secrets"]).then(
      () => undefined,
      (x: unknown) => x as ConfigError,
    );
    assert.equal(
      b?.issues.map((i) => i.path),
      ["colour"],
    );
  } finally {
    console.log = log;
    if (saved !== undefined) process.env.RIDGE_TOKEN = saved;
    t.cleanup();
  }
});

test("references: ${NAME} without a default, in values only", () => {
  assert.equal(secretRefs({ a: "${A}", b: ["x${B}y", "${C:-d}"], c: { d: 1 } }), [
    { name: "A", path: ["a"] },
    { name: "B", path: ["b", 0] },
  ]);
  assert.equal(referencedSecrets("# ${NOT_ME}\na: ${A}\nb: [\"${B}\", \"${C:-x}\"]\n"), ["A", "B"]);
});

test("--secret NAME=VALUE and --secret-file NAME=PATH: names as in ${NAME}, each once, files read", () => {
  const t = tempDir("ridge-secret-opt-");
  try {
    writeFileSync(join(t.dir, "k"), "key\n");
    const s = parseSecretOptions(["A=x=y"], [`B=${join(t.dir, "k")}`]);
    assert.equal(
      s.map((x) => [x.name, new TextDecoder().decode(x.value)]),
      [
        ["A", "x=y"],
        ["B", "key\n"],
      ],
    );
    assert.equal(secretsEnv(s), { A: "x=y", B: "key" });
    for (const [v, f] of [[["1X=v"], []], [["=v"], []], [["A=1", "A=2"], []], [[], ["C=/nonexistent/file"]]] as [string[], string[]][])
      assert.is(errorOf(() => parseSecretOptions(v, f)).code, "E_FLASH_SECRET", JSON.stringify([v, f]));
  } finally {
    t.cleanup();
  }
});

test.run();
