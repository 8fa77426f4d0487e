/**
 * Fetches models named by signed manifests (downlink `model/manifest`): verify the manifest
 * (signature, compatibility), download over HTTP(S) into `models/partial/<digest>.part` with Range
 * resume (across link loss and restarts: the wanted manifest is kept in SQLite), verify length and
 * sha256, move into the blob store and switch the active version atomically. A tampered artifact is
 * rejected and never activated; while nothing new verifies, the cached model keeps serving.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { RidgeError, errorCode, errorMessage, isRidgeError, type Clock, type Timer, type Logger } from "../../core/index.js";
import type { Downlink } from "../contracts.js";
import type { ModelCache } from "../store/model-cache.js";
import { compatible, verifyManifest, type ManifestVerifier, type ModelManifest } from "./model-manifest.js";

export interface ModelFetcherOptions {
  cache: ModelCache;
  trustedKeys: readonly string[];
  retryMs: number;
  clock: Clock;
  log: Logger;
  board: { name: string; arch: string };
  online(): boolean;
  /** Signature check (default: Ed25519 only). */
  verifier?: ManifestVerifier;
  onActivated?(name: string, version: string, data: Uint8Array): void;
}

export type WantedState = "pending" | "failed" | "active";

export interface WantedModel {
  name: string;
  manifest: ModelManifest;
  state: WantedState;
  reason: string | null;
}

/** E_MODEL_REJECTED: the artifact will not do (tampered, refused), the model is marked failed; E_MODEL_DOWNLOAD: resumed later. */
function downloadError(message: string, permanent: boolean): RidgeError {
  return new RidgeError(permanent ? "E_MODEL_REJECTED" : "E_MODEL_DOWNLOAD", message);
}

export class ModelFetcher {
  private running: Promise<void> | undefined;
  private again = false;
  private retry: Timer | undefined;
  private stopped = false;
  /** Rejections and retries, for tests and status. */
  readonly events: { name: string; version: string; what: "activated" | "rejected" | "retry"; reason?: string }[] = [];

  constructor(private readonly o: ModelFetcherOptions) {
    o.cache.db.exec("CREATE TABLE IF NOT EXISTS model_wanted (name TEXT PRIMARY KEY, manifest TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, updated_at INTEGER NOT NULL)");
  }

  register(downlink: Downlink): void {
    downlink.on("model", (suffix, payload) => {
      if (suffix !== "model/manifest") return;
      let json: unknown;
      try {
        json = JSON.parse(payload.toString("utf8"));
      } catch {
        this.o.log.warn({}, "model: manifest is not JSON; ignored");
        return;
      }
      this.offer(json);
    });
  }

  /** A manifest from the cloud; returns why it was refused, or undefined when it is queued. */
  offer(json: unknown): string | undefined {
    const v = verifyManifest(json, this.o.trustedKeys, this.o.verifier);
    if (!v.ok) {
      this.o.log.warn({ code: v.code, reason: v.reason }, "model: manifest rejected");
      this.events.push({ name: String((json as { name?: unknown })?.name ?? "?"), version: String((json as { version?: unknown })?.version ?? "?"), what: "rejected", reason: v.reason });
      return v.reason;
    }
    const m = v.value;
    const c = compatible(m, this.o.board);
    if (!c.ok) {
      this.o.log.warn({ code: c.code, name: m.name, version: m.version, reason: c.reason }, "model: not for this gateway; ignored");
      this.events.push({ name: m.name, version: m.version, what: "rejected", reason: c.reason });
      return c.reason;
    }
    if (this.o.cache.current(m.name)?.digest === m.sha256) return undefined;
    this.o.cache.db
      .prepare("INSERT OR REPLACE INTO model_wanted (name, manifest, state, reason, updated_at) VALUES (?, ?, 'pending', NULL, ?)")
      .run(m.name, JSON.stringify(m), this.o.clock.now());
    this.kick();
    return undefined;
  }

  wanted(): WantedModel[] {
    return (this.o.cache.db.prepare("SELECT name, manifest, state, reason FROM model_wanted ORDER BY name").all() as { name: string; manifest: string; state: WantedState; reason: string | null }[]).map((r) => ({
      name: r.name,
      manifest: JSON.parse(r.manifest) as ModelManifest,
      state: r.state,
      reason: r.reason,
    }));
  }

  start(): void {
    this.stopped = false;
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.retry?.cancel();
  }

