/**
 * The owner of the update state machine on the device: it persists each state before running the
 * step the state names, runs the step (refresh metadata, download, verify, install, wait for the
 * reboot, health check, commit), and feeds the outcome back to the machine. Every step can be
 * re-run after a power cut: downloads resume, verification re-hashes, installation wipes the slot
 * and extracts again, and a slot that was already started is never touched.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { RidgeError, errorCode, errorMessage, type Clock, type Random } from "../core/index.js";
import type { BootControl } from "./boot-control.js";
import { BundleExtractor } from "./bundle-extractor.js";
import { clearMarker, readMarker, writeMarker } from "./slot-marker.js";
import { selectUpdate, requireTarget, type DeviceIdentity } from "./target-selection.js";
import { TargetHasher } from "./target-hasher.js";
import { discardPartial, downloadTarget, type DownloadProgress } from "./target-download.js";
import { TufClient, targetPath, type ClientLimits, type RepoFetcher } from "./tuf-client.js";
import type { TargetFile } from "./tuf-metadata.js";
import { UpdateStore } from "./update-store.js";
import { busy, holdsBootOrder, otherSlot, transition, type PlannedTarget, type Slot, type Trigger, type UpdateInput, type UpdateState } from "./update-machine.js";

export interface AgentLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface HealthResult {
  ok: boolean;
  reason?: string;
}

export interface UpdateAgentOptions {
  db: Database.Database;
  clock: Clock;
  random: Random;
  log: AgentLog;
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
  onProgress?(p: DownloadProgress): void;
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
  progress: DownloadProgress | undefined;
  history: ReturnType<UpdateStore["history"]>;
}

export class UpdateAgent {
  readonly store: UpdateStore;
  private st: UpdateState;
  private running: Promise<void> | undefined;
  private progress: DownloadProgress | undefined;
  private startedAt: number;
  private healthTimer: { cancel(): void } | undefined;
  private confirmTimer: { cancel(): void } | undefined;
  /** The signed target file of the download in flight (length and hashes for the extractor). */
  private verifiedInProcess = false;

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
      left = this.o.bootControl.bootAttemptsLeft();
    } catch {
      left = undefined;
    }
    return { state: this.st, active: this.activeSlot(), runningVersion: this.runningVersion(), floor: this.store.floor("runtime"), attemptsLeft: left, progress: this.progress, history: this.store.history(10) };
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

  private apply(inp: UpdateInput): void {
    const next = transition(this.st, inp);
    if (!next) throw new RidgeError("E_OTA_TRANSITION", `input ${inp.i} in state ${this.st.s}`);
    if (next !== this.st) this.set(next);
  }

  /** At runtime start: tell the machine which slot booted, then resume whatever was in flight. */
  async boot(): Promise<void> {
    const booted = this.activeSlot();
    const st = this.st;
    // Installed and already started (the state write after markPending was lost): the slot is verified.
    if (st.s === "installing" && booted === st.slot) {
      if (readMarker(this.o.slotDir(st.slot))) this.apply({ i: "installed" });
    }
    // A download/verify/install for a slot that is now running can only be stale: never touch a running slot.
    if ((this.st.s === "downloading" || this.st.s === "verifying" || this.st.s === "installing") && booted === this.st.slot) {
      this.set({ s: "failed", code: "E_OTA_SLOT_BUSY", reason: `slot ${booted} runs: refusing to write into it`, target: this.st.target });
    }
    let failure: { code: string; reason: string } | undefined;
    if ((st.s === "pending" || st.s === "trial") && booted !== st.slot) {
      try {
        failure = this.o.bootFailure?.(st.slot);
      } catch {
        failure = undefined;
      }
    }
    this.apply({ i: "booted", slot: booted, at: this.o.clock.now(), ...(failure ? { failure } : {}) });
    const now = this.st;
    if (now.s === "rolled-back" && st.s !== "rolled-back") this.o.log.warn({ reason: now.reason, code: now.code }, "ota: rolled back");
    if (now.s === "committed" && booted !== now.slot) this.o.log.error({ committed: now.slot, booted }, "ota: the committed slot stopped starting; running the other slot");
    if (now.s === "trial") this.scheduleHealth();
    else if (!(now.s === "rolled-back" && now.slot === booted)) {
      // Not a trial: confirm the running slot once it has been up for `upFor` (not at start, or a
      // slot that crashes after starting would reset its own attempts and never hand over).
      this.scheduleConfirm();
    }
    // resume an update that was in flight when the power went
    if (now.s === "checking") await this.check(now.trigger);
    else if (now.s === "downloading" || now.s === "verifying" || now.s === "installing") await this.check("poll");
  }

  /** One update cycle from `checking`; resolves when it settles (pending, idle, failed) or is parked. */
  check(trigger: Trigger, opts: { target?: string } = {}): Promise<void> {
    if (this.running) return this.running;
    const p = (async () => {
      if (busy(this.st) && this.st.s !== "checking") return this.drive();
      if (this.st.s !== "checking") this.apply({ i: "check", trigger });
      await this.runCheck(opts.target);
      await this.drive();
    })().finally(() => {
      this.running = undefined;
    });
    this.running = p;
    return p;
  }

  private identity(): DeviceIdentity {
    const v = this.runningVersion();
    return { kind: "runtime", board: this.o.board.name, arch: this.o.board.arch, current: v, minVersion: this.store.floor("runtime") ?? "0.0.0" };
  }

  private async runCheck(name?: string): Promise<void> {
    const client = new TufClient(this.store, this.o.mirrors, this.o.clock, this.o.limits);
    const r = await client.refresh();
    if (!r.ok) {
      this.apply({ i: "check-failed", code: r.code, reason: r.reason });
      return;
    }
    const resolved = await client.resolveTargets(r.trusted, r.startedAt);
    if (!resolved.ok) {
      this.apply({ i: "check-failed", code: resolved.code, reason: resolved.reason });
      return;
    }
    const visible = { ...r.trusted.targets, targets: resolved.targets };
    const dev = this.identity();
    const sel = name ? requireTarget(visible, name, dev) : selectUpdate(visible, dev);
    if (!sel.ok) {
      this.apply({ i: "check-failed", code: sel.code, reason: sel.reason });
      return;
    }
    if (!sel.target) {
      this.apply({ i: "no-update" });
      return;
    }
    const t = sel.target;
    const sha = t.file.hashes.sha256;
    if (!sha) {
      this.apply({ i: "check-failed", code: "E_OTA_HASH", reason: `${t.name}: no sha256 listed` });
      return;
    }
    const from = this.activeSlot();
    const target: PlannedTarget = { name: t.name, version: t.custom.version, length: t.file.length, hashes: t.file.hashes, path: targetPath(r.trusted.root, t.name, sha) };
    this.apply({ i: "update-found", target, slot: otherSlot(from), from, fromVersion: dev.current });
  }

  private part(t: PlannedTarget): string {
    mkdirSync(this.o.workDir, { recursive: true });
    return join(this.o.workDir, `${t.hashes.sha256}.part`);
  }

  private targetFile(t: PlannedTarget): TargetFile {
    return { length: t.length, hashes: t.hashes };
  }

  /** Run the step the current state names until the flow settles or parks. */
  private async drive(): Promise<void> {
    for (;;) {
      const st = this.st;
      if (st.s === "downloading") {
        if (st.slot === this.activeSlot()) return this.set({ s: "failed", code: "E_OTA_SLOT_BUSY", reason: `slot ${st.slot} runs`, target: st.target });
        const retries = this.o.downloadRetries ?? 5;
        let done = false;
        for (let attempt = 0; attempt <= retries && !done; attempt++) {
          try {
            const mirror = this.o.mirrors[attempt % this.o.mirrors.length]!;
            const check = await downloadTarget({
              mirror,
              path: st.target.path,
              name: st.target.name,
              file: this.targetFile(st.target),
              part: this.part(st.target),
              algorithms: this.o.verifyHashes ?? [],
              onProgress: (p) => {
                this.progress = p;
                this.o.onProgress?.(p);
              },
              afterChunk: (n) => {
                if (n >= st.target.length / 2) this.o.crashPoint?.("mid-download");
              },
            });
            if (!check.ok) {
              discardPartial(this.part(st.target));
              this.apply({ i: "download-failed", code: check.code, reason: check.reason });
              return;
            }
            done = true;
          } catch (e) {
            if (errorCode(e) !== "E_OTA_FETCH") throw e;
            this.o.log.warn({ err: errorMessage(e), attempt }, "ota: download interrupted; resuming");
            // exponential backoff with full jitter, 1 s .. 60 s
            await this.o.clock.sleep(Math.floor(this.o.random.next() * Math.min(60_000, 1000 * 2 ** attempt)));
          }
        }
        if (!done) {
          // Parked in `downloading`: the next poll or start resumes from the bytes on disk. A mirror
          // that never completes the file must not keep the device "updating" forever.
          const stalls = (st.stalls ?? 0) + 1;
          if (stalls >= (this.o.maxStalls ?? 12)) {
            discardPartial(this.part(st.target));
            this.apply({ i: "download-failed", code: "E_OTA_DOWNLOAD_STALLED", reason: `${st.target.name}: no complete download after ${stalls} cycles` });
          } else this.set({ ...st, stalls });
          return;
        }
        this.verifiedInProcess = true;
        this.apply({ i: "downloaded" });
      } else if (st.s === "verifying") {
        // Hashed while streaming in this process; after a restart, hash the file on disk again.
        if (!this.verifiedInProcess) {
          const h = new TargetHasher(st.target.name, this.targetFile(st.target), this.o.verifyHashes ?? []);
          const part = this.part(st.target);
          if (existsSync(part)) for await (const c of createReadStream(part, { highWaterMark: 1 << 20 })) if (!h.update(c as Buffer)) break;
          const r = h.finish();
          if (!r.ok) {
            discardPartial(part);
            this.apply({ i: "verify-failed", code: r.code, reason: r.reason });
            return;
          }
        }
        this.verifiedInProcess = false;
        this.apply({ i: "verified" });
      } else if (st.s === "installing") {
        if (st.slot === this.activeSlot()) return this.set({ s: "failed", code: "E_OTA_SLOT_BUSY", reason: `slot ${st.slot} runs`, target: st.target });
        try {
          await this.install(st.target, st.slot);
        } catch (e) {
          clearMarker(this.o.slotDir(st.slot));
          this.apply({ i: "install-failed", code: errorCode(e), reason: errorMessage(e) });
          return;
        }
        this.apply({ i: "installed" });
      } else if (st.s === "pending") {
        this.o.requestRestart(`slot ${st.slot} installed (${st.target.version})`);
        return;
      } else return;
    }
  }

  private async install(t: PlannedTarget, slot: Slot): Promise<void> {
    const dir = this.o.slotDir(slot);
    clearMarker(dir);
    const x = new BundleExtractor(dir);
    const part = this.part(t);
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
        if (n >= t.length / 2) this.o.crashPoint?.("mid-write");
      }
      closeSync(fd);
      const m = x.finish();
      if (m.kind !== "runtime") throw new RidgeError("E_OTA_BUNDLE_MANIFEST", `the bundle is a ${m.kind}, not a runtime`);
      if (m.version !== t.version) throw new RidgeError("E_OTA_BUNDLE_MANIFEST", `the bundle says version ${m.version}, the signed target ${t.version}`);
      if (m.board !== this.o.board.name || m.arch !== this.o.board.arch) throw new RidgeError("E_OTA_WRONG_BOARD", `the bundle is for ${m.board}/${m.arch}`);
      if (!m.entry) throw new RidgeError("E_OTA_BUNDLE_MANIFEST", "the runtime bundle names no entry file");
      writeMarker(dir, { version: m.version, target: t.name, sha256: t.hashes.sha256!, board: m.board, arch: m.arch, entry: m.entry, installedAt: new Date(this.o.clock.now()).toISOString() });
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
    const st = this.st;
    if (st.s !== "trial") return;
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
    if (failed === undefined) {
      this.o.bootControl.markGood();
      const next = transition(st, { i: "health-passed" })!;
      this.set(next, { kind: "runtime", version: st.target.version });
      return;
    }
    this.o.bootControl.markBad(st.slot);
    this.apply({ i: "health-failed", code: "E_OTA_HEALTH", reason: failed });
    this.o.requestRestart(`health check failed: ${failed}`);
  }

  stop(): void {
    this.healthTimer?.cancel();
    this.confirmTimer?.cancel();
  }
}
