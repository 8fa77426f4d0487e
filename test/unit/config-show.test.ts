/** `ridge config show`'s view: each value's source, and secrets never printed whatever their source. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { showConfig } from "../../runtime/config/show.js";

const text = [
  "gateway: { id: gw-1 }", // 1
  "board: sim", // 2
  "drivers:", // 3
  "  - sim: { name: trail }", // 4
  "  - coap: { name: field }", // 5
  "devices:", // 6
  "  - { id: c1, driver: field, url: 'coaps://10.0.0.9:5684', psk: { identity: c1, key: psk-secret-bytes }, points: [{ name: t, path: /t }] }", // 7
  "control:", // 8
  "  http: { listen: '127.0.0.1:${PORT:-8080}', token: '${RIDGE_TOKEN}' }", // 9
  "",
].join("\n");

function source(view: ReturnType<typeof showConfig>, path: string): string {
  const v = view.values.find((x) => x.path === path);
  assert.ok(v, `no ${path} in ${view.values.map((x) => x.path).join(", ")}`);
  return v!.source;
}

test("sources: file with its line, board, default, env with the variable, credential", () => {
  const dir = mkdtempSync(join(tmpdir(), "ridge-show-"));
  try {
    writeFileSync(join(dir, "RIDGE_TOKEN"), "cred-token-0123456789abcdef\n");
    const v = showConfig({ file: "gateway.yaml", text, env: { CREDENTIALS_DIRECTORY: dir } });
    assert.is(source(v, "gateway.id"), "file gateway.yaml:1");
    assert.is(source(v, "drivers[0].sim.name"), "file gateway.yaml:4");
    assert.is(source(v, "drivers[0].sim.rateHz"), "default");
    assert.is(source(v, "pipeline.sources.trackers.from"), "board sim");
    assert.is(source(v, "data"), "board sim (its dataDir)");
    // ${PORT:-8080} with PORT unset: the default written in the file
    assert.is(source(v, "control.http.listen"), "file gateway.yaml:9");
    assert.match(source(v, "control.http.token"), /^credential RIDGE_TOKEN \(secret; file gateway\.yaml:9\)$/);
    assert.is(v.values.find((x) => x.path === "control.http.token")!.value, "${RIDGE_TOKEN}");
    // a PSK key is a secret even when written in the file
    const psk = v.values.find((x) => x.path === "devices[0].psk.key")!;
    assert.ok(psk.masked);
    assert.is(psk.value, "***");
    assert.not.match(v.text, "psk-secret-bytes");
    assert.not.match(v.text, "cred-token");
    // an environment variable with a default that is set
    const e = showConfig({ file: "gateway.yaml", text, env: { PORT: "9090", RIDGE_TOKEN: "env-token-0123456789abcdef" } });
    assert.is(source(e, "control.http.listen"), "env PORT (file gateway.yaml:9)");
    assert.is(e.values.find((x) => x.path === "control.http.listen")!.value, "127.0.0.1:9090");
    assert.match(source(e, "control.http.token"), /^env RIDGE_TOKEN \(secret/);
    assert.not.match(e.text, "env-token");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a deferred secret is shown as written and said to be not provided here", () => {
  const v = showConfig({ file: "gateway.yaml", text, env: {}, deferSecrets: true });
  assert.match(source(v, "control.http.token"), /^not provided here \(secret/);
  assert.is(v.values.find((x) => x.path === "control.http.token")!.value, "${RIDGE_TOKEN}");
});

test.run();
