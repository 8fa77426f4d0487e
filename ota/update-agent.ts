/**
 * The owner of the update state machine (update-machine.ts) on the device: it performs the
 * machine's effects in order (save the state, refresh metadata, download, verify, install, mark
 * the boot order, ask for the restart, schedule the health check) and feeds each step's outcome
 * back to the machine as its next input. Every step can be
 * re-run after a power cut: downloads resume, verification re-hashes, installation wipes the slot
 * and extracts again, and a slot that was already started is never touched.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { RidgeError, errorCode, errorMessage, type Clock, type Logger, type Random, type Transition } from "../core/index.js";
import type { BootControl } from "./boot-control.js";
import { BundleExtractor } from "./bundle-extractor.js";
import type { BundleManifest } from "./bundle-manifest.js";
import { clearMarker, readMarker, writeMarker } from "./slot-marker.js";
import { selectUpdate, requireTarget, type DeviceIdentity } from "./target-selection.js";
import { TargetHasher } from "./target-hasher.js";
import { discardPartial, streamMark, type DownloadProgress } from "./target-download.js";
import { fetchTarget } from "./target-fetch.js";
import { parseChunkRef } from "./chunk-index.js";
import { servesRanges, streamVerified } from "./streamed-install.js";
import type { DeltaStats } from "./chunked-fetch.js";
import { TufClient, targetPath, type ClientLimits, type RepoFetcher } from "./tuf-client.js";
import type { TargetFile } from "./tuf-metadata.js";
import { UpdateStore, type FailedTarget } from "./update-store.js";
import { busy, holdsBootOrder, otherSlot, resume, step, type PlannedTarget, type Slot, type Trigger, type UpdateEffect, type UpdateInput, type UpdateState } from "./update-machine.js";

export interface HealthResult {
  ok: boolean;
  reason?: string;
}

export interface UpdateProgress extends DownloadProgress {
  phase: "download" | "verify" | "unpack";
}

export interface UpdateAgentOptions {
  db: Database.Database;
  clock: Clock;
  random: Random;
  log: Logger;
  bootControl: BootControl;
  board: { name: string; arch: string };
  slotDir(slot: Slot): string;
  /** Where partial downloads live (beside the slots, not in them). */
  workDir: string;
  mirrors: RepoFetcher[];
  /** The version this process runs (used when the active slot has no marker: the factory image). */
  runningVersion: string;
  attempts: number;
  /** The runtime must have been up this long before the health check runs. */
  healthUpForMs: number;
  /** Checks run after `healthUpForMs` (drivers up, cloud reachable, the user's hook). */
  healthChecks: (() => Promise<HealthResult> | HealthResult)[];
  /** Told of every state (the cloud hears it on ridge/<id>/up/ota). */
  publish?(st: UpdateState): void;
  /** Restart into the other slot (the launcher chooses it). */
  requestRestart(reason: string): void;
  limits?: Partial<ClientLimits>;
  /** Fault injection (tests): called at named points: `state:<name>`, `mid-download`, `mid-write`. */
  crashPoint?(point: string): void;
  /** Transient download failures before the cycle gives up for now (the state stays `downloading`). */
  downloadRetries?: number;
  /** Cycles that end with the download incomplete before the update fails (E_OTA_DOWNLOAD_STALLED). */
  maxStalls?: number;
  /** Bytes done of the phase in flight: download, verify (re-hashing after a restart), unpack. */
  onProgress?(p: UpdateProgress): void;
  /** Target hash algorithms checked besides sha256 (default none: sha256 only; add "sm3" where required). */
  verifyHashes?: readonly string[];
  /**
   * Why `slot` (the one on trial) did not come up, when something left the reason (e.g. its
   * runtime refused the config and the launcher rolled back): recorded instead of "boot attempts exhausted".
   */
  bootFailure?(slot: Slot): { code: string; reason: string } | undefined;
}

/**
 * Confirm the running slot (first in the order, full attempts) unless an update holds the boot
 * order (installing, pending, trial: only the trial's health check may commit). Returns whether
 * it wrote. Shared by the update agent and a gateway started by the launcher without `ota:`.
 */
