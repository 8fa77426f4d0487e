/**
 * Device twin and command sync with the cloud.
 *
 * Downlink (below `<root>/down/`):
 *   twin/desired/<device>   {"version": 7, "state": {"setpoint": 42}}        desired document (cloud wins)
 *   twin/snapshot           {"devices": {"<device>": {"version": 7, "state": {…}}}}   answer to twin/get
 *   cmd/<device>/<point>    {"id": "c-1", "value": true}                     one write through Driver.write
 * Uplink control topics (below `<root>/`, QoS 1):
 *   twin/reported/<device>  {"version": 9, "state": {…}, "versions": {"key": 9}, "rejected": {"key": {code, reason, desiredVersion}}}
 *                           merged unpublished changes; `rejected` names desired values not applied (null: applied since)
 *   twin/get                {"requestId": "…", "devices": […]}                asked on every (re)connect
 *   cmd/result              {"id": "c-1", "device", "point", "ok": true}
 *
 * Desired keys that name a writable point of a configured device are written through the device's
 * driver and, once written, reported back; a device without a points list whose driver takes
 * documents (MQTT) gets the whole desired document, retained. Every desired value that cannot be
 * applied (not writable, out of range, offline, no way to apply) is reported with its reason.
 * Reported changes also come from `state` events.
 */
import { errorCode, errorMessage, type Clock, type Driver, type Event, type Logger } from "../../core/index.js";
import type { GatewayConfig } from "../config/schema.js";
import type { Downlink } from "../contracts.js";
import type { TwinStore } from "../store/twin-store.js";

export interface TwinSyncOptions {
  store: TwinStore;
  config: GatewayConfig;
  drivers: ReadonlyMap<string, Driver>;
  log: Logger;
  clock: Clock;
  gatewayId: string;
  /** QoS 1 publish below `<root>/`; resolves true once acknowledged, false when offline. */
  publish(suffix: string, payload: string): Promise<boolean>;
}

