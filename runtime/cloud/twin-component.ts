/**
 * The `twin` component: the device twins (store/twin-store.ts) kept in sync with the cloud
 * (twin-sync.ts). Desired state and commands arrive on the downlink; reported state comes from
 * the `state` events an uplink sink committed (it is the queue's `CommitWatcher`); `GET /twin`
 * serves the documents.
 */
import type Database from "better-sqlite3";
import { errorMessage, type Clock, type Driver, type Event, type Logger } from "../../core/index.js";
import type { Component, ComponentHealth } from "../component.js";
import type { GatewayConfig } from "../config/schema.js";
import type { Downlink } from "../contracts.js";
import type { Routes } from "../control/routes.js";
import type { CommitWatcher } from "../store/queue.js";
import { TwinStore } from "../store/twin-store.js";
import type { CloudPort } from "./link-component.js";
import { TwinSync, reportedDocument } from "./twin-sync.js";

export interface TwinComponentOptions {
  db: Database.Database;
  config: GatewayConfig;
  drivers: ReadonlyMap<string, Driver>;
  clock: Clock;
  log: Logger;
  routes: Routes;
  downlink: Downlink;
  cloud: CloudPort;
}

export class TwinComponent implements Component, CommitWatcher {
  readonly name = "twin";
  readonly store: TwinStore;
  readonly sync: TwinSync;
  private readonly log: Logger;

  constructor(o: TwinComponentOptions) {
    this.log = o.log;
    this.store = new TwinStore(o.db, o.clock);
    const cloud = o.cloud;
    this.sync = new TwinSync({ store: this.store, config: o.config, drivers: o.drivers, log: o.log, clock: o.clock, gatewayId: o.config.gateway.id, publish: (suffix, payload) => cloud.publishControl(suffix, payload) });
    this.sync.register(o.downlink);
    const store = this.store;
    o.routes.add("GET", "/twin", (req) => {
      const device = req.query.get("device");
      if (!device) return { body: { devices: store.devices() } };
      const doc = store.document(device);
      return { body: { ...doc, reported: reportedDocument(doc.reported) } };
    });
  }

  /** Reported state from committed `state` events; a failure is logged, never thrown into the sink. */
  observe(batch: readonly Event[]): void {
    try {
      this.sync.observe(batch);
    } catch (e) {
      this.log.warn({ err: errorMessage(e) }, "twin: recording reported state from state events failed");
    }
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  health(): ComponentHealth {
    return { up: true };
  }

  status(): Record<string, unknown> {
    return { twinVersion: this.store.gatewayVersion(), devices: this.store.devices().length, unpublished: this.store.unpublishedCount() };
  }
}
