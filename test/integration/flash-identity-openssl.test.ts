// The gateway identity made by `ridge flash`, checked by OpenSSL: the CSR's self-signature verifies
// (`openssl req -verify`), its subject is the gateway, its key is id.key's, and id.key is a P-256 key.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadBoard } from "../../boards/index.js";
import { deviceLayout, flashDevice } from "../../flash/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { tempDir } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";
import { repoRoot } from "../helpers/gateway.js";

const tmp = tempDir("ridge-flash-id-");
test.after(() => tmp.cleanup());

function openssl(args: string[]) {
  return spawnSync("openssl", args, { encoding: "utf8" });
}

withPackages(test, ["openssl"])("openssl verifies the CSR; subject, key and client-auth extension are right", () => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  const board = loadBoard("sim");
  const root = join(tmp.dir, "root");
  mkdirSync(root);
  flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, gatewayId: "trail-gw-07" });
  const L = deviceLayout(board);
  const csr = join(root, L.identityCsr);
  const v = openssl(["req", "-in", csr, "-noout", "-verify", "-subject", "-text"]);
  assert.is(v.status, 0, v.stderr);
  assert.match(`${v.stdout}${v.stderr}`, /verify OK/i);
  assert.match(v.stdout, /subject=O = Ridgeline, OU = sim, CN = trail-gw-07/);
  assert.match(v.stdout, /NIST CURVE: P-256/);
  assert.match(v.stdout, /X509v3 Key Usage: critical\s+Digital Signature/);
  assert.match(v.stdout, /TLS Web Client Authentication/);
  assert.match(v.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
  // the CSR's key is the identity key
  const fromCsr = openssl(["req", "-in", csr, "-noout", "-pubkey"]).stdout;
  const fromKey = openssl(["pkey", "-in", join(root, L.identityKey), "-pubout"]).stdout;
  assert.ok(fromCsr.includes("BEGIN PUBLIC KEY"));
  assert.is(fromCsr, fromKey);
  const check = openssl(["pkey", "-in", join(root, L.identityKey), "-noout", "-check"]);
  assert.is(check.status, 0, check.stderr);
  // a CA signs it: the certificate the gateway will use
  const ca = join(tmp.dir, "ca");
  mkdirSync(ca);
  assert.is(openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(ca, "ca.key"), "-out", join(ca, "ca.pem"), "-subj", "/CN=test-ca", "-days", "2"]).status, 0);
  const sign = openssl(["x509", "-req", "-in", csr, "-CA", join(ca, "ca.pem"), "-CAkey", join(ca, "ca.key"), "-CAcreateserial", "-out", join(ca, "id.crt"), "-days", "1", "-copy_extensions", "copy"]);
  assert.is(sign.status, 0, sign.stderr);
  const vc = openssl(["verify", "-CAfile", join(ca, "ca.pem"), "-purpose", "sslclient", join(ca, "id.crt")]);
  assert.is(vc.status, 0, vc.stdout + vc.stderr);
});

test.run();
