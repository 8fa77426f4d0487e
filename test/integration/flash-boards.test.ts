// `ridge flash` for every board into a temp root: the tree, file modes, a config that validates, the
// unit accepted by systemd-analyze, the ELF machine of every shipped native file, idempotence,
// refusal without --force, --dry-run.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listBoards, loadBoard, type Board } from "../../boards/index.js";
import { flashDevice, readElfHeader, deviceLayout, type FlashStep, type MeasurementLogFile, type SlotPackage } from "../../flash/index.js";
import { BANKS, MeasurementLog, attestConfig, digest, loadOrCreateSoftwareKey, privateKeyFromPem, replayLog, softwareSigner, verify } from "../../attest/index.js";
import { validateGatewayConfig } from "../../runtime/cli/commands/flash.js";
import { loadConfig } from "../../runtime/config/load.js";
import { hasCommand, tempDir } from "../../peers/process.js";
import { repoRoot, ridge } from "../helpers/gateway.js";
import { ARM64_SYSROOT, QEMU_AARCH64, ensureArm64Artifacts, ensureQemu } from "../helpers/arm64.js";
import { RISCV64_BASE, ensureRiscv64Artifacts, requireQemuRiscv64 } from "../helpers/riscv64.js";
import { assertProbe, probeSlot } from "../helpers/slot-probe.js";

const tmp = tempDir("ridge-flash-");
const roots: Record<string, string> = {};
const results: Record<string, { steps: FlashStep[]; gatewayId: string }> = {};
const slotPackages: Record<string, SlotPackage[]> = {};

