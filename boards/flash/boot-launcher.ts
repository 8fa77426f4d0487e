/**
 * The boot launcher, /opt/ridgeline/bin/ridge-boot: what the systemd unit starts. It picks the
 * active runtime slot (runtime-level A/B: the slot named in <data>/boot/active-slot, which the OTA
 * engine rewrites; `a` when absent), falls back to the other slot when the chosen one holds no
 * runtime, and execs the slot's own Node.js (so an update carries the runtime and its Node
 * together), else the system's `node`. `exec` keeps the PID: systemd watches Node itself.
 *
 * It exports the launch environment first (core/launch-env.ts: glibc malloc tuning), which the
 * bundle's own `#!` line would set but an explicit "$node" ridge.mjs does not.
 *
 * RIDGE_ROOT prefixes every path (a flashed root that is not mounted at /, as in tests), and
 * RIDGE_EXEC_WRAPPER runs Node through an emulator (qemu-aarch64-static -L SYSROOT) on a build host.
 */
import type { DeviceLayout } from "./device-layout.js";
import { LAUNCH_NODE_FLAGS, launchEnvShellLines } from "../../core/launch-env.js";

/** POSIX sh single-quoting. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderBootLauncher(layout: DeviceLayout): string {
  return `#!/bin/sh
# Ridgeline boot launcher, laid down by \`ridge flash\`: runs the active runtime slot.
set -eu
R=\${RIDGE_ROOT:-}
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
if [ ! -f "$dir/dist/ridge.mjs" ]; then
  echo "ridge-boot: slot $slot ($dir) holds no runtime; starting $other" >&2
  dir=$other
fi
if [ ! -f "$dir/dist/ridge.mjs" ]; then
  echo "ridge-boot: no runtime in either slot; re-flash this device" >&2
  exit 78
fi
node="$dir/node/bin/node"
if [ ! -x "$node" ]; then
  node=$(command -v node) || { echo "ridge-boot: the slot carries no Node.js and none is installed" >&2; exit 69; }
fi
if [ "$#" -eq 0 ]; then set -- run --config "$R$config" --data "$R$data"; fi
${launchEnvShellLines().join("\n")}
# shellcheck disable=SC2086 # the wrapper is a command with arguments
exec \${RIDGE_EXEC_WRAPPER:-} "$node" ${LAUNCH_NODE_FLAGS.join(" ")} "$dir/dist/ridge.mjs" "$@"
`;
}
