/**
 * The systemd service that runs the gateway (systemd.service(5), systemd.exec(5)):
 *  - ExecStart is the boot launcher, which runs `ridge boot` (ota/launcher.ts): BootControl picks
 *    the slot and spends one attempt, the runtime runs with RIDGE_SLOT set, and the launcher exits
 *    with the runtime's status (`--max-starts 1`), so systemd is the one restart loop and sees
 *    every exit: Restart=always, no start limit (an unattended gateway never gives up on a crash),
 *    but exit 2 (the config is wrong, e.g. a secret is missing) and exit 78 (the board lacks the
 *    boot control's tool) are not retried: RestartPreventExitStatus=2 78, and the reason is left in <data>/boot/last-exit.json for
 *    `ridge status`. Where the boot loader switches slots only when the machine boots (nvbootctrl),
 *    exit 75 (the runtime asking for the other slot) reboots the machine: ExecStopPost=+.
 *  - Type=notify + NotifyAccess=all: the runtime sends READY=1 and WATCHDOG=1 through
 *    `systemd-notify --pid=<its pid>` (runtime/sd-notify.ts), a child of the launcher.
 *  - Secrets the systemd way: LoadCredential= of the whole credentials folder (one file per
 *    `${NAME}`; a folder rather than one line per name because a missing file would fail the start
 *    with systemd's 243/CREDENTIALS instead of the gateway's one clear error), an EnvironmentFile=-
 *    for systemd older than 247, and LoadCredentialEncrypted= in a drop-in for systemd-creds users.
 *  - A dedicated static user in the device groups the board's ports need (dialout, tss), from a
 *    sysusers.d file: made by `ridge flash` in a root that has /etc/passwd, and by ExecStartPre=+
 *    systemd-sysusers before each start (systemd-sysusers.service itself runs only after /usr
 *    changed), so a root flashed as a bare folder works too. Static rather than DynamicUser=: the
 *    OTA slots, keys and database must keep one owner across restarts and updates, and the
 *    device groups must exist for the ports. The data directory (with both runtime slots in it)
 *    is its StateDirectory=; the config is readable by its group (tmpfiles.d, also ExecStartPre=+).
 *  - Everything else read-only (ProtectSystem=strict), devices closed but the board's and the
 *    config's ports, a system-call allow-list, no capabilities but what the boot control adapter
 *    needs to write its boot state.
 * The running slot read-only, the standby writable, in a static unit: one start runs one slot
 * (systemd is the restart loop), so ExecStartPre chooses it ahead (`ridge boot --pin`: the attempt
 * is spent there) and points <slots>/running at it; ReadOnlyPaths= on that link is resolved when
 * ExecStart's namespace is set up, i.e. after the choice: the runtime cannot write the slot it
 * runs from, while the OTA installer replaces the standby's directory (the slots' parent stays
 * writable, inside the data directory). ExecStart takes the recorded choice (`--pinned`).
 * And a manager drop-in that gives the board's hardware watchdog to systemd (RuntimeWatchdogSec):
 * the kernel resets the board if systemd itself hangs.
 */
import { posix } from "node:path";
import { CREDENTIAL_PREFIX, type Board } from "../boards/index.js";
import { EXIT_BAD_CONFIG, EXIT_BOARD_SETUP, EXIT_RESTART } from "../core/index.js";
import { SERVICE_USER, type DeviceLayout } from "./device-layout.js";

export interface UnitOptions {
  /** Device nodes the config uses beyond the board's own (serial ports of configured drivers). */
  extraDevices?: readonly string[];
  watchdogSec?: number;
}

export const DEFAULT_WATCHDOG_SEC = 30;

/** What writing the boot state takes, per boot control adapter (boards choose the adapter: data, not names). */
interface BootStateAccess {
  /** Run as root: the tool refuses or cannot work otherwise. */
  root: boolean;
  /** Capabilities beyond CAP_NET_BIND_SERVICE. */
  caps: string[];
  /** Paths written besides the data directory. */
  paths: (board: Board) => string[];
  why: string;
  /**
   * The boot loader applies a slot switch only when the machine boots (the slot the launcher
   * starts is the one that booted): the runtime's restart request, exit 75, reboots the machine.
   */
  switchAtBoot?: boolean;
}

