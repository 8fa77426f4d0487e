// The device's update flow against a real HTTP server on loopback: check → download (Range
// resume after link loss and after a restart) → verify → install → pending → (reboot) → trial →
// health → committed; the failures each end in their state with a code; the cloud hears success
// only after commit.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpFetcher } from "../../ota/repo-fetchers.js";
import { readMarker } from "../../ota/slot-marker.js";
import { FileBootControl } from "../../ota/file-boot-control.js";
import type { UpdateState } from "../../ota/update-machine.js";
import { makeDevice } from "../helpers/ota-device.js";
import { serveRepo } from "../helpers/ota-http.js";

test("a good update: pending, reboot into b, trial, health passes, committed; floor raised; cloud hears commit last", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", "ok", 300_000);
    const states: UpdateState[] = [];
    let restarts = 0;
    const a1 = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)], states, requestRestart: () => restarts++ });
    await a1.boot();
    await a1.check("poll");
    assert.is(a1.state().s, "pending");
    assert.is(restarts, 1);
    assert.is(readMarker(d.slot("b"))?.version, "1.1.0");
    assert.equal(new FileBootControl({ file: d.bootFile, attempts: 3 }).state().order, ["b", "a"]);
    // reboot: the launcher chooses b
    const choice = new FileBootControl({ file: d.bootFile, attempts: 3 }).chooseBoot()!;
    assert.is(choice.slot, "b");
    const a2 = d.agent({ booted: "b", mirrors: [new HttpFetcher(srv.url)], states });
    await a2.boot();
    assert.is(a2.state().s, "trial");
    await a2.runHealth();
    assert.is(a2.state().s, "committed");
    assert.is(a2.store.floor("runtime"), "1.1.0");
    assert.is(new FileBootControl({ file: d.bootFile, attempts: 3 }).state().left.b, 3);
    const names = states.map((s) => s.s);
    assert.equal(names, ["checking", "downloading", "verifying", "installing", "pending", "trial", "committed"]);
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test("link loss mid-download resumes with a Range request; a restart mid-download resumes from the bytes on disk", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", "ok", 2_000_000);
    srv.cutAfter("targets/", 700_000, 1);
    const a1 = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)] });
    await a1.check("poll");
    assert.is(a1.state().s, "pending");
    const ranged = srv.requests.filter((r) => r.path.startsWith("/targets/") && r.range);
    assert.ok(ranged.length >= 1, "resumed with Range");
    assert.ok(Number(/bytes=(\d+)-/.exec(ranged[0]!.range!)![1]) > 0);
  } finally {
    await srv.close();
    d.cleanup();
  }
  const d2 = await makeDevice();
  const srv2 = await serveRepo(d2.repo.dir);
  try {
    await d2.publish("1.1.0", "ok", 2_000_000);
    srv2.cutAfter("targets/", 1_200_000, 1);
    const a1 = d2.agent({ booted: "a", mirrors: [new HttpFetcher(srv2.url)], downloadRetries: 0 });
    await a1.check("poll");
    assert.is(a1.state().s, "downloading", "parked in downloading after the link dropped");
    // "restart": a new agent on the same database resumes
    const a2 = d2.agent({ booted: "a", mirrors: [new HttpFetcher(srv2.url)] });
    await a2.boot();
    assert.is(a2.state().s, "pending");
    const ranged = srv2.requests.filter((r) => r.path.startsWith("/targets/") && r.range);
    assert.is(ranged.length, 1);
  } finally {
    await srv2.close();
    d2.cleanup();
  }
});

test("a server that ignores Range: the download starts over and still verifies", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", "ok", 1_000_000);
    srv.cutAfter("targets/", 400_000, 1);
    srv.ignoreRanges = true;
    const a = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)] });
    await a.check("poll");
    assert.is(a.state().s, "pending");
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test("failures end in `failed` with a code and leave slot b unbootable: tampered bytes, endless data, 404", async () => {
  for (const [how, code] of [
    ["tamper", "E_OTA_HASH"],
    ["pad", "E_OTA_TOO_LARGE"],
    ["404", "E_OTA_TARGET_MISSING"],
  ] as const) {
    const d = await makeDevice();
    const srv = await serveRepo(d.repo.dir);
    try {
      const name = await d.publish("1.1.0", "ok", 100_000);
      const t = d.repo.repo.published("targets")!.signed.targets[name]!;
      const file = join(d.repo.dir, "targets", `${t.hashes.sha256}.${name}`);
      const { writeFileSync, rmSync } = await import("node:fs");
      if (how === "tamper") {
        const b = readFileSync(file);
        b[b.length - 2000] = b[b.length - 2000]! ^ 0xff;
        writeFileSync(file, b);
      } else if (how === "pad") srv.pad.set("targets/", 5000);
      else rmSync(file);
      const a = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)] });
      await a.check("poll");
      const st = a.state();
      assert.is(st.s, "failed", how);
      assert.is(st.s === "failed" && st.code, code, how);
      assert.is(readMarker(d.slot("b")), undefined);
      assert.equal(new FileBootControl({ file: d.bootFile, attempts: 3 }).state().order[0], "a");
      assert.is(srv.requests.filter((r) => r.path.startsWith("/targets/")).length, 1, `${how}: no endless retries`);
    } finally {
      await srv.close();
      d.cleanup();
    }
  }
});

