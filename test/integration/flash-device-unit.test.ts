// The flashed device's unit, launcher, secrets and `ridge` command (issue 14, items 2-4):
//  - every board's flashed unit scores <= 3.0 in `systemd-analyze security --offline` against the
//    flashed root, passes `systemd-analyze verify`, and its service user and groups come out of
//    systemd-sysusers / systemd-tmpfiles run offline on the root;
//  - a sim root flashed with --secret and --secret-file: the boot launcher runs `ridge boot`, which
//    starts slot a with RIDGE_SLOT set (the update agent accepts OTA: no E_OTA_NO_LAUNCHER), the
//    gateway resolves ${RIDGE_TOKEN} from $CREDENTIALS_DIRECTORY and serves with it, and the
//    device's `ridge` answers `status`, `ota status`, `config check`;
//  - without the credential: exit 2 after one start, ONE error naming the variable and how to
//    provide it, the reason in <data>/boot/last-exit.json, and `ridge status` on the device says why.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { listBoards, loadBoard } from "../../boards/index.js";
import { deviceLayout, flashDevice } from "../../flash/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { controlRequest } from "../../runtime/control/client.js";
import { startPeer, tempDir, waitFor, type Peer } from "../../peers/process.js";
import { repoRoot, ridge } from "../helpers/gateway.js";
import { ensureArm64Artifacts } from "../helpers/arm64.js";

const tmp = tempDir("ridge-device-unit-");
const MAX_EXPOSURE = 3.0;
const TOKEN = "s3cret-token-0123456789abcdef";

test.before(() => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  ensureArm64Artifacts();
});
test.after(() => tmp.cleanup());