const BOOT_STATE_ACCESS: Record<Board["bootControl"]["adapter"], BootStateAccess> = {
  // <data>/boot/bootctl.json: the data directory is enough.
  file: { root: false, caps: [], paths: () => [], why: "" },
  // fw_setenv rewrites the environment file on the boot partition (root's on FAT, no chown possible)
  // and takes its lock in /run/lock (libubootenv).
  "uboot-env": {
    root: false,
    caps: ["CAP_DAC_OVERRIDE"],
    paths: (b) => [...(b.bootControl.envFile ? [posix.dirname(b.bootControl.envFile)] : []), "-/run/lock"],
    why: "fw_setenv writes the U-Boot environment on the (root-owned, FAT) boot partition: CAP_DAC_OVERRIDE, confined to the writable paths below",
  },
  // L4T on Orin keeps the rootfs A/B status in UEFI variables: nvbootctrl rewrites files in efivarfs
  // (root's, immutable until chattr -i) and must run as root.
  nvbootctrl: {
    root: true,
    caps: ["CAP_DAC_OVERRIDE", "CAP_LINUX_IMMUTABLE"],
    paths: () => ["/sys/firmware/efi/efivars"],
    why: "nvbootctrl runs as root and rewrites UEFI variables in efivarfs (chattr -i first): root with only CAP_DAC_OVERRIDE and CAP_LINUX_IMMUTABLE, efivarfs the one writable part of /sys",
    // set-active-boot-slot takes effect at the next boot; get-current-slot changes only then.
    switchAtBoot: true,
  },
};

/** The unit runs as root only where the board's boot control tool demands it (and then says why). */
export function serviceRunsAsRoot(board: Board): boolean {
  return BOOT_STATE_ACCESS[board.bootControl.adapter].root;
}

