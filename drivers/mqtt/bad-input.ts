/**
 * Bad input from devices (malformed payloads, oversize packets, unknown devices, ACL violations,
 * rate limits): counted per device and reason for /metrics, logged at most once per interval per
 * (device, reason) with the number of repeats in between, so a flood cannot flood the log.
 */
import type { Clock, DriverContext } from "../../core/index.js";

export type BadInputReason =
  | "malformed"
  | "oversize"
  | "unknown_device"
  | "unmapped_topic"
  | "acl_denied"
  | "auth_failed"
  | "rate_limited"
  | "max_connections"
  | "protocol";

export const BAD_INPUT_METRIC = "mqtt_bad_input_total";

export class BadInputReporter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly ctx: Pick<DriverContext, "count" | "log">,
    private readonly clock: Clock,
    private readonly driver: string,
    private readonly intervalMs = 10_000,
  ) {}

  /**
   * `device` is a configured device id or "unknown" (never a name taken from the wire, so a
   * hostile client cannot grow the metric's label set); the wire name goes into the log detail.
   */
  report(device: string, reason: BadInputReason, detail: Record<string, unknown> = {}): void {
    this.ctx.count(BAD_INPUT_METRIC, { driver: this.driver, device, reason });
    const key = `${device}\u0000${reason}`;
    const now = this.clock.monotonic();
    const l = this.last.get(key);
    if (l && now - l.at < this.intervalMs) {
      l.suppressed++;
      return;
    }
    if (this.last.size > 10_000) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    this.ctx.log.warn({ ...detail, driver: this.driver, device, reason, ...(l?.suppressed ? { suppressed: l.suppressed } : {}) }, `mqtt: dropped bad input from ${device} (${reason})`);
  }
}