function must(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.is(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}${r.error ? String(r.error) : ""}`);
  return r.stdout;
}

const scores: Record<string, number> = {};

for (const name of listBoards()) {
  test(`${name}: the flashed unit's systemd-analyze security exposure is <= ${MAX_EXPOSURE}, verify is clean, sysusers/tmpfiles work offline`, () => {
    const board = loadBoard(name);
    const L = deviceLayout(board);
    const root = join(tmp.dir, `board-${name}`);
    mkdirSync(root);
    flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, gatewayId: `gw-${name}` });

    const out = must("systemd-analyze", ["security", "--offline=yes", `--root=${root}`, "--no-pager", "ridgeline.service"]);
    const m = /Overall exposure level for ridgeline\.service: (\d+(?:\.\d+)?)/.exec(out);
    assert.ok(m, `no exposure level in:\n${out.slice(-2000)}`);
    scores[name] = Number(m![1]);
    assert.ok(scores[name]! <= MAX_EXPOSURE, `${name}: exposure ${scores[name]} > ${MAX_EXPOSURE}\n${out}`);
    console.log(`  ${name}: systemd-analyze security exposure ${scores[name]}`);

    // verify against this host's systemd, ExecStart pointed at the launcher inside the root
    const unit = readFileSync(join(root, L.unitFile), "utf8");
    const dir = join(tmp.dir, `verify-${name}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "ridgeline.service"), unit.replace(/^(ExecStart(?:Pre)?=[-+]*)\/opt\//gm, `$1${root}/opt/`));
    const v = spawnSync("systemd-analyze", ["verify", join(dir, "ridgeline.service")], { encoding: "utf8" });
    assert.is(v.status, 0, v.stderr);
    assert.is(v.stderr.trim(), "", `systemd-analyze verify warns: ${v.stderr}`);

    const user = /^User=(.+)$/m.exec(unit)?.[1];
    if (!user) {
      assert.match(unit, /^# nvbootctrl runs as root/m, `${name}: a root unit says why`);
      assert.not.ok(existsSync(join(root, L.sysusersFile)), "no service user for a root unit");
      return;
    }
    // the user and the device groups the unit names exist once systemd-sysusers has run (first boot)
    must("systemd-sysusers", [`--root=${root}`]);
    const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
    assert.match(passwd, new RegExp(`^${user}:x:\\d+:\\d+:`, "m"));
    const groups = readFileSync(join(root, "etc/group"), "utf8");
    for (const g of (/^SupplementaryGroups=(.+)$/m.exec(unit)?.[1] ?? "").split(" ").filter(Boolean))
      assert.match(groups, new RegExp(`^${g}:x:\\d+:(.*,)?${user}(,.*)?$`, "m"), `${name}: ${user} in group ${g}`);
    // tmpfiles: the config readable by the service user's group, credentials root's only
    must("systemd-tmpfiles", [`--root=${root}`, "--create"]);
    const gid = Number(/^ridgeline:x:(\d+):/m.exec(groups)![1]);
    const cfg = statSync(join(root, L.configFile));
    assert.is(cfg.gid, gid, "gateway.yaml group ridgeline");
    assert.is(cfg.mode & 0o777, 0o640);
    const cred = statSync(join(root, L.credentialsDir));
    assert.is(cred.mode & 0o777, 0o700);
    assert.is(cred.uid, 0);
  });
}

test("a root with /etc/passwd (a real OS image) gets the service user at flash time; the unit makes it too before each start", () => {
  const board = loadBoard("generic-arm64");
  const L = deviceLayout(board);
  const root = join(tmp.dir, "os-image");
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\ndialout:x:20:\n");
  const { steps } = flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, gatewayId: "os-image" });
  assert.is(steps.find((s) => s.kind === "users")?.action, "create");
  assert.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^ridgeline:x:\d+:\d+:Ridgeline gateway:/m);
  const groups = readFileSync(join(root, "etc/group"), "utf8");
  assert.match(groups, /^dialout:x:20:ridgeline$/m, "the image's own dialout group, the user added");
  assert.match(groups, /^tss:x:\d+:ridgeline$/m, "tss made where the image lacks it");
  const unit = readFileSync(join(root, L.unitFile), "utf8");
  assert.match(unit, /^ExecStartPre=\+\/usr\/bin\/systemd-sysusers \/usr\/lib\/sysusers\.d\/ridgeline\.conf$/m);
  assert.match(unit, /^ExecStartPre=\+\/usr\/bin\/systemd-tmpfiles --create \/usr\/lib\/tmpfiles\.d\/ridgeline\.conf$/m);
  const again = flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, gatewayId: "os-image", force: true });
  assert.is(again.steps.find((s) => s.kind === "users")?.action, "unchanged", "idempotent");
});

// ---- secrets, the launcher and the device's ridge on a flashed sim root ----------------------------

const board = loadBoard("sim");
const L = deviceLayout(board);
const root = join(tmp.dir, "sim-root");
const at = (p: string) => join(root, p);
const data = at(L.dataDir);
const credDir = at(L.credentialsDir);
const CONFIG = `# secrets from the device's credentials
control:
  http: { listen: "127.0.0.1:0", token: "\${RIDGE_TOKEN}" }
cloud:
  queue: { maxBytes: 64MiB }
ota: { repo: ota-repo, poll: 0, root: "\${OTA_ROOT_FILE:-/nonexistent/root.json}" }
attest: {}
`;

/** The device's `ridge`, as an operator types it (RIDGE_ROOT: the root is not mounted at /). */
function deviceRidge(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(at(L.ridgeCommand), args, { encoding: "utf8", env: { PATH: process.env.PATH, RIDGE_ROOT: root, ...env }, timeout: 60_000 });
}

function bootLauncher(env: NodeJS.ProcessEnv): Peer {
  // what systemd runs: ExecStart with no arguments, the unit's environment, the credentials directory
  return startPeer(at(L.launcher), [], { env: { PATH: process.env.PATH, RIDGE_ROOT: root, ...env }, maxSeconds: 120 });
}

function bearerStatus(port: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/status", headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

test("flash with --secret and --secret-file: credential files 0600 in a 0700 folder, nothing needed on the flashing machine", async () => {
  mkdirSync(root);
  const cfg = join(tmp.dir, "gateway.yaml");
  writeFileSync(cfg, CONFIG);
  const tokenFile = join(tmp.dir, "broker-password");
  writeFileSync(tokenFile, "pa55word\n");
  assert.is(process.env.RIDGE_TOKEN, undefined, "the flashing machine does not have the variable");
  const r = await ridge(["flash", "--board", "sim", "--root", root, "--gateway-id", "secret-gw", "--config", cfg, "--secret", `RIDGE_TOKEN=${TOKEN}`, "--secret-file", `BROKER_PASSWORD=${tokenFile}`]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.not.match(r.stdout, new RegExp(TOKEN), "the flash report never prints a secret");
  assert.is(readFileSync(join(credDir, "RIDGE_TOKEN"), "utf8"), TOKEN);
  assert.is(readFileSync(join(credDir, "BROKER_PASSWORD"), "utf8"), "pa55word\n");
  for (const f of ["RIDGE_TOKEN", "BROKER_PASSWORD"]) assert.is(statSync(join(credDir, f)).mode & 0o777, 0o600, `${f} 0600`);
  assert.is(statSync(credDir).mode & 0o777, 0o700);
  assert.match(r.stdout, /secret BROKER_PASSWORD .*the config does not use it/);
  // the flashed config keeps the reference: it is resolved on the device
  assert.match(readFileSync(at(L.configFile), "utf8"), /token: "\$\{RIDGE_TOKEN\}"/);

  // a root flashed without the secret: accepted, with a note saying how the device gets it
  const bare = join(tmp.dir, "sim-bare");
  mkdirSync(bare);
  const r2 = await ridge(["flash", "--board", "sim", "--root", bare, "--config", cfg]);
  assert.is(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /note: secret \$\{RIDGE_TOKEN\} not provided: the gateway stops with exit 2 until \/etc\/ridgeline\/credentials\/RIDGE_TOKEN exists/);
});

test("the launcher runs `ridge boot`: slot a starts with RIDGE_SLOT, ${RIDGE_TOKEN} comes from $CREDENTIALS_DIRECTORY, the device's ridge answers", async () => {
  const gw = bootLauncher({ CREDENTIALS_DIRECTORY: credDir });
  try {
    const line = await waitFor("the ready line", () => gw.output().split("\n").find((l) => / ready in \d+ ms/.test(l)) ?? (gw.child.exitCode !== null ? `EXITED ${gw.child.exitCode}` : undefined), 60_000, 50);
    assert.not.match(line, /^EXITED/, gw.output());
    assert.match(gw.output(), /ridge boot: starting slot a \(2 attempts left\)/, "BootControl chose slot a and spent one attempt");
    assert.equal(JSON.parse(readFileSync(join(data, "boot/bootctl.json"), "utf8")), { order: ["a", "b"], left: { a: 2, b: 0 } });
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\/status/.exec(line)![1]);
    assert.is(await bearerStatus(port, TOKEN), 200, "the token resolved from the credential");
    assert.is(await bearerStatus(port, "wrong-token-0123456789abcdef"), 401);

    // the runtime knows it was started by the launcher: an update check runs (no E_OTA_NO_LAUNCHER)
    assert.is((await controlRequest(data, "POST", "/ota/check")).status, 202);
    const st = await waitFor("the check's outcome", async () => {
      const b = (await controlRequest(data, "GET", "/ota/state")).body as { active: string; lastError?: string; state: { s: string } };
      return b.lastError !== undefined || b.state.s === "failed" ? b : undefined;
    });
    assert.is(st.active, "a");
    assert.not.match(String(st.lastError), /E_OTA_NO_LAUNCHER/);

    // the operator's commands on the device
    const s = deviceRidge(["status"]);
    assert.is(s.status, 0, s.stderr);
    assert.match(s.stdout, /gateway secret-gw .* board sim/);
    const o = deviceRidge(["ota", "status"]);
    assert.is(o.status, 0, o.stderr);
    assert.match(o.stdout, /^active slot: a, running \S+, boot attempts left 2/m);
    const c = deviceRidge(["config", "check"]);
    assert.is(c.status, 0, c.stderr);
    assert.match(c.stdout, /gateway\.yaml: ok \(gateway secret-gw, board sim/);
    const q = deviceRidge(["attest", "quote", "--nonce", "00112233445566778899aabbccddeeff"]);
    assert.is(q.status, 0, q.stderr);
    const ev = JSON.parse(q.stdout) as { nonce?: string; signer?: { publicKey?: string } };
    assert.ok(ev.signer?.publicKey, `a signed quote: ${q.stdout.slice(0, 300)}`);
  } finally {
    await gw.stop(10_000);
  }
});

test("the unit's two steps as systemd runs them: ExecStartPre pins slot a (one attempt) and links slots/running to it, ExecStart starts exactly that", async () => {
  const unit = readFileSync(at(L.unitFile), "utf8");
  const pre = /^ExecStartPre=(\/opt\/ridgeline\/bin\/ridge-boot .*)$/m.exec(unit)![1]!.split(" ");
  mkdirSync(join(root, "run/ridgeline"), { recursive: true }); // RuntimeDirectory=
  const before = JSON.parse(readFileSync(join(data, "boot/bootctl.json"), "utf8")) as { left: { a: number } };
  // the unit's command line, its device paths under RIDGE_ROOT
  const args = pre.slice(1).map((x) => (x.startsWith("/") ? join(root, x) : x));
  const p = spawnSync(at(pre[0]!), args, { encoding: "utf8", env: { PATH: process.env.PATH, RIDGE_ROOT: root }, timeout: 60_000 });
  assert.is(p.status, 0, p.stderr);
  assert.match(p.stderr, /ridge boot: slot a chosen/);
  assert.is(readlinkSync(at(L.runningSlotLink)), at(L.slotA), "slots/running names the slot about to run");
  assert.match(unit, new RegExp(`^ReadOnlyPaths=-${L.runningSlotLink}$`, "m"));
  const gw = bootLauncher({ CREDENTIALS_DIRECTORY: credDir });
  try {
    await waitFor("ready", () => / ready in \d+ ms/.test(gw.output()) || (gw.child.exitCode !== null ? "exited" : undefined), 60_000, 50);
    assert.match(gw.output(), / ready in \d+ ms/, gw.output());
    assert.match(gw.output(), /ridge boot: starting slot a/);
    const after = JSON.parse(readFileSync(join(data, "boot/bootctl.json"), "utf8")) as { left: { a: number } };
    assert.is(after.left.a, before.left.a - 1, "one attempt for the two steps");
    assert.not.ok(existsSync(join(root, L.bootChoiceFile)), "the pinned choice was taken");
  } finally {
    await gw.stop(10_000);
  }
});

test("a missing secret: exit 2 after one start, one clear error, the reason kept, `ridge status` says why; with it back the gateway serves and the reason is gone", async () => {
  const empty = join(tmp.dir, "no-credentials");
  mkdirSync(empty);
  const gw = bootLauncher({ CREDENTIALS_DIRECTORY: empty });
  const code = await gw.exited;
  const out = gw.output();
  assert.is(code, 2, out);
  assert.is(out.split("\n").filter((l) => /ridge boot: starting slot/.test(l)).length, 1, "one start: exit 2 is not retried");
  const errors = out.split("\n").filter((l) => /E_CONFIG_SECRET|is not provided/.test(l));
  assert.match(out, /^1 config error \(E_CONFIG_SECRET\)$/m, out);
  assert.is(errors.filter((l) => /is not provided/.test(l)).length, 1, `one error line: ${errors.join("\n")}`);
  assert.match(out, /control\.http\.token: secret \$\{RIDGE_TOKEN\} is not provided/);
  assert.match(out, /\/etc\/ridgeline\/credentials\/RIDGE_TOKEN/);
  assert.match(out, /--secret RIDGE_TOKEN=/);
  assert.match(out, /systemd-creds encrypt --name=RIDGE_TOKEN/);

  const why = JSON.parse(readFileSync(at(L.lastExitFile), "utf8")) as { exit: number; code: string; message: string; slot: string };
  assert.equal([why.exit, why.code, why.slot], [2, "E_CONFIG_SECRET", "a"]);
  assert.match(why.message, /RIDGE_TOKEN/);

  const s = deviceRidge(["status"]);
  assert.is.not(s.status, 0);
  assert.match(s.stderr, /E_GATEWAY_STOPPED: the gateway is not running: it stopped at .* \(slot a\) with exit 2/);
  assert.match(s.stderr, /E_CONFIG_SECRET: .*secret \$\{RIDGE_TOKEN\} is not provided/);

  // the older-systemd fallback: the secret in the environment (EnvironmentFile=-)
  const again = bootLauncher({ RIDGE_TOKEN: TOKEN });
  try {
    await waitFor("ready", () => / ready in \d+ ms/.test(again.output()) || (again.child.exitCode !== null ? "exited" : undefined), 60_000, 50);
    assert.match(again.output(), / ready in \d+ ms/, again.output());
    assert.not.ok(existsSync(at(L.lastExitFile)), "the reason is removed once the gateway serves");
    assert.is(deviceRidge(["status"]).status, 0);
  } finally {
    await again.stop(10_000);
  }
});

test.run();
