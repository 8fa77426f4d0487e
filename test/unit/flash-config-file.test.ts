// The flashed /etc/ridgeline/gateway.yaml (flash/gateway-config-file.ts): composing it again
// from itself (a re-flash keeps the earlier config) changes nothing, and config errors point into
// the operator's own file at the lines `ridge config check FILE` names, under one label.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadBoard } from "../../boards/index.js";
import { deviceLayout } from "../../flash/index.js";
import { composeConfigFile, composeValidatedConfig, withoutFlashHeader, type ConfigFileInput } from "../../flash/gateway-config-file.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { ConfigError } from "../../core/config-errors.js";
import { loadConfig } from "../../runtime/config/load.js";

const board = loadBoard("generic-arm64");
const layout = deviceLayout(board);
const input = (userText: string | undefined, userLabel?: string, cloudUrl?: string): ConfigFileInput => ({ boardName: board.name, boardDataDir: board.dataDir, layout, userText, userLabel, gatewayId: undefined, cloudUrl });

const SITE = `# site config
gateway:
  id: trial-gw-07
control:
  http: { listen: "127.0.0.1:8080", token: "\${RIDGE_TOKEN}" }
drivers:
  - modbus: { name: m1, port: /dev/ttyS1, baudRate: 9600 }
attest: { tpm: off }
`;

const HEADER_1 = /^# Ridgeline gateway config, laid down by `ridge flash`/gm;

test("composing the flashed file again gives the same bytes: one header, the gateway id and every section kept", () => {
  for (const [text, cloud] of [[SITE, undefined], [SITE, "mqtts://iot.example.com:8883"], ["gateway: { id: a }\n", undefined], [undefined, undefined], ["", undefined]] as const) {
    const once = composeConfigFile(input(text, "site.yaml", cloud), "trial-gw-07");
    const twice = composeConfigFile(input(once, "/etc/ridgeline/gateway.yaml", cloud), "trial-gw-07");
    assert.is(twice, once, `idempotent for ${JSON.stringify(text)}`);
    assert.is(once.match(HEADER_1)?.length, 1);
  }
  const once = composeConfigFile(input(SITE, "site.yaml"), "trial-gw-07");
  const c = loadConfig({ text: once, board: board.name, env: { RIDGE_TOKEN: "0123456789abcdef0123" } }).config;
  assert.is(c.gateway.id, "trial-gw-07");
  assert.is(c.control?.http?.listen, "127.0.0.1:8080");
  assert.equal(c.drivers.map((d) => d.name), ["m1"]);
  assert.is(c.attest?.tpm, "off");
  assert.match(once, /# site config/, "the operator's comment stays");
});

test("withoutFlashHeader drops only the flash's own two lines (and the blank after them)", () => {
  const flashed = composeConfigFile(input(SITE), "gw-1");
  assert.is(withoutFlashHeader(flashed).split("\n")[0], "# site config");
  assert.is(withoutFlashHeader(SITE), SITE);
  assert.is(withoutFlashHeader("# Ridgeline gateway config, my own words\ngateway: {}\n"), "# Ridgeline gateway config, my own words\ngateway: {}\n");
});

const issuesOf = (f: () => unknown): ConfigError => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("no config error");
};

test("errors name the operator's lines (ridge config check's), one label on every line", () => {
  const bad = 'gateway:\n  id: gw-x\ncolour: red\ncontrol:\n  http: { port: "abc" }\ndrivers:\n  - modbus: { name: m, port: /dev/ttyS1, baudRate: fast }\n';
  const flash = issuesOf(() => composeValidatedConfig(input(bad, "bad.yaml"), "gw-x", validateGatewayConfig, "bad.yaml"));
  const check = issuesOf(() => loadConfig({ text: bad, file: "bad.yaml", board: board.name }));
  const key = (e: ConfigError) => e.issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}`).sort();
  assert.equal(key(flash), key(check));
  assert.ok(flash.issues.some((i) => i.path === "colour" && i.line === 3 && i.col === 1), flash.message);
  assert.ok(flash.issues.some((i) => i.path === "drivers[0].modbus.baudRate" && i.line === 7), flash.message);
  assert.equal([...new Set(flash.issues.map((i) => i.file))], ["bad.yaml"]);
  for (const l of flash.message.split("\n")) assert.match(l, /^bad\.yaml:\d+:\d+ /);
  assert.is(flash.code, "E_CONFIG_INVALID");
});

test("with the header and a cloud URL set on top, a kept config's errors still land on its own lines", () => {
  const kept = composeConfigFile(input(SITE, "site.yaml", "mqtts://iot.example.com:8883"), "trial-gw-07").replace("baudRate: 9600", "baudRate: fast");
  const line = kept.split("\n").findIndex((l) => l.includes("baudRate: fast")) + 1;
  const e = issuesOf(() => composeValidatedConfig(input(kept, "/r/etc/ridgeline/gateway.yaml", "mqtts://iot.example.com:8883"), "trial-gw-07", validateGatewayConfig, "/r/etc/ridgeline/gateway.yaml"));
  assert.equal(
    e.issues.map((i) => [i.file, i.line, i.path]),
    [["/r/etc/ridgeline/gateway.yaml", line, "drivers[0].modbus.baudRate"]],
  );
});

test("a syntax error is located in the operator's file too (E_CONFIG_SYNTAX)", () => {
  const e = issuesOf(() => composeValidatedConfig(input("gateway:\n  id: a\nfoo: [1, 2\n", "syn.yaml"), "a", validateGatewayConfig, "syn.yaml"));
  assert.is(e.code, "E_CONFIG_SYNTAX");
  assert.ok(e.issues.every((i) => i.file === "syn.yaml" && i.line >= 3), e.message);
});

test.run();