  /** Work through pending manifests (on start, on a new manifest, when the link returns, on retry). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.retry?.cancel();
    this.running = this.work().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async work(): Promise<void> {
    let retryNeeded = false;
    for (const w of this.wanted()) {
      if (w.state !== "pending" || this.stopped) continue;
      const m = w.manifest;
      try {
        await this.fetchAndActivate(m);
        this.setState(m.name, "active", null);
        this.events.push({ name: m.name, version: m.version, what: "activated" });
      } catch (e) {
        const permanent = isRidgeError(e, "E_MODEL_REJECTED");
        if (permanent) {
          this.setState(m.name, "failed", errorMessage(e));
          this.events.push({ name: m.name, version: m.version, what: "rejected", reason: errorMessage(e) });
          this.o.log.error({ code: errorCode(e), name: m.name, version: m.version, reason: errorMessage(e) }, "model: artifact rejected; the current model keeps serving");
        } else {
          retryNeeded = true;
          this.events.push({ name: m.name, version: m.version, what: "retry", reason: errorMessage(e) });
          this.o.log.warn({ code: errorCode(e), name: m.name, version: m.version, reason: errorMessage(e) }, "model: download interrupted; will resume");
        }
      }
    }
    if (retryNeeded && !this.stopped) this.retry = this.o.clock.setTimeout(() => this.kick(), this.o.retryMs);
  }

  private setState(name: string, state: WantedState, reason: string | null): void {
    this.o.cache.db.prepare("UPDATE model_wanted SET state = ?, reason = ?, updated_at = ? WHERE name = ?").run(state, reason, this.o.clock.now(), name);
  }

  private async fetchAndActivate(m: ModelManifest): Promise<void> {
    const cache = this.o.cache;
    if (!cache.has(m.sha256)) {
      const part = cache.partialPath(m.sha256);
      let have = cache.partialSize(m.sha256);
      if (have > m.length) {
        writeFileSync(part, "");
        have = 0;
      }
      if (have < m.length) await this.download(m, part, have);
      const got = cache.partialSize(m.sha256);
      if (got !== m.length) {
        rmSync(part, { force: true });
        throw downloadError(`length ${got} differs from the manifest's ${m.length}`, true);
      }
      const digest = await sha256File(part);
      if (digest !== m.sha256) {
        rmSync(part, { force: true });
        throw downloadError(`sha256 ${digest} differs from the manifest's ${m.sha256}: tampered or corrupted`, true);
      }
      cache.commitBlob(m.sha256, part);
    }
    cache.activate(m.name, m.version, m.sha256, m.length, m);
    this.o.log.info({ name: m.name, version: m.version, digest: m.sha256 }, "model: activated");
    this.o.onActivated?.(m.name, m.version, Buffer.from(m.sha256, "hex"));
  }

  /** GET with `Range: bytes=<have>-`, appending to the partial file; a 200 restarts from zero. */
  private async download(m: ModelManifest, part: string, have: number): Promise<void> {
    // Loaded on first download: https brings tls (and its root certificates) into every gateway otherwise.
    const { get } = m.url.startsWith("https:") ? await import("node:https") : await import("node:http");
    return new Promise<void>((resolve, reject) => {
      const req = get(m.url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, timeout: 30_000 }, (res: IncomingMessage) => {
        try {
          onResponse(res);
        } catch (e) {
          res.destroy();
          reject(downloadError(`cannot store the download: ${errorMessage(e)}`, false));
        }
      });
      const onResponse = (res: IncomingMessage): void => {
        const code = res.statusCode ?? 0;
        let offset = have;
        if (code === 200) {
          writeFileSync(part, "");
          offset = 0;
        } else if (code === 416) {
          res.resume();
          writeFileSync(part, "");
          reject(downloadError("range not satisfiable; restarting from zero", false));
          return;
        } else if (code !== 206) {
          res.resume();
          reject(downloadError(`HTTP ${code} from ${m.url}`, code >= 400 && code < 500 && code !== 408 && code !== 429));
          return;
        }
        const out = createWriteStream(part, { flags: "a" });
        let written = offset;
        let failed = false;
        res.on("data", (chunk: Buffer) => {
          written += chunk.length;
          if (written > m.length && !failed) {
            failed = true;
            res.destroy();
            out.destroy();
            rmSync(part, { force: true });
            reject(downloadError(`more than the manifest's ${m.length} bytes: tampered`, true));
          }
        });
        res.pipe(out);
        res.on("aborted", () => out.end());
        res.on("error", (e) => {
          if (failed) return;
          failed = true;
          out.end(() => reject(downloadError(`download interrupted: ${e.message}`, false)));
        });
        out.on("finish", () => {
          if (failed) return;
          if (!res.complete) reject(downloadError("download interrupted", false));
          else resolve();
        });
        out.on("error", (e) => {
          if (!failed) reject(downloadError(`cannot write ${part}: ${e.message}`, false));
          failed = true;
        });
      };
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => reject(downloadError(`download failed: ${e.message}`, false)));
    });
  }
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("data", (d) => h.update(d))
      .on("end", () => resolve(h.digest("hex")))
      .on("error", reject);
  });
}
