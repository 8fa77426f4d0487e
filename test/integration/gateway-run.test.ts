import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { freeTcpPort, tempDir } from "../../peers/process.js";
import { withPackages } from "../../peers/required-packages.js";
import { ridge, startGateway } from "../helpers/gateway.js";

const TOKEN = "test-token-0123456789abcdef";

function httpGet(port: number, path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("ridge run: ready line, /status, /healthz, /metrics, socket 0600, token auth, SIGTERM flushes the store", async () => {
  const tmp = tempDir();
  const port = await freeTcpPort();
  const dataDir = join(tmp.dir, "data");
  const gw = await startGateway({
    dataDir,
    config: `gateway: { id: it-gw }\nboard: sim\ndrivers:\n  - sim: { name: trail, devices: 5, rateHz: 50 }\ncontrol:\n  http: { listen: "127.0.0.1:${port}", token: "\${RIDGE_TOKEN}" }\n`,
    env: { RIDGE_TOKEN: TOKEN },
  });
  try {
    assert.match(gw.readyLine, /ready in \d+ ms: gateway it-gw on board sim/);
    assert.match(gw.readyLine, /ridge\.sock/);
    // Unix socket, owner-only.
    assert.is(statSync(join(dataDir, "ridge.sock")).mode & 0o777, 0o600);
    const st = await gw.request("GET", "/status");
    assert.is(st.status, 200);
    const body = st.body as { version: string; board: string; gateway: string; uptimeSec: number; components: Record<string, { state: string; health: { up: boolean } }> };
    assert.is(body.gateway, "it-gw");
    assert.is(body.board, "sim");
    assert.type(body.uptimeSec, "number");
    assert.is(body.components["driver:trail"]!.health.up, true);
    assert.ok(body.components.uplink, "queue status is part of /status");
    assert.is((await gw.request("GET", "/healthz")).status, 200);
    const m = await gw.request("GET", "/metrics");
    assert.match(m.text, /ridge_process_resident_memory_bytes/);
    assert.match(m.text, /ridge_events_ingested_total\{driver="trail"\}/);
    assert.match(m.text, /ridge_driver_up\{driver="trail"\} 1/);
    // Loopback TCP with a bearer token.
    assert.is((await httpGet(port, "/status")).status, 401);
    assert.is((await httpGet(port, "/status", "wrong-token-wrong-token")).status, 401);
    assert.is((await httpGet(port, "/status", "")).status, 401);
    const ok = await httpGet(port, "/status", TOKEN);
    assert.is(ok.status, 200);
    assert.is((JSON.parse(ok.body) as { gateway: string }).gateway, "it-gw");
    // ridge status, human and JSON.
    const human = await ridge(["status", "--data", dataDir]);
    assert.is(human.code, 0, human.stderr);
    assert.match(human.stdout, /gateway it-gw .*healthy/);
    assert.match(human.stdout, /driver:trail +up/);
    const js = await ridge(["status", "--json", "--data", dataDir]);
    assert.is((JSON.parse(js.stdout) as { board: string }).board, "sim");
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    const r = await gw.stop("SIGTERM");
    // Exit 0 means every component stopped within the shutdown deadline (a timed-out one exits 1).
    assert.is(r.code, 0, gw.stderr());
    assert.match(gw.stderr(), /"timedOut":\[\]/);
  }
  // The store was flushed: the WAL is checkpointed into the database and events are there.
  const wal = join(dataDir, "ridgeline.db-wal");
  assert.ok(!existsSync(wal) || statSync(wal).size === 0, "WAL checkpointed on shutdown");
  assert.ok(!existsSync(join(dataDir, "ridge.sock")), "socket removed on shutdown");
  const db = new Database(join(dataDir, "ridgeline.db"), { readonly: true });
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name);
  assert.ok(tables.length > 1, `tables: ${tables.join(",")}`);
  db.close();
  tmp.cleanup();
});

test("sd_notify: READY=1 and WATCHDOG=1 reach NOTIFY_SOCKET through systemd-notify", async () => {
  const tmp = tempDir();
  const rec = join(tmp.dir, "notify.log");
  // A stand-in for systemd-notify that records what it was asked to send.
  const fake = join(tmp.dir, "fake-notify.sh");
  writeFileSync(fake, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${rec}\n`, { mode: 0o755 });
  const gw = await startGateway({
    dataDir: join(tmp.dir, "d"),
    env: { NOTIFY_SOCKET: join(tmp.dir, "notify.sock"), RIDGE_SYSTEMD_NOTIFY: fake, WATCHDOG_USEC: "200000" },
  });
  await new Promise((r) => setTimeout(r, 600));
  await gw.stop();
  const { readFileSync } = await import("node:fs");
  const lines = readFileSync(rec, "utf8").trim().split("\n");
  assert.ok(lines.some((l) => l.includes(`--pid=${gw.pid}`) && l.includes("READY=1")), lines.join("\n"));
  assert.ok(lines.filter((l) => l.includes("WATCHDOG=1")).length >= 2, "watchdog pings at half the interval");
  assert.ok(lines.some((l) => l.includes("STOPPING=1")));
  tmp.cleanup();
});

withPackages(test, ["systemd", "socat"])("sd_notify: the real systemd-notify delivers READY=1 to a datagram socket", async () => {
  const { spawn } = await import("node:child_process");
  const tmp = tempDir();
  const sock = join(tmp.dir, "n.sock");
  const out = join(tmp.dir, "n.out");
  const rx = spawn("timeout", ["20", "socat", "-u", `UNIX-RECV:${sock}`, `OPEN:${out},creat,append`], { stdio: "ignore" });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
  const gw = await startGateway({ dataDir: join(tmp.dir, "d"), env: { NOTIFY_SOCKET: sock } });
  await new Promise((r) => setTimeout(r, 300));
  await gw.stop();
  rx.kill("SIGTERM");
  const { readFileSync } = await import("node:fs");
  const got = readFileSync(out, "utf8");
  assert.match(got, /READY=1/);
  assert.match(got, new RegExp(`MAINPID=${gw.pid}`));
  tmp.cleanup();
});

test("CLI: --version, --help on every command, config check exit codes", async () => {
  const v = await ridge(["--version"]);
  assert.is(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  for (const cmd of ["run", "config", "status", "pipeline", "ota", "attest", "flash", "bench", "mqtt"]) {
    const h = await ridge([cmd, "--help"]);
    assert.is(h.code, 0, `${cmd} --help: ${h.stderr}`);
    assert.match(h.stdout, /usage: ridge /, cmd);
  }
  const tmp = tempDir();
  const good = join(tmp.dir, "good.yaml");
  writeFileSync(good, "gateway: { id: g1 }\nboard: rpi5\n");
  const ok = await ridge(["config", "check", good]);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok \(gateway g1, board rpi5/);
  const bad = join(tmp.dir, "gateway.yaml");
  writeFileSync(bad, "gateway: { id: g1 }\nboard: sim\ndrivers:\n  - sim: { name: a, rateHz: fast }\n");
  const r = await ridge(["config", "check", bad]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /gateway\.yaml:4:29 drivers\[0\]\.sim\.rateHz: expected number, got "fast"/);
  const run = await ridge(["run", "--config", bad, "--data", join(tmp.dir, "d")]);
  assert.is(run.code, 2, "ridge run refuses an invalid config with exit 2");
  const unknown = await ridge(["frobnicate"]);
  assert.is(unknown.code, 64);
  tmp.cleanup();
});

test.run();
