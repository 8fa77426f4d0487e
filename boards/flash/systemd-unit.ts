/**
 * The systemd service that runs the gateway (systemd.service(5), systemd.exec(5)):
 *  - Type=notify + NotifyAccess=all: the runtime sends READY=1 and WATCHDOG=1 through
 *    `systemd-notify --pid=<its pid>` (runtime/sd-notify.ts), so the helper's messages must be accepted;
 *  - WatchdogSec: a hung event loop is killed and restarted; Restart=always with no start limit,
 *    since an unattended gateway must never give up;
 *  - hardening: a read-only system (ProtectSystem=strict) with write access only where the runtime
 *    writes (data dir, the standby slot for OTA, the boot loader environment where the board's boot
 *    control writes it) and device access only to the board's and the config's ports.
 * And a manager drop-in that gives the board's hardware watchdog to systemd (RuntimeWatchdogSec):
 * the kernel resets the board if systemd itself hangs.
 */
import { posix } from "node:path";
import type { Board } from "../schema.js";
import type { DeviceLayout } from "./device-layout.js";

export interface UnitOptions {
  /** Device nodes the config uses beyond the board's own (serial ports of configured drivers). */
  extraDevices?: readonly string[];
  watchdogSec?: number;
}

export const DEFAULT_WATCHDOG_SEC = 30;

/** nvbootctrl rewrites the boot partitions' slot metadata through block devices as full root. */
const BOOT_CONTROL_NEEDS_RAW_DEVICES: Record<Board["bootControl"]["adapter"], boolean> = { file: false, "uboot-env": false, nvbootctrl: true };

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

export function renderServiceUnit(board: Board, layout: DeviceLayout, opts: UnitOptions = {}): string {
  const devices = unique([
    ...board.serial.map((s) => s.path),
    ...(board.tpm === "none" ? [] : [board.tpm.device]),
    ...(opts.extraDevices ?? []),
  ]).sort();
  const writable = unique([layout.dataDir, posix.dirname(layout.slotA), ...(board.bootControl.envFile ? [posix.dirname(board.bootControl.envFile)] : [])]);
  const lines = [
    "# Laid down by `ridge flash`; re-flash (--force) rewrites it.",
    "[Unit]",
    `Description=Ridgeline gateway runtime (${board.name})`,
    "Documentation=man:systemd.service(5)",
    "Wants=network-online.target",
    "After=network-online.target time-sync.target",
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=notify",
    "NotifyAccess=all",
    `ExecStart=${layout.launcher}`,
    `Environment=RIDGE_DATA=${layout.dataDir} RIDGE_CONFIG=${layout.configFile}`,
    `WatchdogSec=${opts.watchdogSec ?? DEFAULT_WATCHDOG_SEC}s`,
    "Restart=always",
    "RestartSec=5s",
    "TimeoutStartSec=120s",
    "TimeoutStopSec=30s",
    "KillMode=mixed",
    "UMask=0077",
    "# Hardening",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${writable.join(" ")}`,
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    ...(BOOT_CONTROL_NEEDS_RAW_DEVICES[board.bootControl.adapter]
      ? ["# The boot control tool writes boot partitions: no device or capability restriction."]
      : ["CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "DevicePolicy=closed", ...devices.map((d) => `DeviceAllow=${d} rw`)]),
    "# V8 compiles code at run time: MemoryDenyWriteExecute stays off.",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

/** systemd-system.conf(5): RuntimeWatchdogSec pets the board's hardware watchdog; undefined when it has none. */
export function renderWatchdogDropIn(board: Board): string | undefined {
  if (board.watchdog === "none") return undefined;
  return [
    "# Laid down by `ridge flash`: systemd pets the board's hardware watchdog.",
    "[Manager]",
    `RuntimeWatchdogSec=${board.watchdog.timeoutSec}s`,
    `WatchdogDevice=${board.watchdog.device}`,
    "",
  ].join("\n");
}