export function confirmSlot(bc: BootControl, st: UpdateState, attempts: number): boolean {
  if (holdsBootOrder(st)) return false;
  const active = bc.active();
  const b = bc.state();
  if (b.order[0] === active && b.left[active] >= attempts) return false;
  bc.markGood();
  return true;
}

export interface AgentStatus {
  state: UpdateState;
  active: Slot;
  runningVersion: string;
  floor: string | undefined;
  attemptsLeft: number | undefined;
  progress: UpdateProgress | undefined;
  history: ReturnType<UpdateStore["history"]>;
  /** Targets that rolled back or were refused here: never selected again (newest first). */
  failed: FailedTarget[];
}

export class UpdateAgent {
  readonly store: UpdateStore;
  private st: UpdateState;
  private running: Promise<void> | undefined;
  private progress: UpdateProgress | undefined;
  /** The local side asked for a signed downgrade in the cycle in flight. */
  private allowDowngrade = false;
  private startedAt: number;
  private healthTimer: { cancel(): void } | undefined;
  private confirmTimer: { cancel(): void } | undefined;
  /** The signed target file of the download in flight (length and hashes for the extractor). */
  private verifiedInProcess = false;
  /** A chunk-indexed target streamed, verified piece by piece, straight into the slot in this process. */
  private streamed: { sha256: string; x: BundleExtractor } | undefined;

  constructor(private readonly o: UpdateAgentOptions) {
    this.store = new UpdateStore(o.db);
    this.st = this.store.load();
    this.startedAt = o.clock.monotonic();
  }

  state(): UpdateState {
    return this.st;
  }

  activeSlot(): Slot {
    return this.o.bootControl.active();
  }

  runningVersion(): string {
    return readMarker(this.o.slotDir(this.activeSlot()))?.version ?? this.o.runningVersion;
  }

  status(): AgentStatus {
    let left: number | undefined;
    try {
      // the slot on its way in (pending, on trial) is the one whose attempts matter
      left = this.o.bootControl.bootAttemptsLeft(this.st.s === "pending" || this.st.s === "trial" ? this.st.slot : undefined);
    } catch {
      left = undefined;
    }
    return { state: this.st, active: this.activeSlot(), runningVersion: this.runningVersion(), floor: this.store.floor("runtime"), attemptsLeft: left, progress: this.progress, history: this.store.history(10), failed: this.store.failedTargets() };
  }

  private set(next: UpdateState, raiseFloor?: { kind: string; version: string }): void {
    this.store.save(next, this.o.clock.now(), raiseFloor);
    this.st = next;
    this.o.log.info({ ota: next }, `ota: ${next.s}`);
    try {
      this.o.publish?.(next);
    } catch (e) {
      this.o.log.warn({ err: errorMessage(e) }, "ota: publishing the state failed");
    }
    this.o.crashPoint?.(`state:${next.s}`);
  }

  /** One input to the machine, then its effects. */
  private feed(inp: UpdateInput): Promise<void> {
    return this.perform(step(this.st, inp));
  }

  /** The effects in order; a step's outcome is fed back once the effects before it are done. */
  private async perform(t: Transition<UpdateState, UpdateEffect>): Promise<void> {
    for (const e of t.effects) {
      const outcome = await this.effect(e, t.state);
      if (outcome) await this.feed(outcome);
    }
  }

  private async effect(e: UpdateEffect, next: UpdateState): Promise<UpdateInput | undefined> {
    switch (e.e) {
      case "save":
        this.set(next, e.raiseFloor);
        return undefined;
      case "refresh":
        return this.refresh(e.target);
      case "download":
        return this.download();
      case "verify":
        return this.verify();
      case "install":
        return this.installStep();
      case "discard-download":
        discardPartial(this.part(e.target));
        return undefined;
      case "mark-good":
        this.o.bootControl.markGood();
        return undefined;
      case "mark-bad":
        this.o.bootControl.markBad(e.slot);
        return undefined;
      case "restart":
        this.o.requestRestart(e.reason);
        return undefined;
      case "schedule-health":
        this.scheduleHealth();
        return undefined;
      case "schedule-confirm":
        this.scheduleConfirm();
        return undefined;
      case "log":
        this.o.log[e.level](e.fields, e.msg);
        return undefined;
    }
  }

