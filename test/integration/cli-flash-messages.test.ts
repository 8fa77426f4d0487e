// `ridge flash` for the engineer on site: progress lines on stderr while it works, and the
// "no cloud certificate yet" note only when the cloud link uses a client certificate (mqtts://
// with the identity), not for a plain mqtt:// link or no cloud at all.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../peers/process.js";
import { ridge } from "../helpers/gateway.js";

const tmp = tempDir();
test.after(() => tmp.cleanup());

async function flash(name: string, extra: string[]) {
  const root = join(tmp.dir, name);
  mkdirSync(root);
  const cfg = join(tmp.dir, `${name}.yaml`);
  writeFileSync(cfg, `gateway: { id: ${name} }\n`);
  const r = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--config", cfg, "--no-with-node", ...extra], {}, 240_000);
  assert.is(r.code, 0, r.stderr);
  return r;
}

test("mqtts:// with the identity: the note; progress lines on stderr, stdout keeps the plan", async () => {
  const r = await flash("tls", ["--cloud", "mqtts://iot.example.com:8883"]);
  assert.match(r.stdout, /note: no cloud certificate yet: .* until \/var\/lib\/ridgeline\/id\.crt is installed from /);
  for (const p of [/^flash: bundling the runtime/m, /^flash: validating the gateway config…$/m, /^flash: assembling runtime slot a for arm64/m, /^flash: making the gateway identity/m, /^flash: writing into /m])
    assert.match(r.stderr, p);
  assert.not.match(r.stdout, /^flash: /m);
});

test("a plain mqtt:// link, and no cloud: no certificate note", async () => {
  const plain = await flash("plain", ["--cloud", "mqtt://broker.site.lan:1883"]);
  assert.not.match(plain.stdout, /no cloud certificate/);
  const none = await flash("none", []);
  assert.not.match(none.stdout, /no cloud certificate/);
});

test.run();
