/**
 * systemd notifications (sd_notify(3)): READY=1 once the gateway serves, WATCHDOG=1 at half the
 * watchdog interval, STOPPING=1 on shutdown. Node has no AF_UNIX datagram sockets, so the message
 * goes through `systemd-notify --pid=<our pid>` (the unit sets NotifyAccess=all so systemd accepts
 * it from the helper). Tests point RIDGE_SYSTEMD_NOTIFY at a recording stand-in or use a real
 * datagram socket.
 */
import type { Clock, Timer } from "../core/index.js";

export interface Notifier {
  notify(state: Record<string, string | number>): Promise<void>;
}

export function systemdNotifier(env: NodeJS.ProcessEnv = process.env): Notifier | undefined {
  if (!env.NOTIFY_SOCKET) return undefined;
  const bin = env.RIDGE_SYSTEMD_NOTIFY ?? "systemd-notify";
  return {
    async notify(state) {
      const args = [`--pid=${process.pid}`, ...Object.entries(state).map(([k, v]) => `${k}=${v}`)];
      // Loaded only under systemd: child_process brings net and dgram with it.
      const { execFile } = await import("node:child_process");
      return new Promise((resolve) => {
        execFile(bin, args, { env, timeout: 5000 }, () => resolve());
      });
    },
  };
}

/** WATCHDOG=1 every half interval (WATCHDOG_USEC from systemd), while `healthy()` says so. */
export function startWatchdog(n: Notifier, clock: Clock, env: NodeJS.ProcessEnv, healthy: () => boolean): { stop(): void } {
  const usec = Number(env.WATCHDOG_USEC ?? 0);
  const pid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
  if (!usec || pid !== process.pid) return { stop() {} };
  const every = Math.max(100, Math.floor(usec / 1000 / 2));
  let timer: Timer | undefined;
  const beat = () => {
    if (healthy()) void n.notify({ WATCHDOG: 1 });
    timer = clock.setTimeout(beat, every);
  };
  beat();
  return { stop: () => timer?.cancel() };
}