  /** One cycle at a time: a check while one runs joins it. */
  private exclusive(run: () => Promise<void>): Promise<void> {
    if (this.running) return this.running;
    const p = run().finally(() => {
      this.running = undefined;
    });
    this.running = p;
    return p;
  }

  /** At runtime start: tell the machine which slot booted; it resumes whatever was in flight. */
  async boot(): Promise<void> {
    const booted = this.activeSlot();
    const st = this.st;
    const verified = st.s === "installing" && booted === st.slot && readMarker(this.o.slotDir(st.slot)) !== undefined;
    let failure: { code: string; reason: string } | undefined;
    if ((st.s === "pending" || st.s === "trial") && booted !== st.slot) {
      try {
        failure = this.o.bootFailure?.(st.slot);
      } catch {
        failure = undefined;
      }
    }
    const t = step(st, { i: "booted", slot: booted, at: this.o.clock.now(), ...(failure ? { failure } : {}), ...(verified ? { verified } : {}) });
    await this.exclusive(() => this.perform(t));
  }

  /** One update cycle; resolves when it settles (pending, idle, failed) or is parked. In flight already: resume its step. */
  check(trigger: Trigger, opts: { target?: string; allowDowngrade?: boolean } = {}): Promise<void> {
    return this.exclusive(() => {
      // asked for this cycle only: a cycle resumed after a restart does not carry it
      this.allowDowngrade = opts.allowDowngrade === true;
      return busy(this.st) ? this.perform({ state: this.st, effects: resume(this.st, opts.target) }) : this.feed({ i: "check", trigger, ...(opts.target ? { target: opts.target } : {}) });
    });
  }

  private identity(): DeviceIdentity {
    const v = this.runningVersion();
    return { kind: "runtime", board: this.o.board.name, arch: this.o.board.arch, current: v, minVersion: this.store.floor("runtime") ?? "0.0.0" };
  }

  /** Refresh the metadata and choose the target: the check's outcome. */
  private async refresh(name?: string): Promise<UpdateInput> {
    const client = new TufClient(this.store, this.o.mirrors, this.o.clock, this.o.limits);
    const r = await client.refresh();
    if (!r.ok) return { i: "check-failed", code: r.code, reason: r.reason };
    const resolved = await client.resolveTargets(r.value.trusted, r.value.startedAt);
    if (!resolved.ok) return { i: "check-failed", code: resolved.code, reason: resolved.reason };
    const dev = this.identity();
    if (name) {
      const f = resolved.value[name];
      const bad = f ? this.store.failedBefore(name, f.hashes.sha256) : undefined;
      if (bad) return { i: "check-failed", code: "E_OTA_TARGET_FAILED", reason: `${name} ${bad.version} failed here on ${new Date(bad.at).toISOString()} (${bad.code}: ${bad.reason}); not installed again until the repository publishes a different build` };
    }
    // A target that rolled back or was refused here is never chosen again: the repository must
    // publish something different (new hashes) before this device downloads anything.
    const candidates = name ? resolved.value : Object.fromEntries(Object.entries(resolved.value).filter(([n, f]) => !this.store.failedBefore(n, f.hashes.sha256)));
    const visible = { ...r.value.trusted.targets, targets: candidates };
    const sel = name ? requireTarget(visible, name, dev, { allowDowngrade: this.allowDowngrade }) : selectUpdate(visible, dev);
    this.allowDowngrade = false;
    if (!sel.ok) return { i: "check-failed", code: sel.code, reason: sel.reason };
    if (!sel.value) return { i: "no-update" };
    const t = sel.value;
    const sha = t.file.hashes.sha256;
    if (!sha) return { i: "check-failed", code: "E_OTA_HASH", reason: `${t.name}: no sha256 listed` };
    const from = this.activeSlot();
    const target: PlannedTarget = { name: t.name, version: t.custom.version, length: t.file.length, hashes: t.file.hashes, path: targetPath(r.value.trusted.root, t.name, sha), ...(t.custom.chunks !== undefined ? { chunks: t.custom.chunks } : {}) };
    return { i: "update-found", target, slot: otherSlot(from), from, fromVersion: dev.current };
  }