test("health check fails in the trial: rolled back with the reason, slot b out of attempts, old slot boots", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", "ok");
    const a1 = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)] });
    await a1.check("poll");
    new FileBootControl({ file: d.bootFile, attempts: 3 }).chooseBoot();
    let restarted = "";
    const states: UpdateState[] = [];
    const a2 = d.agent({ booted: "b", mirrors: [new HttpFetcher(srv.url)], health: { ok: false, reason: "drivers down: rs485-1" }, requestRestart: (r) => (restarted = r), states });
    await a2.boot();
    await a2.runHealth();
    const st = a2.state();
    assert.is(st.s, "rolled-back");
    assert.is(st.s === "rolled-back" && st.code, "E_OTA_HEALTH");
    assert.match(restarted, /health/);
    assert.not.ok(states.some((s) => s.s === "committed"), "never reported success");
    assert.is(new FileBootControl({ file: d.bootFile, attempts: 3 }).chooseBoot()!.slot, "a");
    const a3 = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)] });
    await a3.boot();
    assert.is(a3.state().s, "rolled-back");
    assert.is(a3.store.floor("runtime"), undefined, "the floor is raised only at commit");
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test("offline install from a repository directory (USB) and anti-rollback: an older signed runtime is refused", async () => {
  const d = await makeDevice();
  try {
    await d.publish("1.2.0", "ok");
    const { DirectoryFetcher } = await import("../../ota/repo-fetchers.js");
    const a = d.agent({ booted: "a", mirrors: [new DirectoryFetcher(d.repo.dir)] });
    await a.check("local");
    assert.is(a.state().s, "pending");
    new FileBootControl({ file: d.bootFile, attempts: 3 }).chooseBoot();
    const b = d.agent({ booted: "b", mirrors: [new DirectoryFetcher(d.repo.dir)] });
    await b.boot();
    await b.runHealth();
    assert.is(b.state().s, "committed");
    // an older (validly signed) runtime, asked for by name
    const older = await d.publish("1.1.5", "ok");
    await b.check("local", { target: older });
    const st = b.state();
    assert.is(st.s === "failed" && st.code, "E_OTA_ROLLBACK");
    assert.ok(existsSync(d.slot("b")));
  } finally {
    d.cleanup();
  }
});

test("a running slot is confirmed only after upFor: one that dies sooner keeps spending attempts and hands over", async () => {
  const { FakeClock } = await import("../../core/clock.js");
  const d = await makeDevice();
  try {
    const bc = new FileBootControl({ file: d.bootFile, attempts: 3 });
    assert.is(bc.chooseBoot()!.slot, "a");
    const clock = new FakeClock(Date.now());
    const a = d.agent({ booted: "a", clock, healthUpForMs: 60_000 });
    await a.boot();
    assert.is(bc.state().left.a, 2, "not confirmed at start");
    await clock.advance(59_000);
    assert.is(bc.state().left.a, 2);
    await clock.advance(1_000);
    assert.is(bc.state().left.a, 3, "confirmed after upFor");
    a.stop();
  } finally {
    d.cleanup();
  }
});

test("a mirror that never completes the file: the update fails with E_OTA_DOWNLOAD_STALLED after maxStalls cycles", async () => {
  const d = await makeDevice();
  const srv = await serveRepo(d.repo.dir);
  try {
    await d.publish("1.1.0", "ok", 2_000_000);
    srv.cutAfter("targets/", 100_000, 1000);
    const a = d.agent({ booted: "a", mirrors: [new HttpFetcher(srv.url)], downloadRetries: 1, maxStalls: 3 });
    await a.check("poll");
    assert.is(a.state().s, "downloading");
    await a.check("poll");
    assert.is(a.state().s, "downloading");
    await a.check("poll");
    const st = a.state();
    assert.is(st.s === "failed" && st.code, "E_OTA_DOWNLOAD_STALLED");
    assert.is(readMarker(d.slot("b")), undefined);
  } finally {
    await srv.close();
    d.cleanup();
  }
});

test.run();