/** Groups owning the device nodes a gateway opens (Debian: serial ports dialout, TPM tss). */
export function deviceGroups(board: Board, extraDevices: readonly string[] = []): string[] {
  const groups: string[] = [];
  if (board.serial.length || extraDevices.some((d) => /^\/dev\/tty/.test(d))) groups.push("dialout");
  if (board.tpm !== "none") groups.push("tss");
  return groups;
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

export function renderServiceUnit(board: Board, layout: DeviceLayout, opts: UnitOptions = {}): string {
  const devices = unique([
    ...board.serial.map((s) => s.path),
    ...(board.tpm === "none" ? [] : [board.tpm.device]),
    ...(opts.extraDevices ?? []),
  ]).sort();
  const access = BOOT_STATE_ACCESS[board.bootControl.adapter];
  const stateDir = layout.dataDir.startsWith("/var/lib/") ? layout.dataDir.slice("/var/lib/".length) : undefined;
  const writable = unique([layout.dataDir, ...access.paths(board)]);
  const caps = ["CAP_NET_BIND_SERVICE", ...access.caps];
  const groups = deviceGroups(board, opts.extraDevices);
  const lines = [
    "# Laid down by `ridge flash`; re-flash (--force) rewrites it. Local changes: a drop-in in ridgeline.service.d/.",
    "[Unit]",
    `Description=Ridgeline gateway runtime (${board.name})`,
    "Documentation=man:systemd.exec(5) man:systemd-creds(1)",
    "Wants=network-online.target",
    "After=network-online.target time-sync.target",
    "StartLimitIntervalSec=0",
    "",
    "[Service]",
    "Type=notify",
    "NotifyAccess=all",
    ...(access.root
      ? []
      : [
          "# The service user and the ownership it needs, also before the first start (systemd-sysusers.service runs only after /usr changes).",
          `ExecStartPre=+/usr/bin/systemd-sysusers ${layout.sysusersFile}`,
          `ExecStartPre=+/usr/bin/systemd-tmpfiles --create ${layout.tmpfilesFile}`,
        ]),
    "# Choose the slot first (one boot attempt) and point slots/running at it: ReadOnlyPaths= below then",
    "# makes exactly the running slot read-only for the runtime, the standby writable for the update.",
    "RuntimeDirectory=ridgeline",
    "RuntimeDirectoryMode=0700",
    `ExecStartPre=${layout.launcher} boot --board ${board.name} --data ${layout.dataDir} --pin ${layout.bootChoiceFile}`,
    `ExecStart=${layout.launcher}`,
    `Environment=RIDGE_DATA=${layout.dataDir} RIDGE_CONFIG=${layout.configFile}`,
    "# The journal's SYSLOG_IDENTIFIER (journalctl -t ridgeline); the runtime writes <N> priority prefixes there (journalctl -p warning).",
    "SyslogIdentifier=ridgeline",
    `WatchdogSec=${opts.watchdogSec ?? DEFAULT_WATCHDOG_SEC}s`,
    "Restart=always",
    "RestartSec=5s",
    "# Exit 2: the config is wrong (a missing secret, say); exit 78: the board lacks a tool the boot control needs",
    "# (E_BOARD_TOOL_MISSING). Restarting cannot fix either. `ridge status` says why.",
    `RestartPreventExitStatus=${EXIT_BAD_CONFIG} ${EXIT_BOARD_SETUP}`,
    ...(access.switchAtBoot
      ? [
          "# The boot loader switches slots only when the machine boots: exit 75 (a new slot installed, or a trial",
          "# given up) asks for the other slot, so it reboots the machine rather than restarting the unit alone.",
          `ExecStopPost=+/bin/sh -c 'if [ "$$EXIT_STATUS" = ${EXIT_RESTART} ]; then exec systemctl --no-block reboot; fi'`,
        ]
      : []),
    "TimeoutStartSec=120s",
    "TimeoutStopSec=30s",
    "KillMode=mixed",
    "UMask=0077",
    "# Secrets: ${NAME} in the config is read from $CREDENTIALS_DIRECTORY/ridgeline_NAME (this folder's file NAME),",
    "# else from the environment (the file below, for systemd older than 247). systemd-creds users add a drop-in:",
    `#   LoadCredentialEncrypted=NAME:${layout.encryptedCredentialsDir}/NAME`,
    `LoadCredential=${CREDENTIAL_PREFIX.slice(0, -1)}:${layout.credentialsDir}`,
    `EnvironmentFile=-${layout.secretsEnvFile}`,
    ...(access.root
      ? [`# ${access.why}.`]
      : [`User=${SERVICE_USER}`, `Group=${SERVICE_USER}`, ...(groups.length ? [`SupplementaryGroups=${groups.join(" ")}`] : [])]),
    ...(stateDir ? [`StateDirectory=${stateDir}`, "StateDirectoryMode=0700"] : []),
    "# Hardening",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${writable.join(" ")}`,
    `ReadOnlyPaths=-${layout.runningSlotLink}`,
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "PrivateMounts=yes",
    "ProtectProc=invisible",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "KeyringMode=private",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources",
    "# A call outside the list fails with EPERM instead of killing the process (libuv falls back from io_uring).",
    "SystemCallErrorNumber=EPERM",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    ...(access.why && !access.root ? [`# ${access.why}.`] : []),
    `CapabilityBoundingSet=${caps.join(" ")}`,
    `AmbientCapabilities=${caps.join(" ")}`,
    "DevicePolicy=closed",
    ...devices.map((d) => `DeviceAllow=${d} rw`),
    "# V8 compiles code at run time: MemoryDenyWriteExecute stays off.",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

/** sysusers.d(5): the service user, and the device groups made when the image lacks them. */
export function renderSysusers(board: Board, extraDevices: readonly string[] = []): string {
  const groups = deviceGroups(board, extraDevices);
  return [
    "# Laid down by `ridge flash`: the Ridgeline service user (systemd-sysusers makes it at boot).",
    `u ${SERVICE_USER} - "Ridgeline gateway" -`,
    ...groups.map((g) => `g ${g} -`),
    ...groups.map((g) => `m ${SERVICE_USER} ${g}`),
    "",
  ].join("\n");
}

/** tmpfiles.d(5): the config readable by the service user (the data directory is its StateDirectory=). */
export function renderTmpfiles(layout: DeviceLayout): string {
  return [
    "# Laid down by `ridge flash`: the config for the Ridgeline service user; secrets stay root's (LoadCredential= hands them over).",
    `z ${layout.configDir} 0750 root ${SERVICE_USER} -`,
    `z ${layout.configFile} 0640 root ${SERVICE_USER} -`,
    `d ${layout.credentialsDir} 0700 root root -`,
    `Z ${layout.dataDir} - ${SERVICE_USER} ${SERVICE_USER} -`,
    "",
  ].join("\n");
}

/** udev(7): the TPM resource manager for group tss, as Debian's tpm-udev does (an image without it leaves it root's). */
export function renderTpmUdevRule(board: Board): string | undefined {
  if (board.tpm === "none" || serviceRunsAsRoot(board)) return undefined;
  const name = board.tpm.device.replace(/^\/dev\//, "");
  return [
    "# Laid down by `ridge flash`: the TPM for the Ridgeline service user's group tss.",
    `KERNEL=="${name}", GROUP="tss", MODE="0660"`,
    "",
  ].join("\n");
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
