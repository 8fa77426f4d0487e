// `${NAME}` secrets: resolved at run time from the systemd credentials directory (NAME or the
// flashed unit's ridgeline_NAME), else the environment; one clear error when missing; deferred at
// flash time; the flash options that place them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../core/config-errors.js";
import { RidgeError } from "../../core/errors.js";
import { loadConfig, resolveSecrets, secretRefs } from "../../runtime/config/load.js";
import { parseSecretOptions, referencedSecrets, secretsEnv } from "../../boards/flash/index.js";
import { tempDir } from "../helpers/peer.js";

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
  const two = errorOf(() => loadConfig({ text: `${TEXT}cloud:\n  mqtt: { url: "mqtts://h:8883", password: "\${MQTT_PASSWORD}" }\n`, file: "g.yaml", env: {} })) as ConfigError;
  assert.is(two.issues.length, 1);
  assert.match(two.issues[0]!.message, /secret \$\{RIDGE_TOKEN\}, \$\{MQTT_PASSWORD\} is not provided/);
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