function mode(p: string): number {
  return statSync(p).mode & 0o777;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function flash(board: Board, root: string, extra: Partial<Parameters<typeof flashDevice>[0]> = {}) {
  return flashDevice({ root, board, projectRoot: repoRoot, validate: validateGatewayConfig, ...extra });
}

test.before(() => {
  const b = spawnSync(process.execPath, [join(repoRoot, "scripts/bundle.mjs"), "--if-stale"], { encoding: "utf8" });
  assert.is(b.status, 0, b.stderr);
  ensureArm64Artifacts();
  ensureRiscv64Artifacts();
});

test.after(() => tmp.cleanup());

for (const name of listBoards()) {
  test(`flash ${name}: the tree, modes, config, keys, unit, ELF machines`, () => {
    const board = loadBoard(name);
    const root = join(tmp.dir, name);
    mkdirSync(root);
    roots[name] = root;
    const { plan, steps } = flash(board, root, { gatewayId: `gw-${name}` });
    results[name] = { steps, gatewayId: plan.gatewayId };
    slotPackages[name] = plan.slot.packages;
    const L = deviceLayout(board);
    const at = (p: string) => join(root, p);

    // slot a with the runtime, slot b empty, the launcher
    assert.ok(existsSync(at(`${L.slotA}/dist/ridge.mjs`)), "slot a holds the bundle");
    assert.ok(existsSync(at(`${L.slotA}/ridge-bundle.json`)), "slot a has its manifest");
    assert.ok(existsSync(at(`${L.slotA}/boards/${name}.yaml`)));
    assert.equal(readdirSync(at(L.slotB)), [], "slot b is empty");
    assert.is(mode(at(L.launcher)), 0o755);
    const sh = spawnSync("sh", ["-n", at(L.launcher)], { encoding: "utf8" });
    assert.is(sh.status, 0, `launcher syntax: ${sh.stderr}`);

    // keys 0600, public parts readable; data dir closed
    assert.is(mode(at(L.identityKey)), 0o600, "identity key 0600");
    assert.match(readFileSync(at(L.identityKey), "utf8"), /-----BEGIN PRIVATE KEY-----/);
    assert.match(readFileSync(at(L.identityCsr), "utf8"), /-----BEGIN CERTIFICATE REQUEST-----/);
    assert.is(mode(at(L.dataDir)), 0o700);
    assert.is(mode(at(L.configFile)), 0o640);
    assert.is(readFileSync(at(L.activeSlotFile), "utf8"), "a\n");
    // the attestation key where runtime/attestation looks (<data>/attest/ak-sm2.key for the default
    // signer), which attest's own loader takes as it is and which signs
    if (board.tpm === "none") {
      const akFile = at(`${L.attestDir}/ak-sm2.key`);
      assert.is(mode(akFile), 0o600, "software attestation key 0600");
      assert.is(mode(at(L.attestDir)), 0o700);
      const pem = readFileSync(akFile, "utf8");
      assert.is(privateKeyFromPem(pem).alg, "sm2-sm3");
      const k = loadOrCreateSoftwareKey(at(L.attestDir), "sm2-sm3");
      assert.not.ok(k.created, "the runtime loads the flashed key, it makes none");
      assert.is(readFileSync(akFile, "utf8"), pem);
      const msg = new TextEncoder().encode("quote");
      assert.ok(verify("sm2-sm3", k.publicKey, msg, softwareSigner("sm2-sm3", k.privateKey, k.publicKey).sign(msg)));
      assert.ok(steps.some((s) => s.path === `${L.attestDir}/ak-sm2.key` && s.action === "create" && s.mode === 0o600));
    } else {
      assert.not.ok(readdirSync(at(L.attestDir)).some((f) => /\.key$/.test(f)), "the TPM holds the attestation key");
      assert.is(JSON.parse(readFileSync(at(`${L.attestDir}/key-source.json`), "utf8")).source, "tpm");
    }
    // every private key anywhere in the root is 0600
    for (const f of walk(root)) if (/\.key$/.test(f)) assert.is(mode(f), 0o600, f);

    // the config validates as `ridge run` reads it, with the id and board set
    const loaded = loadConfig({ file: at(L.configFile) });
    assert.is(loaded.config.gateway.id, `gw-${name}`);
    assert.is(loaded.board.name, name);

    // first measurement log: attest's events (the runtime's GET /attest/log body), replayable by
    // attest in both banks, and event for event what runtime/attestation records at first start
    const logFile = JSON.parse(readFileSync(at(L.measurementLog), "utf8")) as MeasurementLogFile;
    assert.is(logFile.gateway, `gw-${name}`);
    assert.is(logFile.alg, "sm2-sm3");
    assert.is(logFile.backend, board.tpm === "none" ? "software" : "tpm");
    const pcrs = attestConfig.parse({});
    const runtimePcr = board.tpm === "none" ? pcrs.pcrs.runtime : pcrs.tpmPcr;
    const rt = logFile.events.find((e) => e.type === "runtime");
    assert.ok(rt, "the runtime is measured");
    // the runtime is slot a's manifest (every file's sha256), as the runtime records it when the launcher starts slot a
    const manifestSha = Buffer.from(digest("sha256", readFileSync(at(`${L.slotA}/ridge-bundle.json`)))).toString("hex");
    assert.equal(
      { pcr: rt.pcr, component: rt.component, description: rt.description },
      { pcr: runtimePcr, component: "runtime", description: `slot a: slot manifest ridge-bundle.json (sha256 ${manifestSha}; dist/ridge.mjs checked against it)` },
    );
    assert.is(rt.digests.sha256, manifestSha);
    const cf = logFile.events.find((e) => e.type === "config");
    assert.is(cf?.description, L.configFile);
    assert.is(cf?.digests.sm3, Buffer.from(digest("sm3", readFileSync(at(L.configFile)))).toString("hex"));
    const again = new MeasurementLog();
    for (const e of logFile.events) {
      assert.is(e.seq, again.length);
      const file = e.type === "boot" ? at(e.description) : e.type === "runtime" ? at(`${L.slotA}/ridge-bundle.json`) : e.type === "config" ? at(L.configFile) : undefined;
      const data = file ? readFileSync(file) : new TextEncoder().encode(`${e.component.slice("driver:".length)}@${plan.slot.version}`);
      again.record({ pcr: e.pcr, type: e.type, component: e.component, ...(e.version !== undefined ? { version: e.version } : {}), description: e.description, data });
    }
    assert.equal(again.entries(), logFile.events, "re-measuring the flashed files gives the flashed log");
    for (const bank of BANKS) {
      const r = replayLog(logFile.events, bank);
      assert.ok(r.ok, `${bank} replay`);
      for (const i of again.usedPcrs()) assert.equal(r.value.get(i), again.pcr(bank, i), `${bank} PCR ${i}`);
    }
    assert.is(logFile.events.filter((e) => e.type === "driver").length, loadConfig({ file: at(L.configFile) }).config.drivers.length, "one event per driver");

    // unit + enable link
    const unit = readFileSync(at(L.unitFile), "utf8");
    for (const line of ["Type=notify", "NotifyAccess=all", "Restart=always", "ProtectSystem=strict", "NoNewPrivileges=yes", `ReadWritePaths=${L.dataDir}`, "ExecStart=/opt/ridgeline/bin/ridge-boot"]) assert.ok(unit.includes(line), `unit has ${line}`);
    assert.match(unit, /^WatchdogSec=\d+s$/m);
    assert.ok(lstatSync(at(L.unitWantsLink)).isSymbolicLink());
    assert.is(readlinkSync(at(L.unitWantsLink)), L.unitFile);
    if (hasCommand("systemd-analyze")) {
      // verify against this host's systemd: ExecStart pointed at the launcher inside the root
      const dir = join(tmp.dir, `unit-${name}`);
      mkdirSync(dir);
      writeFileSync(join(dir, "ridgeline.service"), unit.replace(/^(ExecStart(?:Pre)?=[-+]*)\/opt\//gm, `$1${root}/opt/`));
      const v = spawnSync("systemd-analyze", ["verify", join(dir, "ridgeline.service")], { encoding: "utf8" });
      assert.is(v.status, 0, v.stderr);
      assert.is(v.stderr.trim(), "", `systemd-analyze verify warns: ${v.stderr}`);
    }
    if (board.watchdog !== "none") assert.match(readFileSync(at(L.watchdogDropIn), "utf8"), new RegExp(`RuntimeWatchdogSec=${board.watchdog.timeoutSec}s`));

    // ELF machine of every native file in the slot is the board's
    const expected = { x64: 0x3e, arm64: 0xb7, riscv64: 0xf3 }[board.arch];
    let elves = 0;
    for (const f of walk(at(L.slotA))) {
      const head = readFileSync(f).subarray(0, 20);
      const r = readElfHeader(head);
      if (!r.ok) continue;
      elves++;
      assert.is(r.value.machine, expected, `${f} is ${r.value.machine.toString(16)}, board ${board.arch}`);
    }
    assert.ok(plan.slot.addons.some((a) => a.pkg === "better-sqlite3"), "better-sqlite3 addon shipped");
    assert.ok(plan.slot.addons.some((a) => a.pkg === "@serialport/bindings-cpp"), "serialport's addon shipped");
    assert.ok(elves >= 2, "addons present");
    // no C/C++ sources anywhere; JavaScript src/ folders (debug's) are there
    assert.not.ok(existsSync(at(`${L.slotA}/node_modules/better-sqlite3/src`)) || existsSync(at(`${L.slotA}/node_modules/better-sqlite3/deps`)), "no native sources");
    assert.ok(existsSync(at(`${L.slotA}/node_modules/@serialport/stream/node_modules/debug/src/index.js`)), "debug's src/ ships");
    // real boards carry their own Node (the host's version; riscv64: Debian 13's, its libraries beside it), the sim board does not
    if (!board.hostArch) {
      assert.ok(existsSync(at(`${L.slotA}/node/bin/node`)), "slot carries node");
      if (board.arch === "riscv64") {
        assert.match(plan.slot.node?.source ?? "", /^Debian trixie nodejs 20\./);
        assert.ok(existsSync(at(`${L.slotA}/node/lib/libnode.so.115`)), "libnode beside it");
        assert.is(plan.slot.node?.glibc, "2.38");
        assert.ok(plan.notes.some((n) => /needs glibc 2\.38 or newer/.test(n)));
      } else assert.is(plan.slot.node?.version, process.versions.node);
    }
    assert.ok(existsSync(at(L.provisionedMarker)));
  });
}

// Flash + load every external package from the flashed slot with the slot's own Node for the board:
// natively for the host-arch sim board, under qemu for arm64 (jetson, rpi5) and riscv64 (visionfive2).
// generic-arm64 is covered by test/integration/arm64-qemu-run.test.ts.
for (const name of ["sim", "jetson-orin-nano", "rpi5", "visionfive2"]) {
  test(`flash ${name}: every external package loads from the slot with the slot's Node`, () => {
    const board = loadBoard(name);
    const root = roots[name];
    assert.ok(root, `flashed above`);
    const slot = join(root, deviceLayout(board).slotA);
    const node = join(slot, "node/bin/node");
    let runner: string[];
    if (board.hostArch) runner = [process.execPath];
    else if (board.arch === "arm64") {
      const qemu = ensureQemu();
      if (!qemu) throw new Error(`${QEMU_AARCH64} is missing: the arm64 load check cannot run`);
      runner = [qemu, "-L", ARM64_SYSROOT, node];
    } else runner = [requireQemuRiscv64(), "-L", RISCV64_BASE, node];
    const packages = slotPackages[name]!;
    const res = probeSlot(slot, packages, runner);
    assert.is(res.arch, board.arch);
    assert.equal(assertProbe(res, packages), []);
    assert.match(res.imported["better-sqlite3"] ?? "", /^3\.\d+/);
  });
}

test("re-flash without --force is refused (library and CLI exit code), nothing changes", async () => {
  const board = loadBoard("generic-arm64");
  const root = roots["generic-arm64"]!;
  const before = readFileSync(join(root, deviceLayout(board).identityKey), "utf8");
  assert.throws(() => flash(board, root), (e: unknown) => (e as { code?: string }).code === "E_FLASH_PROVISIONED");
  const r = await ridge(["flash", "--board", "generic-arm64", "--root", root]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /E_FLASH_PROVISIONED/);
  assert.is(readFileSync(join(root, deviceLayout(board).identityKey), "utf8"), before);
});

test("--force is idempotent: a second run changes nothing and keeps the keys", () => {
  const board = loadBoard("rpi5");
  const root = roots.rpi5!;
  const L = deviceLayout(board);
  const key = readFileSync(join(root, L.identityKey), "utf8");
  const csr = readFileSync(join(root, L.identityCsr), "utf8");
  const ak = readFileSync(join(root, `${L.attestDir}/ak-sm2.key`), "utf8");
  const log = readFileSync(join(root, L.measurementLog), "utf8");
  const { steps, plan } = flash(board, root, { force: true });
  assert.is(plan.gatewayId, "gw-rpi5", "the id of the earlier flash is kept");
  const changed = steps.filter((s) => s.action !== "unchanged" && s.action !== "kept");
  assert.equal(changed, [], `changes on an identical re-flash: ${JSON.stringify(changed)}`);
  assert.ok(steps.some((s) => s.path === L.identityKey && s.action === "kept"));
  assert.is(readFileSync(join(root, L.identityKey), "utf8"), key);
  assert.is(readFileSync(join(root, L.identityCsr), "utf8"), csr, "same key, same subject: same CSR (RFC 6979)");
  assert.is(readFileSync(join(root, `${L.attestDir}/ak-sm2.key`), "utf8"), ak);
  assert.ok(steps.some((s) => s.path === `${L.attestDir}/ak-sm2.key` && s.action === "kept"), "the attestation key is kept");
  assert.is(readFileSync(join(root, L.measurementLog), "utf8"), log, "the same root gives the same first log");
});

test("--force repairs a damaged slot and resets slot b and the active slot", () => {
  const board = loadBoard("sim");
  const root = roots.sim!;
  const L = deviceLayout(board);
  writeFileSync(join(root, L.slotA, "dist/ridge.mjs"), "broken");
  writeFileSync(join(root, L.slotA, "ridge-bundle.json"), "{}");
  writeFileSync(join(root, L.slotB, "leftover"), "x");
  writeFileSync(join(root, L.activeSlotFile), "b\n");
  const { steps } = flash(board, root, { force: true });
  const by = (p: string) => steps.find((s) => s.path === p)?.action;
  assert.is(by(L.slotA), "write");
  assert.is(by(L.slotB), "emptied");
  assert.is(by(L.activeSlotFile), "write");
  assert.is(readFileSync(join(root, L.slotA, "dist/ridge.mjs"), "utf8"), readFileSync(join(repoRoot, "dist/ridge.mjs"), "utf8"));
  assert.not.ok(existsSync(join(root, `${L.slotA}.flash-new`)) || existsSync(join(root, `${L.slotA}.flash-old`)), "no leftovers");
});

test("an interrupted flash (no marker yet) completes without --force", () => {
  const board = loadBoard("visionfive2");
  const root = join(tmp.dir, "interrupted");
  mkdirSync(root);
  flash(board, root, { gatewayId: "gw-int" });
  const L = deviceLayout(board);
  unlinkSync(join(root, L.provisionedMarker));
  unlinkSync(join(root, L.unitFile));
  const { steps } = flash(board, root, { gatewayId: "gw-int" });
  assert.is(steps.find((s) => s.path === L.unitFile)?.action, "write");
  assert.is(steps.find((s) => s.path === L.identityKey)?.action, "kept");
  assert.ok(existsSync(join(root, L.provisionedMarker)));
});

test("--dry-run lists everything and writes nothing (CLI)", async () => {
  const root = join(tmp.dir, "dry");
  mkdirSync(root);
  const r = await ridge(["flash", "--board", "jetson-orin-nano", "--root", root, "--gateway-id", "dry-1", "--dry-run"]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(root), [], "nothing written");
  for (const p of ["/opt/ridgeline/bin/ridge-boot", "/var/lib/ridgeline/slots/a", "/usr/local/bin/ridge", "/etc/ridgeline/credentials", "/etc/ridgeline/gateway.yaml", "/var/lib/ridgeline/id.key", "/var/lib/ridgeline/id.csr", "/etc/systemd/system/ridgeline.service", "/etc/ridgeline/provisioned.json"])
    assert.ok(r.stdout.includes(p), `dry run lists ${p}`);
  assert.match(r.stdout, /would create/);
  assert.match(r.stdout, /nothing written/);
});

test("the CLI prints what it wrote; a config error exits 2 and writes nothing", async () => {
  const root = join(tmp.dir, "cli");
  mkdirSync(root);
  const cfg = join(tmp.dir, "bad.yaml");
  writeFileSync(cfg, "gateway:\n  id: gw-bad\ncolour: red\ndrivers:\n  - nosuchkind: { name: x }\n");
  const bad = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--config", cfg, "--no-with-node"]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /E_CONFIG_INVALID/);
  // the lines of the operator's file, as `ridge config check` names them, one label on every line
  const issueLines = bad.stderr.split("\n").filter((l) => /:\d+:\d+ /.test(l));
  assert.equal(issueLines.map((l) => l.replace(/ .*/, "")), [`${cfg}:3:1`, `${cfg}:5:5`], bad.stderr);
  assert.match(bad.stderr, /bad\.yaml:5:5 drivers\[0\]\.nosuchkind: unknown driver kind/);
  const check = await ridge(["config", "check", cfg, "--board", "generic-arm64"]);
  assert.equal(check.stderr.split("\n").filter((l) => /:\d+:\d+ /.test(l)).map((l) => l.replace(/ .*/, "")), issueLines.map((l) => l.replace(/ .*/, "")), check.stderr);
  assert.equal(readdirSync(root), []);

  const good = join(tmp.dir, "good.yaml");
  writeFileSync(good, "# operator's comment survives\ngateway: { id: from-config }\nlog: { level: warn }\n");
  const ok = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--config", good, "--cloud", "mqtts://iot.example.com:8883", "--no-with-node"]);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /flashed board generic-arm64 \(arm64\) into .*: gateway from-config/);
  assert.match(ok.stdout, /write\s+0600\s+\/var\/lib\/ridgeline\/id\.key/);
  assert.match(ok.stdout, /note: no cloud certificate yet/);
  const text = readFileSync(join(root, "etc/ridgeline/gateway.yaml"), "utf8");
  assert.match(text, /# operator's comment survives/);
  const loaded = loadConfig({ file: join(root, "etc/ridgeline/gateway.yaml") });
  assert.is(loaded.config.cloud?.mqtt?.url, "mqtts://iot.example.com:8883");
  assert.is(loaded.config.cloud?.mqtt?.key, "id.key");
  assert.is(loaded.config.cloud?.mqtt?.cert, "id.crt");
  assert.is(loaded.config.log.level, "warn");
  assert.not.ok(existsSync(join(root, "var/lib/ridgeline/slots/a/node")), "--no-with-node");
  // each addon package named once in the summary; the last line points at the first boot
  const summary = ok.stdout.split("\n").find((l) => l.startsWith("slot a: "))!;
  const addons = summary.replace(/.*native addons for arm64: /, "").replace(/; ELF.*/, "").split(", ");
  assert.equal(addons, [...new Set(addons)], summary);
  assert.match(ok.stdout.trim().split("\n").at(-1)!, /^next: .*docs\/flashing\.md, "After flashing: the first boot, step by step"/);
  assert.ok(readFileSync(join(repoRoot, "docs", "flashing.md"), "utf8").includes("## After flashing: the first boot, step by step"), "the section the next line names exists");
});

test("re-flash --force --secret without --config keeps the site config, the TPM-off attestation and the other credentials", async () => {
  const root = join(tmp.dir, "keep-config");
  mkdirSync(root);
  const site = join(tmp.dir, "site.yaml");
  writeFileSync(
    site,
    '# the site\ngateway:\n  id: trial-gw-07\ncontrol:\n  http: { listen: "127.0.0.1:8080", token: "${RIDGE_TOKEN}" }\ndrivers:\n  - modbus: { name: m1, port: /dev/ttyS1, baudRate: 9600 }\nattest: { tpm: off }\n',
  );
  const first = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--config", site, "--secret", "OTHER=keep-me", "--no-with-node"]);
  assert.is(first.code, 0, first.stderr);
  assert.match(first.stdout, /note: secret \$\{RIDGE_TOKEN\} not provided/);
  const L = deviceLayout(loadBoard("generic-arm64"));
  const at = (p: string) => join(root, p);
  const config = readFileSync(at(L.configFile), "utf8");
  const keySource = readFileSync(at(`${L.attestDir}/key-source.json`), "utf8");
  assert.match(keySource, /"software"/);

  const again = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--secret", "RIDGE_TOKEN=0123456789abcdef0123", "--force", "--no-with-node"]);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /gateway trial-gw-07/);
  assert.match(again.stdout, /unchanged\s+0640\s+\/etc\/ridgeline\/gateway\.yaml .*config kept from the earlier flash/);
  assert.match(again.stdout, /note: config kept from the earlier flash/);
  assert.match(again.stdout, /note: kept credential \(not named again\): OTHER/);
  assert.match(again.stdout, /write\s+0600\s+\/etc\/ridgeline\/credentials\/RIDGE_TOKEN/);
  assert.match(again.stdout, /^1 change written$/m, again.stdout);
  assert.is(readFileSync(at(L.configFile), "utf8"), config, "gateway.yaml is byte for byte the same");
  assert.is(config.match(/laid down by `ridge flash`/g)?.length, 1, "one header");
  assert.is(readFileSync(at(`${L.attestDir}/key-source.json`), "utf8"), keySource, "attestation still in software (attest.tpm off)");
  assert.is(readFileSync(at(`${L.credentialsDir}/OTHER`), "utf8"), "keep-me");
  assert.is(readFileSync(at(`${L.credentialsDir}/RIDGE_TOKEN`), "utf8"), "0123456789abcdef0123");
  const loaded = loadConfig({ file: at(L.configFile), env: { RIDGE_TOKEN: "0123456789abcdef0123" } }).config;
  assert.equal([loaded.gateway.id, loaded.control?.http?.listen, loaded.drivers.map((d) => d.name).join(), loaded.attest?.tpm], ["trial-gw-07", "127.0.0.1:8080", "m1", "off"]);

  // a kept config that no longer validates names the file in the root at its own line
  writeFileSync(at(L.configFile), config.replace("baudRate: 9600", "baudRate: fast"));
  const broken = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--force", "--no-with-node"]);
  assert.is(broken.code, 2, broken.stderr);
  const line = config.split("\n").findIndex((l) => l.includes("baudRate")) + 1;
  assert.ok(broken.stderr.includes(`${at(L.configFile)}:${line}:`), broken.stderr);

  // --config still replaces it
  const other = join(tmp.dir, "other.yaml");
  writeFileSync(other, "log: { level: warn }\n");
  const replaced = await ridge(["flash", "--board", "generic-arm64", "--root", root, "--config", other, "--force", "--no-with-node"]);
  assert.is(replaced.code, 0, replaced.stderr);
  assert.not.match(replaced.stdout, /config kept from the earlier flash/);
  assert.not.match(readFileSync(at(L.configFile), "utf8"), /drivers/);
  assert.match(readFileSync(at(L.configFile), "utf8"), /id: trial-gw-07/, "the id of the earlier flash");
});

test("attest config decides the key and the log: p256 with tpm off on a TPM board, custom PCRs", () => {
  const board = loadBoard("jetson-orin-nano");
  const root = join(tmp.dir, "attest-p256");
  mkdirSync(root);
  const configText = "attest: { signer: p256, tpm: off, pcrs: { runtime: 9, config: 8 } }\n";
  const { steps, plan } = flash(board, root, { gatewayId: "gw-p256", configText, withNode: false });
  const L = deviceLayout(board);
  const akFile = join(root, L.attestDir, "ak-p256.key");
  assert.is(mode(akFile), 0o600);
  assert.is(privateKeyFromPem(readFileSync(akFile, "utf8")).alg, "ecdsa-p256-sha256");
  assert.not.ok(loadOrCreateSoftwareKey(join(root, L.attestDir), "ecdsa-p256-sha256").created);
  assert.ok(steps.some((s) => s.path === `${L.attestDir}/ak-p256.key` && s.action === "create"));
  assert.not.ok(plan.notes.some((n) => /no attest section/.test(n)));
  const logFile = JSON.parse(readFileSync(join(root, L.measurementLog), "utf8")) as MeasurementLogFile;
  assert.equal([logFile.alg, logFile.backend], ["ecdsa-p256-sha256", "software"]);
  assert.is(logFile.events.find((e) => e.type === "runtime")?.pcr, 9);
  assert.is(logFile.events.find((e) => e.type === "config")?.pcr, 8);
  assert.ok(replayLog(logFile.events, "sha256").ok);
});

test("--ota-root: TUF root metadata is installed; anything else is refused", async () => {
  const board = loadBoard("sim");
  const root = join(tmp.dir, "ota");
  mkdirSync(root);
  const rootJson = JSON.stringify({ signed: { _type: "root", spec_version: "1.0.31", version: 1, expires: "2030-01-01T00:00:00Z", keys: {}, roles: {}, consistent_snapshot: true }, signatures: [] });
  assert.throws(() => flash(board, root, { otaRootText: "{\"signed\": {\"_type\": \"targets\"}}" }), (e: unknown) => (e as { code?: string }).code === "E_FLASH_OTA_ROOT");
  assert.equal(readdirSync(root), [], "nothing written");
  flash(board, root, { otaRootText: rootJson });
  assert.is(readFileSync(join(root, deviceLayout(board).otaRoot), "utf8"), rootJson);
});

test.run();
