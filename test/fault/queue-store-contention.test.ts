/**
 * Other processes on a running gateway's database while it appends, drains and acks under load:
 * the real `ridge ota status` (OTA off: the control API answers 404, so it reads the database) and
 * `ridge attest audit`, their database code in a tight loop in a child process, and a foreign
 * writer that holds the write lock again and again. The gateway must stay up (no SQLITE_BUSY
 * crash, no exit 70), keep delivering, and no reader may change the schema.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import Database from "better-sqlite3";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { startMosquitto } from "../../peers/mosquitto.js";
import { tempDir, waitFor } from "../../peers/process.js";
import { collect } from "../helpers/cloud.js";
import { repoRoot, ridge, startGateway } from "../helpers/gateway.js";

function schema(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all() as { type: string; name: string; sql: string | null }[]).map((r) => `${r.type} ${r.name} ${r.sql ?? ""}`);
  } finally {
    db.close();
  }
}

function contender(mode: "read" | "write", dataDir: string, ms: number): Promise<{ loops: number; errors: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "test/helpers/store-contender-process.ts"), mode, dataDir, String(ms)], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!) as { loops: number; errors: string[] });
      } catch {
        reject(new Error(`${mode} contender exited ${code}: ${out}${err}`));
      }
    });
  });
}

test("readers and a foreign writer hammer the database while the gateway drains and acks: no crash, no schema change", async () => {
  const t = tempDir();
  const data = join(t.dir, "data");
  const broker = await startMosquitto({ maxSeconds: 170 });
  const sub = await collect(broker.url, "gw-busy");
  const gw = await startGateway({
    dataDir: data,
    config: `gateway: { id: gw-busy }
log: { level: info }
drivers:
  - sim: { name: trail, devices: 10, rateHz: 100, scenario: signals, outOfOrder: 0, duplicates: 0, signals: [{ field: x, shape: counter }] }
pipeline:
  sources: { all: { from: trail } }
  sinks:
    cloud: { uplink: {}, input: all }
cloud:
  mqtt: { url: "${broker.url}", backoff: { base: 50, cap: 300 }, batch: { maxEvents: 20 }, inflight: 2 }
`,
  });
  try {
    await waitFor("draining", () => sub.ids.size > 500, 20_000, 50);
    const file = join(data, "ridgeline.db");
    const before = schema(file);
    const delivered0 = sub.ids.size;
    const ms = 8000;
    const cli: { code: number | null; stdout: string; stderr: string }[] = [];
    const cliLoop = (async () => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        cli.push(await ridge(["ota", "status", "--data", data]));
        cli.push(await ridge(["attest", "audit", "--db", file]));
      }
    })();
    const [r1, r2, w] = await Promise.all([contender("read", data, ms), contender("read", data, ms), contender("write", data, ms), cliLoop]);
    assert.is(gw.child.exitCode, null, `the gateway is still running: ${gw.stderr().slice(-2000)}`);
    assert.not.match(gw.stderr(), /SQLITE_BUSY|uncaught exception|unhandled rejection/);
    assert.equal(r1.errors, [], "read loop 1: no errors");
    assert.equal(r2.errors, [], "read loop 2: no errors");
    assert.equal(w.errors, [], "the foreign writer waited for the lock, never failed");
    assert.ok(r1.loops > 100 && r2.loops > 100 && w.loops > 50, `loops: ${r1.loops}, ${r2.loops}, ${w.loops}`);
    for (const r of cli) assert.is(r.code, 0, `ridge exit 0: ${r.stdout}${r.stderr}`);
    assert.ok(cli.some((r) => /^state: idle/m.test(r.stdout)), "ota status read the database (OTA off: no live state)");
    assert.ok(cli.some((r) => /0 record\(s\)/.test(r.stdout)), "attest audit: nothing recorded yet");
    assert.equal(schema(file), before, "no reader changed the schema");
    const st = (await gw.request("GET", "/status")).body as { healthy: boolean; components: { uplink: { store: { failedCommits: number } } } };
    assert.is(st.components.uplink.store.failedCommits, 0);
    const delivered = sub.ids.size - delivered0;
    assert.ok(delivered > 1000, `${delivered} events delivered meanwhile`);
    console.log(`contention: ${r1.loops + r2.loops} read loops, ${w.loops} foreign write locks, ${cli.length} CLI runs, ${delivered} events delivered meanwhile, 0 errors`);
  } finally {
    const r = await gw.stop();
    await sub.close();
    await broker.cleanup();
    assert.is(r.code, 0, `clean exit (${r.code})`);
    t.cleanup();
  }
});

test.run();
