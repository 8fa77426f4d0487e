// A real `ridge run` whose stderr is the stream JOURNAL_STREAM names (as systemd sets it): every
// log line carries an sd-daemon(3) priority prefix for journald; the same run with the variable
// naming another stream (inherited, stderr redirected) writes JSON lines.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../peers/process.js";
import { repoRoot, ridgeBin } from "../helpers/gateway.js";

async function runOnce(dir: string, name: string, journalOf: "stderr" | "other"): Promise<string> {
  const errFile = join(dir, `${name}.stderr`);
  const fd = openSync(errFile, "w");
  const other = openSync(join(dir, `${name}.other`), "w");
  const st = fstatSync(journalOf === "stderr" ? fd : other, { bigint: true });
  const child = spawn(process.execPath, [ridgeBin, "run", "--board", "sim", "--data", join(dir, name)], {
    cwd: repoRoot,
    env: { ...process.env, RIDGE_FROM_SOURCE: "1", JOURNAL_STREAM: `${st.dev}:${st.ino}`, RIDGE_LOG_FORMAT: "" },
    stdio: ["ignore", "pipe", fd],
  });
  closeSync(fd);
  closeSync(other);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (/ ready in \d+ ms/.test(out)) resolve();
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before ready: ${readFileSync(errFile, "utf8")}`)));
  });
  const exited = new Promise((r) => child.on("exit", r));
  child.kill("SIGTERM");
  await exited;
  return readFileSync(errFile, "utf8");
}

test("JOURNAL_STREAM naming stderr: <N> lines; naming another stream: JSON", async () => {
  const tmp = tempDir();
  try {
    const journal = (await runOnce(tmp.dir, "j", "stderr")).split("\n").filter(Boolean);
    assert.ok(journal.length >= 2, journal.join("\n"));
    for (const l of journal) assert.match(l, /^<[2-7]>[\w:.-]+: /, l);
    assert.ok(journal.some((l) => /^<6>gateway: shutting down signal=SIGTERM$/.test(l)), journal.join("\n"));
    const json = (await runOnce(tmp.dir, "o", "other")).split("\n").filter(Boolean);
    assert.ok(json.length >= 2, json.join("\n"));
    for (const l of json) assert.is((JSON.parse(l) as { msg?: unknown }).msg !== undefined, true, l);
  } finally {
    tmp.cleanup();
  }
});

test.run();
