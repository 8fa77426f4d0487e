/**
 * `ridge config check` and `ridge config show` through the real CLI (bin/ridge.mjs from source):
 * exit codes, every error at once in position order with its suggestion, files checked, and the
 * merged view with each value's source and the secrets masked.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ridgeBin } from "../helpers/gateway.js";
import { tempDir } from "../../peers/process.js";

function ridge(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RIDGE_") && k !== "CREDENTIALS_DIRECTORY"));
  return spawnSync(process.execPath, [ridgeBin, ...args], { encoding: "utf8", env: { ...clean, RIDGE_FROM_SOURCE: "1", ...env }, ...(cwd ? { cwd } : {}) });
}

test("ridge config check: exit 2 with every error in one go, sorted by line, with did-you-mean and missing files", () => {
  const t = tempDir("ridge-config-cli-");
  try {
    const file = join(t.dir, "gateway.yaml");
    writeFileSync(
      file,
      [
        "gateway: { id: gw-1 }",
        "board: sim",
        "drivers:",
        "  - sim: { name: trail, devicez: 3 }",
        "  - mqtt: { name: site, listen: '127.0.0.1:99999', tls: { cert: certs/site.crt, key: certs/site.key } }",
        "devices:",
        "  - { id: d1, driver: trai }",
        "cloud:",
        "  mqtt: { url: 'mqtts://iot.example.com:88830' }",
        "pipeline:",
        "  sources: { s: { from: trial } }",
        "  operators:",
        "    f: { fitler: 'payload.x > 1', input: s }",
        "  sinks:",
        "    out: { log: {}, input: ff }",
        "",
      ].join("\n"),
    );
    const r = ridge(["config", "check", file], {}, t.dir);
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    const errors = lines.slice(0, -1);
    assert.match(lines[lines.length - 1]!, /^\d+ config errors \(E_CONFIG_INVALID\)$/);
    const expect: [number, string, RegExp][] = [
      [4, "drivers[0].sim.devicez", /unknown key "devicez"; did you mean "devices"\?/],
      [5, "drivers[1].mqtt.listen", /port 99999 is out of range/],
      [5, "drivers[1].mqtt.tls.cert", new RegExp(`certs/site.crt does not exist \\(${join(t.dir, "certs/site.crt")}, resolved against the working directory`)],
      [5, "drivers[1].mqtt.tls.key", /does not exist/],
      [7, "devices[0].driver", /did you mean "trail"\?/],
      [9, "cloud.mqtt.url", /port 88830 in mqtts:\/\/iot\.example\.com:88830 is out of range: a port is 1 to 65535/],
      [11, "pipeline.sources.s.from", /no driver has that name.*did you mean "trail"\?/],
      [13, "pipeline.operators.f.fitler", /unknown operator "fitler".*did you mean "filter"\?/],
      [15, "pipeline.sinks.out.input", /no source or operator named "ff".*did you mean "f"\?/],
    ];
    for (const [line, path, message] of expect) {
      const l = errors.find((e) => e.startsWith(`${file}:${line}:`) && e.includes(` ${path}: `));
      assert.ok(l, `no ${path} at line ${line} in\n${r.stderr}`);
      assert.match(l!, message);
    }
    assert.is(errors.length, expect.length, r.stderr);
    // sorted by position
    const pos = errors.map((e) => e.slice(file.length + 1).split(" ")[0]!.split(":").map(Number)).map(([l, c]) => l! * 1000 + c!);
    assert.equal(pos, [...pos].sort((a, b) => a - b));

    // --skip-files: the files are not read (checking elsewhere than on the gateway)
    const s = ridge(["config", "check", file, "--skip-files"], {}, t.dir);
    assert.is(s.status, 2);
    assert.not.match(s.stderr, "does not exist");

    // fixed: exit 0
    mkdirSync(join(t.dir, "certs"));
    writeFileSync(join(t.dir, "certs/site.crt"), "x");
    writeFileSync(join(t.dir, "certs/site.key"), "x");
    const good = join(t.dir, "good.yaml");
    writeFileSync(good, "gateway: { id: gw-1 }\ndrivers:\n  - sim: { name: trail }\n  - mqtt: { name: site, listen: '127.0.0.1:1883', tls: { cert: certs/site.crt, key: certs/site.key } }\n");
    const ok = ridge(["config", "check", good], {}, t.dir);
    assert.is(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /good\.yaml: ok \(gateway gw-1, board sim, 2 driver\(s\)/);
  } finally {
    t.cleanup();
  }
});

test("ridge config show: merged values with their source (file, env, board, default), secrets masked", () => {
  const t = tempDir("ridge-config-show-");
  try {
    const file = join(t.dir, "gateway.yaml");
    writeFileSync(
      file,
      [
        "gateway: { id: gw-7 }",
        "drivers:",
        "  - sim: { name: trail, devices: 3 }",
        "  - mqtt: { name: site, listen: '127.0.0.1:${MQTT_PORT:-1883}' }",
        "control:",
        "  http: { listen: '127.0.0.1:8080', token: '${RIDGE_TOKEN}' }",
        "cloud:",
        "  mqtt: { url: 'mqtts://iot.example.com:8883', password: hunter2-literal }",
        "",
      ].join("\n"),
    );
    const token = "s3cr3t-token-0123456789abcdef";
    const r = ridge(["config", "show", file], { RIDGE_TOKEN: token, MQTT_PORT: "1999" });
    assert.is(r.status, 0, r.stderr);
    const out = r.stdout;
    const line = (re: RegExp) => {
      const l = out.split("\n").find((x) => re.test(x));
      assert.ok(l, `no line ${re} in\n${out}`);
      return l!;
    };
    assert.match(line(/^ {2}id: gw-7/), `# file ${file}:1`);
    assert.match(line(/^ {6}devices: 3/), `# file ${file}:3`);
    assert.match(line(/^ {6}listen: "127\.0\.0\.1:1999"/), "# env MQTT_PORT");
    // the board's pipeline (the file has none) and the board's data directory
    assert.match(line(/^ {6}from: trail/), "# board sim");
    assert.match(line(/^data: /), "# board sim");
    // schema defaults
    assert.match(line(/^ {6}rateHz: 1 /), "# default");
    assert.match(line(/^ {2}level: info/), "# default");
    // secrets: the template, never the value; a literal password masked
    assert.match(line(/^ {4}token: /), /token: "\$\{RIDGE_TOKEN\}" +# env RIDGE_TOKEN \(secret/);
    assert.match(line(/^ {4}password: /), /password: "\*\*\*"/);
    assert.not.match(out, token);
    assert.not.match(out, "hunter2");
    // the output is YAML of the config as written: it loads as the same config
    writeFileSync(join(t.dir, "shown.yaml"), out);
    const again = ridge(["config", "check", join(t.dir, "shown.yaml"), "--skip-files"], { RIDGE_TOKEN: token });
    assert.is(again.status, 0, again.stderr);

    // --board: the board named on the command line
    const b = ridge(["config", "show", "--board", "rpi5", file], { RIDGE_TOKEN: token });
    assert.is(b.status, 0, b.stderr);
    assert.match(b.stdout.split("\n").find((x) => x.startsWith("board: "))!, /board: rpi5 +# option --board/);
    assert.match(b.stdout.split("\n").find((x) => x.startsWith("data: "))!, /\/var\/lib\/ridgeline +# board rpi5/);

    // an invalid config: its errors, exit 2
    writeFileSync(file, "gateway: { id: gw-7 }\nlog: { level: loud }\n");
    const bad = ridge(["config", "show", file]);
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /log\.level/);
  } finally {
    t.cleanup();
  }
});

test.run();
