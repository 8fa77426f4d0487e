/**
 * The clock the uplink queue measures event age with (maxAge), so that wall-clock jumps neither
 * expire fresh events nor keep old ones forever.
 *
 * An RTC-less gateway boots with a wall clock days in the past and is corrected forward by NTP
 * later; a wall-clock cutoff would then expire everything queued meanwhile. Queue time instead
 * advances by monotonic time since boot (CLOCK_BOOTTIME: /proc/uptime) while the boot id
 * (/proc/sys/kernel/random/boot_id) stays the same, and across a reboot by the wall-clock time
 * since the last persisted anchor, but only when that wall time is trusted: not behind the anchor's
 * wall time, and at least the uptime of the new boot. Otherwise only the new boot's uptime counts
 * (events then live longer than maxAge by the downtime, which is the safe side: they are not lost,
 * and they still expire after maxAge of uptime).
 *
 * Queue time never goes backwards, so rows stay in queue-time order and expiry stays a prefix delete.
 */
import { readFileSync } from "node:fs";
import type { Clock } from "../../core/index.js";

/** Where in which boot we are: injected (tests reboot by changing the id). */
export interface BootInfo {
  /** Changes at every boot. */
  bootId(): string;
  /** Monotonic ms since this boot (suspend included). */
  sinceBoot(): number;
}

export interface AgeAnchor {
  boot: string;
  sinceBoot: number;
  wall: number;
  /** Queue time at that point. */
  t: number;
}

/** The host's boot id and uptime, read once; uptime then advances with the injected monotonic clock. */
export function systemBootInfo(clock: Clock): BootInfo {
  let id = "unknown";
  let offset = 0;
  try {
    id = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const up = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    if (Number.isFinite(up)) offset = up * 1000 - clock.monotonic();
  } catch {
    // No /proc (not Linux): one "boot" per process, age from process-monotonic time.
    id = `process-${process.pid}-${clock.now()}`;
    offset = -clock.monotonic();
  }
  return { bootId: () => id, sinceBoot: () => offset + clock.monotonic() };
}

export class AgeClock {
  private anchor: AgeAnchor;

  constructor(
    private readonly clock: Clock,
    private readonly boot: BootInfo,
    saved: AgeAnchor | undefined,
  ) {
    const wall = clock.now();
    const since = boot.sinceBoot();
    const id = boot.bootId();
    if (!saved) this.anchor = { boot: id, sinceBoot: since, wall, t: wall };
    else if (saved.boot === id) this.anchor = saved;
    else {
      // A reboot: the elapsed time since the anchor is known only from wall time, when trusted.
      const byWall = wall - saved.wall;
      const elapsed = byWall >= since ? byWall : since;
      this.anchor = { boot: id, sinceBoot: since, wall, t: saved.t + Math.max(0, elapsed) };
    }
  }

  /** Queue time now (ms); never decreases. */
  now(): number {
    const since = this.boot.sinceBoot();
    const t = this.anchor.t + Math.max(0, since - this.anchor.sinceBoot);
    this.anchor = { boot: this.anchor.boot, sinceBoot: Math.max(since, this.anchor.sinceBoot), wall: this.clock.now(), t };
    return t;
  }

  /** What to persist so that the next start (same boot or not) continues from here. */
  snapshot(): AgeAnchor {
    this.now();
    return { ...this.anchor };
  }
}
