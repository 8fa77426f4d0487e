/**
 * Reconnect delays: exponential backoff with full jitter (delay = random(0, min(cap, base * 2^n))),
 * so that a thousand gateways that lost the broker together do not come back together. One formula
 * for every retry loop: cloud reconnects, supervised restarts, device polls.
 */
import type { Random } from "./clock.js";

export interface BackoffPolicy {
  base: number;
  cap: number;
}

/** The delay before reconnect attempt `attempt` (0 = the first retry). */
export function fullJitterDelay(p: BackoffPolicy, attempt: number, random: Random): number {
  const ceiling = Math.min(p.cap, p.base * 2 ** Math.min(attempt, 52));
  return Math.floor(random.next() * ceiling);
}