interface DeviceRoute {
  driver: string;
  /** Point names that may be written; undefined when the device config lists no points. */
  writable: Set<string> | undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

/** Reported keys that record why a desired value was not applied; published as `rejected: {point: …}`. */
const REJECTED = "$rejected/";

/** A reported document as people and the cloud see it: rejection keys moved out of `state` into `rejected` (null: applied since). */
export function reportedDocument(d: { version: number; state: Record<string, unknown>; versions: Record<string, number> }): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  const versions: Record<string, number> = {};
  const rejected: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d.state)) {
    if (k.startsWith(REJECTED)) Object.defineProperty(rejected, k.slice(REJECTED.length), { value: v, enumerable: true, writable: true, configurable: true });
    else Object.defineProperty(state, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  for (const [k, v] of Object.entries(d.versions)) if (!k.startsWith(REJECTED)) Object.defineProperty(versions, k, { value: v, enumerable: true, writable: true, configurable: true });
  return { version: d.version, state, versions, ...(Object.keys(rejected).length ? { rejected } : {}) };
}

export class TwinSync {
  private readonly routes = new Map<string, DeviceRoute>();
  private publishing: Promise<void> | undefined;
  private again = false;
  private requests = 0;

  constructor(private readonly o: TwinSyncOptions) {
    for (const d of o.config.devices) {
      const points = (d as { points?: unknown }).points;
      let writable: Set<string> | undefined;
      if (Array.isArray(points)) {
        writable = new Set();
        for (const p of points) if (isRecord(p) && p.writable === true && typeof p.name === "string") writable.add(p.name);
      }
      this.routes.set(d.id, { driver: d.driver, writable });
    }
  }

  register(downlink: Downlink): void {
    downlink.on("twin", (suffix, payload) => this.onTwin(suffix, payload));
    downlink.on("cmd", (suffix, payload) => this.onCommand(suffix, payload));
  }

  /** Reported state from `state` events: the device wins. */
  observe(batch: readonly Event[]): void {
    let changed = false;
    for (const e of batch) {
      if (e.kind !== "state") continue;
      if (this.o.store.updateReported(e.device, e.payload) !== undefined) changed = true;
    }
    if (changed) this.flush();
  }

  /** The gateway's own reported state (active model versions, …). */
  reportGateway(state: Record<string, unknown>): void {
    if (this.o.store.updateReported(this.o.gatewayId, state) !== undefined) this.flush();
  }

  /** The link came up: publish what changed offline and ask for the desired state missed meanwhile. */
  onConnected(): void {
    this.flush();
    const devices = [...new Set([...this.routes.keys(), ...this.o.store.devices()])];
    void this.o.publish("twin/get", JSON.stringify({ requestId: `${this.o.gatewayId}-${this.o.clock.now()}-${++this.requests}`, devices }));
  }

  /** Publish every unpublished reported change; marks them published once acknowledged. */
  flush(): void {
    if (this.publishing) {
      this.again = true;
      return;
    }
    this.publishing = (async () => {
      do {
        this.again = false;
        for (const d of this.o.store.unpublished()) {
          const ok = await this.o.publish(`twin/reported/${d.device}`, JSON.stringify(reportedDocument(d)));
          if (!ok) return; // offline: they wait for the next connection
          this.o.store.markPublished(d.device, d.version);
        }
      } while (this.again);
    })()
      .catch((e: unknown) => this.o.log.warn({ err: errorMessage(e) }, "twin: publishing reported state failed"))
      .finally(() => {
        this.publishing = undefined;
        // a change that came in after the loop's last check (the round was ending) starts its own round
        if (this.again) this.flush();
      });
  }

  /** Resolves when the current publish round is over (tests). */
  async idle(): Promise<void> {
    while (this.publishing) await this.publishing;
  }

  private async onTwin(suffix: string, payload: Buffer): Promise<void> {
    const body = parseJson(payload);
    const parts = suffix.split("/");
    if (parts[1] === "desired" && parts.length >= 3) {
      await this.applyDesired(parts.slice(2).join("/"), body);
    } else if (parts[1] === "snapshot" && isRecord(body) && isRecord(body.devices)) {
      for (const [device, doc] of Object.entries(body.devices)) await this.applyDesired(device, doc);
    } else {
      this.o.log.warn({ suffix }, "twin: unknown downlink message");
    }
  }

  async applyDesired(device: string, doc: unknown): Promise<void> {
    if (!isRecord(doc) || typeof doc.version !== "number" || !Number.isInteger(doc.version) || !isRecord(doc.state)) {
      this.o.log.warn({ device }, "twin: a desired document is {version: integer, state: {…}}; ignored");
      return;
    }
    const changed = this.o.store.applyDesired(device, doc.version, doc.state);
    if (!changed) {
      this.o.log.debug({ device, version: doc.version }, "twin: stale desired document ignored");
      return;
    }
    const route = this.routes.get(device);
    if (!route) return; // the gateway's own twin, or a device this config does not have: stored only
    const reported: Record<string, unknown> = {};
    const reject = (point: string, code: string, reason: string) => {
      this.o.log.warn({ device, point, code, reason }, `twin: desired ${point} of ${device} not applied: ${reason}`);
      reported[REJECTED + point] = { code, reason, desiredVersion: doc.version };
    };
    const driver = this.o.drivers.get(route.driver);
    if (!route.writable && driver?.desired) {
      // devices that take the whole document (MQTT): delivered, retained; they report back themselves
      try {
        await driver.desired(device, { version: doc.version, state: this.o.store.document(device).desired.state });
        for (const point of Object.keys(changed)) reported[REJECTED + point] = null;
      } catch (e) {
        for (const point of Object.keys(changed)) reject(point, errorCode(e), errorMessage(e));
      }
    } else
      for (const [point, value] of Object.entries(changed)) {
        if (value === null) continue;
        if (!route.writable) {
          reject(point, "E_TWIN_NOT_APPLIED", `driver "${route.driver}" takes neither point writes for ${device} (no points listed) nor desired documents`);
          continue;
        }
        if (!route.writable.has(point)) {
          reject(point, "E_CMD_NOT_WRITABLE", `"${point}" is not a writable point of ${device} in the config`);
          continue;
        }
        try {
          await this.write(device, point, value);
          reported[point] = value;
          reported[REJECTED + point] = null;
        } catch (e) {
          // out of range, device offline, bus down: the cloud hears why, not only the local log
          reject(point, errorCode(e), errorMessage(e));
        }
      }
    if (this.o.store.updateReported(device, reported) !== undefined) this.flush();
  }

  private async write(device: string, point: string, value: unknown, notAWrite = false): Promise<void> {
    const route = this.routes.get(device);
    if (!route) throw Object.assign(new Error(`no configured device "${device}"`), { code: "E_CMD_UNKNOWN_DEVICE" });
    if (!notAWrite && route.writable && !route.writable.has(point)) throw Object.assign(new Error(`point "${point}" of ${device} is not writable`), { code: "E_CMD_NOT_WRITABLE" });
    const d = this.o.drivers.get(route.driver);
    if (!d?.write) throw Object.assign(new Error(`driver "${route.driver}" cannot write`), { code: "E_CMD_NO_WRITE" });
    await d.write(device, point, value);
  }

  private async onCommand(suffix: string, payload: Buffer): Promise<void> {
    const [, device, ...rest] = suffix.split("/");
    const point = rest.join("/");
    const body = parseJson(payload);
    const id = isRecord(body) && typeof body.id === "string" ? body.id : undefined;
    let result: Record<string, unknown>;
    if (!device || !point || !isRecord(body) || !("value" in body)) {
      result = { id, device, point, ok: false, code: "E_CMD_BAD_REQUEST", error: "a command is cmd/<device>/<point> with {\"value\": …}" };
    } else {
      // an explicit operation other than a write (LwM2M read, execute, discover, observe…) reaches
      // any configured point or path: the driver checks it; only writes change the reported state
      const op = isRecord(body.value) && typeof body.value.op === "string" ? body.value.op : undefined;
      try {
        await this.write(device, point, body.value, op !== undefined && op !== "write");
        if (op === undefined || op === "write") {
          this.o.store.updateReported(device, { [point]: isRecord(body.value) && op === "write" && "value" in body.value ? body.value.value : body.value });
          this.flush();
        }
        result = { id, device, point, ok: true };
      } catch (e) {
        result = { id, device, point, ok: false, code: errorCode(e), error: errorMessage(e) };
      }
    }
    await this.o.publish("cmd/result", JSON.stringify(result));
  }
}
