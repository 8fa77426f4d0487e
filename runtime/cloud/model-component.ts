/**
 * The `models` component: the content-addressed model cache (store/model-cache.ts) and the
 * fetcher that fills it from signed manifests on the downlink (model-fetcher.ts). It gives the
 * pipeline's `model` operator its `ModelProvider`, reports the active versions to the twin, has a
 * switch re-measured by attestation, and serves `GET /models`.
 */
import type Database from "better-sqlite3";
import type { Clock, Logger } from "../../core/index.js";
import type { Component, ComponentHealth } from "../component.js";
import type { Downlink, Measurements } from "../contracts.js";
import type { Routes } from "../control/routes.js";
import type { ModelProvider } from "../pipeline/index.js";
import { ModelCache } from "../store/model-cache.js";
import type { ModelsConfig } from "./config.js";
import type { CloudPort } from "./link-component.js";
import type { ManifestVerifier } from "./model-manifest.js";
import { ModelFetcher } from "./model-fetcher.js";
import { cacheModelProvider } from "./model-provider.js";

export interface ModelComponentOptions {
  config: ModelsConfig;
  dataDir: string;
  db: Database.Database;
  board: { name: string; arch: string };
  clock: Clock;
  log: Logger;
  routes: Routes;
  downlink: Downlink;
  cloud: CloudPort;
  measurements: Measurements;
  /** Told the active versions after every switch (the gateway's reported twin state). */
  onActiveChanged(active: Record<string, string>): void;
}

export class ModelComponent implements Component {
  readonly name = "models";
  readonly cache: ModelCache;
  readonly fetcher: ModelFetcher;
  readonly provider: ModelProvider;

  private constructor(o: ModelComponentOptions, verifier: ManifestVerifier | undefined) {
    const cache = new ModelCache(o.dataDir, o.db, { keep: o.config.keep, clock: o.clock });
    this.cache = cache;
    const cloud = o.cloud;
    this.fetcher = new ModelFetcher({
      cache,
      trustedKeys: o.config.trustedKeys,
      retryMs: o.config.retry,
      clock: o.clock,
      log: o.log,
      board: o.board,
      online: () => cloud.connected,
      ...(verifier ? { verifier } : {}),
      onActivated: (name, version, data) => {
        o.onActiveChanged(cache.activeVersions());
        o.measurements.changed({ kind: "model", name: `${name}@${version}`, data });
      },
    });
    this.fetcher.register(o.downlink);
    this.provider = cacheModelProvider(cache);
    o.routes.add("GET", "/models", () => ({ body: { active: cache.activeVersions(), models: cache.list() } }));
  }

  /** Manifest signatures through the shared attest/crypto (Ed25519, ECDSA P-256, SM2-SM3), loaded only when keys are configured. */
  static async create(o: ModelComponentOptions): Promise<ModelComponent> {
    let verifier: ManifestVerifier | undefined;
    if (o.config.trustedKeys.length > 0) {
      const attest = await import("../../attest/index.js");
      verifier = { verify: (alg, key, msg, sig) => attest.isSigAlg(alg) && attest.verify(alg, key, msg, sig) };
    }
    return new ModelComponent(o, verifier);
  }

  /** The link came up: resume what waits for it. */
  kick(): void {
    this.fetcher.kick();
  }

  async start(): Promise<void> {
    this.fetcher.start();
  }

  async stop(): Promise<void> {
    this.fetcher.stop();
  }

  health(): ComponentHealth {
    return { up: true };
  }

  status(): Record<string, unknown> {
    return { models: Object.entries(this.cache.activeVersions()).map(([n, v]) => `${n}@${v}`).join(",") || "none", activeModels: this.cache.activeVersions() };
  }
}