  private part(t: PlannedTarget): string {
    mkdirSync(this.o.workDir, { recursive: true });
    return join(this.o.workDir, `${t.hashes.sha256}.part`);
  }

  private targetFile(t: PlannedTarget): TargetFile {
    return { length: t.length, hashes: t.hashes };
  }

  /** The download step: resumes from the bytes on disk, retries transient failures with backoff. */
  private async download(): Promise<UpdateInput> {
    const st = this.st;
    if (st.s !== "downloading") throw new RidgeError("E_OTA_TRANSITION", `download in state ${st.s}`);
    if (st.slot === this.activeSlot()) return { i: "slot-busy" };
    const retries = this.o.downloadRetries ?? 5;
    const part = this.part(st.target);
    const ref = parseChunkRef(st.target.chunks);
    for (let attempt = 0; attempt <= retries; attempt++) {
      try {
        const mirror = this.o.mirrors[attempt % this.o.mirrors.length]!;
        // A fresh chunk-indexed target from a mirror that serves ranges: one verified pass into the slot.
        if (ref && servesRanges(mirror) && !existsSync(part) && !existsSync(streamMark(part))) {
          const out = await this.stream(st, mirror, ref, part);
          if (out) return out;
        }
        // Else (or after a streamed pass was cut off) the resumable partial file; a cut-off
        // stream's slot already holds some chunks, so it seeds the fetch too.
        const seeds = existsSync(streamMark(part)) ? [this.o.slotDir(st.from), this.o.slotDir(st.slot)] : [this.o.slotDir(st.from)];
        const check = await fetchTarget({
          chunks: st.target.chunks,
          seedDirs: seeds,
          workDir: this.o.workDir,
          mirror,
          path: st.target.path,
          name: st.target.name,
          file: this.targetFile(st.target),
          part: this.part(st.target),
          algorithms: this.o.verifyHashes ?? [],
          onProgress: (p) => this.report({ phase: "download", ...p }),
          log: this.o.log,
          onDelta: (d) => this.logDelta(st, d, false),
          afterChunk: (n) => {
            if (n >= st.target.length / 2) this.o.crashPoint?.("mid-download");
          },
        });
        if (!check.ok) return { i: "download-failed", code: check.code, reason: check.reason };
        this.verifiedInProcess = true;
        return { i: "downloaded" };
      } catch (e) {
        if (errorCode(e) !== "E_OTA_FETCH") throw e;
        this.o.log.warn({ err: errorMessage(e), attempt }, "ota: download interrupted; resuming");
        // exponential backoff with full jitter, 1 s .. 60 s
        await this.o.clock.sleep(Math.floor(this.o.random.next() * Math.min(60_000, 1000 * 2 ** attempt)));
      }
    }
    return { i: "download-incomplete", maxStalls: this.o.maxStalls ?? 12 };
  }

