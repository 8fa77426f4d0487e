/**
 * The `cloud` component (only with `cloud.mqtt`): the cloud MQTT link (cloud-link.ts) as a
 * supervised component. It counts what the link sends, acknowledges and refuses (metrics), hands
 * downlink messages to the downlink registry, and tells the composition root when the link came up.
 * The queue tells the link itself when rows were committed (`queue.readBy(link)`).
 */
import type { Clock } from "../../core/index.js";
import type { Component, ComponentHealth } from "../component.js";
import type { Metrics } from "../metrics.js";
import { CloudLink, type CloudLinkOptions } from "./cloud-link.js";
import type { DownlinkRegistry } from "./downlink.js";
import { LINK_STATE_CODE, type LinkTag } from "./link-machine.js";

/** The link's own options (without hooks: the component supplies them) and what the component adds. */
export interface LinkComponentOptions extends Omit<CloudLinkOptions, "hooks"> {
  metrics: Metrics;
  downlink: DownlinkRegistry;
  /** The link came up (subscribed): the twin publishes what waited, the model fetcher resumes. */
  onConnected(): void;
}

/** What other components may ask of the link; `offlineCloud` stands in when no cloud is configured. */
export interface CloudPort {
  readonly connected: boolean;
  /** QoS 1 publish below `<root>/`; resolves true once acknowledged, false when offline. */
  publishControl(suffix: string, payload: string): Promise<boolean>;
}

export const offlineCloud: CloudPort = { connected: false, publishControl: () => Promise.resolve(false) };

export class LinkComponent implements Component, CloudPort {
  readonly name = "cloud";
  readonly dependsOn = ["uplink"];
  readonly link: CloudLink;
  private readonly clock: Clock;

  constructor(o: LinkComponentOptions) {
    this.clock = o.clock;
    const m = o.metrics;
    const sentTotal = m.counter("ridge_uplink_sent_events_total", "Events published to the cloud (redeliveries included)", ["priority"]);
    const sentBytes = m.counter("ridge_uplink_sent_bytes_total", "Batch payload bytes published to the cloud", []);
    const ackedTotal = m.counter("ridge_uplink_acked_events_total", "Events acknowledged by the cloud broker (PUBACK) and deleted", ["priority"]);
    const connectFailures = m.counter("ridge_uplink_connect_failures_total", "Failed cloud connection attempts and lost links", ["code"]);
    const publishRefused = m.counter("ridge_uplink_publish_refused_total", "Publishes the cloud broker refused (MQTT 5 PUBACK reason code >= 0x80)", ["priority", "code", "reason"]);
    const oversizeSkipped = m.counter("ridge_uplink_oversize_skipped_total", "Events skipped because no PUBLISH the broker accepts can hold them", ["priority", "reason"]);
    const log = o.log;
    const link = new CloudLink({
      config: o.config,
      gatewayId: o.gatewayId,
      dataDir: o.dataDir,
      queue: o.queue,
      clock: o.clock,
      random: o.random,
      log,
      hooks: {
        onSent: (p, n, bytes) => {
          sentTotal.inc({ priority: p }, n);
          sentBytes.inc(bytes);
        },
        onAcked: (p, n) => ackedTotal.inc({ priority: p }, n),
        onConnectFailure: (code) => connectFailures.inc({ code }),
        onPublishRefused: (p, rc, reason) => publishRefused.inc({ priority: p, code: `0x${rc.toString(16).padStart(2, "0")}`, reason }),
        onOversize: (p, reason) => oversizeSkipped.inc({ priority: p, reason }),
        onDownlink: async (suffix, payload) => {
          if (!(await o.downlink.dispatch(suffix, payload))) log.debug({ suffix }, "downlink message with no handler");
        },
        onConnected: () => o.onConnected(),
      },
    });
    this.link = link;
    o.queue.readBy(link);
    m.gauge("ridge_uplink_link_state", "Cloud link state: 1 for the current state", ["state"], (g) => {
      const tag: LinkTag = link.tag;
      for (const t of Object.keys(LINK_STATE_CODE)) g.set({ state: t }, t === tag ? 1 : 0);
    });
    m.gauge("ridge_uplink_last_drain_timestamp_seconds", "When the queue was last emptied by acknowledgements", [], (g) => g.set((link.lastDrained() ?? 0) / 1000));
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /** Online or draining the backlog (the OTA health check's "cloud is up"). */
  get up(): boolean {
    const t = this.link.tag;
    return t === "online" || t === "draining";
  }

  publishControl(suffix: string, payload: string): Promise<boolean> {
    return this.link.publishControl(suffix, payload);
  }

  async start(): Promise<void> {
    this.link.start();
  }

  stop(): Promise<void> {
    return this.link.stop();
  }

  health(): ComponentHealth {
    return { up: true, detail: `link ${this.link.tag}` };
  }

  status(): Record<string, unknown> {
    const st = this.link.status();
    const drained = st.lastDrained;
    return {
      link: this.link.tag,
      lastDrain: typeof drained === "string" ? `${Math.round((this.clock.now() - Date.parse(drained)) / 1000)} s ago` : "never",
      linkDetail: st,
    };
  }
}
