/**
 * The two small shell scripts a flashed device runs Ridgeline through:
 *
 * /opt/ridgeline/bin/ridge-boot, the systemd unit's ExecStart: with no arguments it runs the A/B
 * launcher, `ridge boot --max-starts 1 --pinned /run/ridgeline/boot-choice.json -- --config <etc>`
 * (ota/launcher.ts): BootControl chooses the slot and spends one boot attempt (the unit's
 * ExecStartPre, `ridge-boot boot --pin …`, has done that already and recorded it), the runtime starts from that slot with RIDGE_SLOT set (the
 * update agent installs into the other slot and commits once healthy), and its exit status is the
 * launcher's, so systemd restarts (into a new slot after an update, or back after a failed trial)
 * and RestartPreventExitStatus=2 holds on a config error. With arguments it runs them with the
 * slot's CLI instead (`ridge-boot --version`).
 *
 * /usr/local/bin/ridge, the operator's command: the same CLI with the device's defaults (data
 * directory and board as RIDGE_DATA and RIDGE_BOARD, config, the credentials folder for `config check`), so `ridge status`,
 * `ridge ota status`, `ridge attest quote --nonce …` and `ridge config check` work as typed.
 *
 * Both run the launcher code of a slot that holds a runtime: the one named in
 * <data>/boot/active-slot (or RIDGE_SLOT), unless only the other carries the verified marker
 * (.ridge-slot.json: a slot being rewritten by an update has none), else the other; which one
 * matters little (the CLI is the same in both), the runtime's slot is BootControl's choice. Each execs the slot's own Node (an
 * update carries the runtime and its Node together), else the system's `node`, with the launch
 * environment exported (core/launch-env.ts: glibc malloc tuning), which the bundle's own `#!` line
 * would set but an explicit "$node" ridge.mjs does not. `exec` keeps the PID for systemd.
 *
 * RIDGE_ROOT prefixes every path (a flashed root that is not mounted at /, as in tests), and
 * RIDGE_EXEC_WRAPPER runs Node through an emulator (qemu-aarch64-static -L SYSROOT) on a build host;
 * `ridge boot` passes both on to the runtime it starts.
 */
import { MARKER } from "../ota/index.js";
import type { DeviceLayout } from "./device-layout.js";
import { LAUNCH_NODE_FLAGS, launchEnvShellLines } from "../core/index.js";

/** POSIX sh single-quoting. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Shared head: paths, the slot whose CLI runs, its Node. Sets R, data, config, slot, dir, node. */
function slotChoice(layout: DeviceLayout, me: string): string {
  return `R=\${RIDGE_ROOT:-}
data=\${RIDGE_DATA:-${shQuote(layout.dataDir)}}
config=\${RIDGE_CONFIG:-${shQuote(layout.configFile)}}
slot=\${RIDGE_SLOT:-}
if [ -z "$slot" ] && [ -r "$R$data/boot/active-slot" ]; then
  read -r slot < "$R$data/boot/active-slot" || true
fi
case "$slot" in
  b) dir=$R${shQuote(layout.slotB)}; other=$R${shQuote(layout.slotA)} ;;
  *) slot=a; dir=$R${shQuote(layout.slotA)}; other=$R${shQuote(layout.slotB)} ;;
esac
# A slot with its verified marker first (written last by flash and OTA, removed before a slot is
# rewritten): a slot cut short mid-update never runs the launcher.
if [ ! -f "$dir/${MARKER}" ] && [ -f "$other/${MARKER}" ] && [ -f "$other/dist/ridge.mjs" ]; then
  echo "${me}: slot $slot ($dir) is not a verified runtime; using $other" >&2
  dir=$other
elif [ ! -f "$dir/dist/ridge.mjs" ]; then
  echo "${me}: slot $slot ($dir) holds no runtime; using $other" >&2
  dir=$other
fi
if [ ! -f "$dir/dist/ridge.mjs" ]; then
  echo "${me}: no runtime in either slot; re-flash this device" >&2
  exit 78
fi
node="$dir/node/bin/node"
if [ ! -x "$node" ]; then
  node=$(command -v node) || { echo "${me}: the slot carries no Node.js and none is installed" >&2; exit 69; }
fi
${launchEnvShellLines().join("\n")}`;
}

function execLine(): string {
  return `# shellcheck disable=SC2086 # the wrapper is a command with arguments
exec \${RIDGE_EXEC_WRAPPER:-} "$node" ${LAUNCH_NODE_FLAGS.join(" ")} "$dir/dist/ridge.mjs" "$@"`;
}

export function renderBootLauncher(layout: DeviceLayout): string {
  return `#!/bin/sh
# Ridgeline boot launcher, laid down by \`ridge flash\`: runs \`ridge boot\` (the A/B launcher) for board ${layout.board}.
set -eu
${slotChoice(layout, "ridge-boot")}
if [ "$#" -eq 0 ]; then set -- boot --board ${shQuote(layout.board)} --data "$R$data" --max-starts 1 --pinned "$R"${shQuote(layout.bootChoiceFile)} -- --config "$R$config"; fi
${execLine()}
`;
}

/** The device's `ridge` command: the slot's CLI, the device's data dir, board and config as defaults. */
export function renderRidgeCommand(layout: DeviceLayout): string {
  return `#!/bin/sh
# ridge on a Ridgeline device (board ${layout.board}), laid down by \`ridge flash\`: the installed runtime's CLI
# with this device's data directory, board and config as defaults (an option given on the command line wins).
set -eu
${slotChoice(layout, "ridge")}
export RIDGE_DATA="$R$data" RIDGE_BOARD=${shQuote(layout.board)}
case "\${1:-} \${2:-}" in
  "config check")
    shift 2
    # the secrets the unit hands the gateway, for \${NAME} in the config (readable by root)
    if [ -z "\${CREDENTIALS_DIRECTORY:-}" ] && [ -r "$R"${shQuote(layout.credentialsDir)} ]; then export CREDENTIALS_DIRECTORY="$R"${shQuote(layout.credentialsDir)}; fi
    if [ "$#" -eq 0 ] || [ "\${1#-}" != "$1" ]; then set -- config check "$R$config" "$@"; else set -- config check "$@"; fi ;;
esac
${execLine()}
`;
}
