/**
 * How long the cloud link has been down, for `ridge status`: a gateway whose link has been down
 * longer than `control.cloudDownDegradedAfter` is reported degraded (not healthy), though every
 * component is up. Sampled once a second on the injected clock (the link itself keeps only the
 * start of its current state, which a retry loop resets); a link never up counts from the start.
 * /healthz and the systemd watchdog do not use it: restarting cannot bring a cloud back.
 */
import type { Clock, Timer } from "../../core/index.js";

export interface CloudDownReason {
  code: "E_CLOUD_DOWN";
  message: string;
  downForSec: number;
}

const SAMPLE_MS = 1000;

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

export class CloudDownWatch {
  private downSince: number | undefined;
  private timer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly up: () => boolean,
    readonly afterMs: number,
  ) {
    this.downSince = up() ? undefined : clock.monotonic();
  }

  start(): void {
    const tick = () => {
      this.sample();
      this.timer = this.clock.setTimeout(tick, SAMPLE_MS);
    };
    this.timer ??= this.clock.setTimeout(tick, SAMPLE_MS);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  sample(): void {
    if (this.up()) this.downSince = undefined;
    else this.downSince ??= this.clock.monotonic();
  }

  /** Milliseconds the link has been down (0 when up). */
  downForMs(): number {
    this.sample();
    return this.downSince === undefined ? 0 : this.clock.monotonic() - this.downSince;
  }

  /** The reason the gateway is degraded, or undefined. */
  degraded(): CloudDownReason | undefined {
    const ms = this.downForMs();
    if (this.downSince === undefined || ms < this.afterMs) return undefined;
    return {
      code: "E_CLOUD_DOWN",
      message: `the cloud link has been down for ${minutes(ms)}, longer than control.cloudDownDegradedAfter (${minutes(this.afterMs)}): events are kept in the queue; check the network and the broker`,
      downForSec: Math.round(ms / 1000),
    };
  }
}