  /**
   * The streamed pass (streamed-install.ts): undefined when the index or a chunk let it down (the
   * caller fetches the partial file instead). A link lost for good leaves the partial slot and the
   * mark, so the next attempt resumes from what the slot holds.
   */
  private async stream(st: Extract<UpdateState, { s: "downloading" }>, mirror: RepoFetcher, ref: NonNullable<ReturnType<typeof parseChunkRef>>, part: string): Promise<UpdateInput | undefined> {
    writeFileSync(streamMark(part), st.target.hashes.sha256 ?? "");
    const dir = this.o.slotDir(st.slot);
    clearMarker(dir);
    // every byte it sees passed the signed index; the publisher checked each file's hash before signing it
    const x = new BundleExtractor(dir, ref.bundleChecked ? { fileHashesCheckedAtPublish: true } : {});
    let r;
    try {
      r = await streamVerified({
        mirror,
        path: st.target.path,
        name: st.target.name,
        file: this.targetFile(st.target),
        ref,
        seedDirs: [this.o.slotDir(st.from)],
        algorithms: this.o.verifyHashes ?? [],
        sink: (b) => x.push(b),
        onProgress: (p) => this.report({ phase: "download", ...p }),
        afterChunk: (n) => {
          if (n >= st.target.length / 2) this.o.crashPoint?.("mid-download");
        },
        onDelta: (d) => this.logDelta(st, d, true),
        clock: this.o.clock,
      });
    } catch (e) {
      const code = errorCode(e);
      // a lost link (or anything unexpected: the process is going down) keeps the partial slot and
      // the mark, so the next attempt or start resumes from what the slot holds
      if (code === "E_OTA_FETCH" || !code.startsWith("E_OTA_")) throw e;
      x.abort();
      rmSync(streamMark(part), { force: true });
      return { i: "download-failed", code, reason: errorMessage(e) };
    }
    if (r.ok) {
      this.streamed = { sha256: st.target.hashes.sha256!, x };
      this.verifiedInProcess = true;
      return { i: "downloaded" };
    }
    x.abort();
    rmSync(streamMark(part), { force: true });
    if (r.code === "E_OTA_CHUNK_INDEX" || r.code === "E_OTA_CHUNK") {
      this.o.log.warn({ code: r.code, reason: r.reason }, `ota: streaming ${st.target.name} failed (${r.reason}); downloading it whole`);
      return undefined;
    }
    return { i: "download-failed", code: r.code, reason: r.reason };
  }

  /** What a chunk-indexed download cost on the link (metered links: the number people look for). */
  private logDelta(st: Extract<UpdateState, { s: "downloading" }>, d: DeltaStats, streamed: boolean): void {
    const pct = ((100 * d.fetched) / Math.max(1, d.total)).toFixed(1);
    this.o.log.info({ delta: d, streamed }, `ota: ${st.target.name}: fetched ${d.fetched} of ${d.total} bytes (${pct} %), copied ${d.local} from slot ${st.from}${streamed ? `, streamed into slot ${st.slot}` : ""}`);
  }

  private report(p: UpdateProgress): void {
    this.progress = p;
    this.o.onProgress?.(p);
  }

  /** The verify step: hashed while streaming in this process; after a restart, hash the file on disk again. */
  private async verify(): Promise<UpdateInput> {
    const st = this.st;
    if (st.s !== "verifying") throw new RidgeError("E_OTA_TRANSITION", `verify in state ${st.s}`);
    if (!this.verifiedInProcess) {
      const h = new TargetHasher(st.target.name, this.targetFile(st.target), this.o.verifyHashes ?? []);
      const part = this.part(st.target);
      // streamed into the slot by a process that ended before the slot was finished: fetch again
      if (!existsSync(part) && existsSync(streamMark(part))) return { i: "download-lost" };
      let n = 0;
      if (existsSync(part))
        for await (const c of createReadStream(part, { highWaterMark: 1 << 20 })) {
          if (!h.update(c as Buffer)) break;
          n += (c as Buffer).length;
          this.report({ phase: "verify", received: n, total: st.target.length });
        }
      const r = h.finish();
      if (!r.ok) return { i: "verify-failed", code: r.code, reason: r.reason };
    }
    this.verifiedInProcess = false;
    return { i: "verified" };
  }

  /** The install step: never into the running slot; a failed extraction leaves the slot without its marker. */
  private async installStep(): Promise<UpdateInput> {
    const st = this.st;
    if (st.s !== "installing") throw new RidgeError("E_OTA_TRANSITION", `install in state ${st.s}`);
    if (st.slot === this.activeSlot()) return { i: "slot-busy" };
    const part = this.part(st.target);
    if (this.streamed?.sha256 !== st.target.hashes.sha256 && !existsSync(part)) {
      this.streamed = undefined;
      return { i: "download-lost" };
    }
    try {
      await this.install(st.target, st.slot);
    } catch (e) {
      clearMarker(this.o.slotDir(st.slot));
      return { i: "install-failed", code: errorCode(e), reason: errorMessage(e) };
    }
    return { i: "installed" };
  }

  private async install(t: PlannedTarget, slot: Slot): Promise<void> {
    const dir = this.o.slotDir(slot);
    const part = this.part(t);
    const streamed = this.streamed?.sha256 === t.hashes.sha256 ? this.streamed : undefined;
    this.streamed = undefined;
    if (streamed) {
      try {
        this.finishSlot(streamed.x.finish(), t, dir);
      } catch (e) {
        streamed.x.abort();
        throw e;
      }
      this.o.bootControl.markPending(slot, this.o.attempts);
      discardPartial(part);
      return;
    }
    clearMarker(dir);
    const x = new BundleExtractor(dir);
    let n = 0;
    // One reused buffer: extraction allocates nothing per chunk (RSS stays flat on small boards).
    const buf = Buffer.allocUnsafe(256 * 1024);
    const fd = openSync(part, "r");
    try {
      for (;;) {
        const got = readSync(fd, buf, 0, buf.length, null);
        if (got === 0) break;
        x.push(buf.subarray(0, got));
        n += got;
        this.report({ phase: "unpack", received: n, total: t.length });
        if (n >= t.length / 2) this.o.crashPoint?.("mid-write");
      }
      closeSync(fd);
      this.finishSlot(x.finish(), t, dir);
    } catch (e) {
      x.abort();
      try {
        closeSync(fd);
      } catch {
        /* closed */
      }
      throw e;
    }
    this.o.bootControl.markPending(slot, this.o.attempts);
    discardPartial(part);
  }

  /** The extracted bundle is the signed target for this board: the slot's verified marker. */
  private finishSlot(m: BundleManifest, t: PlannedTarget, dir: string): void {
    if (m.kind !== "runtime") throw new RidgeError("E_OTA_BUNDLE_MANIFEST", `the bundle is a ${m.kind}, not a runtime`);
    if (m.version !== t.version) throw new RidgeError("E_OTA_BUNDLE_MANIFEST", `the bundle says version ${m.version}, the signed target ${t.version}`);
    if (m.board !== this.o.board.name || m.arch !== this.o.board.arch) throw new RidgeError("E_OTA_WRONG_BOARD", `the bundle is for ${m.board}/${m.arch}`);
    if (!m.entry) throw new RidgeError("E_OTA_BUNDLE_MANIFEST", "the runtime bundle names no entry file");
    writeMarker(dir, { version: m.version, target: t.name, sha256: t.hashes.sha256!, board: m.board, arch: m.arch, entry: m.entry, installedAt: new Date(this.o.clock.now()).toISOString() });
  }

  private scheduleConfirm(): void {
    this.confirmTimer?.cancel();
    const elapsed = this.o.clock.monotonic() - this.startedAt;
    this.confirmTimer = this.o.clock.setTimeout(() => this.confirmRunningSlot(), Math.max(0, this.o.healthUpForMs - elapsed));
  }

  /** The running slot has been up for `upFor`: it is the good one (first in the order, full attempts). */
  confirmRunningSlot(): void {
    // Once a new slot is marked pending, the order must stay as markPending left it.
    try {
      confirmSlot(this.o.bootControl, this.st, this.o.attempts);
    } catch (e) {
      this.o.log.warn({ err: errorMessage(e) }, "ota: could not confirm the running slot");
    }
  }

  private scheduleHealth(): void {
    this.healthTimer?.cancel();
    const elapsed = this.o.clock.monotonic() - this.startedAt;
    this.healthTimer = this.o.clock.setTimeout(() => void this.runHealth(), Math.max(0, this.o.healthUpForMs - elapsed));
  }

  /** The trial's verdict: commit (floor raised, slot confirmed) or roll back (old slot first, restart). */
  async runHealth(): Promise<void> {
    if (this.st.s !== "trial") return;
    let failed: string | undefined;
    for (const c of this.o.healthChecks) {
      try {
        const r = await c();
        if (!r.ok) failed = r.reason ?? "a health check failed";
      } catch (e) {
        failed = errorMessage(e);
      }
      if (failed) break;
    }
    await this.feed(failed === undefined ? { i: "health-passed" } : { i: "health-failed", code: "E_OTA_HEALTH", reason: failed });
  }

  stop(): void {
    this.healthTimer?.cancel();
    this.confirmTimer?.cancel();
  }
}
