/**
 * Fake boot loader tools keeping their state in a file, as RAUC's test/bin does: `fw_printenv`,
 * `fw_setenv` (which can be told to die half-way through a script, or to fail) and `nvbootctrl`.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FW_PRINTENV = `#!/bin/sh
f="$FAKE_UBOOT_ENV"
[ "$1" = "-c" ] && shift 2
[ -f "$f" ] || echo "Warning: Bad CRC, using default environment" >&2
rc=0
for v in "$@"; do
  line=$(grep "^$v=" "$f" 2>/dev/null | tail -n 1)
  if [ -n "$line" ]; then echo "$line"; else echo "## Error: \\"$v\\" not defined" >&2; rc=1; fi
done
exit $rc
`;

const FW_SETENV = `#!/bin/sh
f="$FAKE_UBOOT_ENV"
[ "$1" = "-c" ] && shift 2
[ -n "$FAKE_FW_SETENV_FAIL" ] && { echo "Cannot access MTD device" >&2; exit 1; }
set_var() { touch "$f"; grep -v "^$1=" "$f" > "$f.tmp"; echo "$1=$2" >> "$f.tmp"; mv "$f.tmp" "$f"; }
n=0
if [ "$1" = "--script" ] || [ "$1" = "-s" ]; then
  while read -r name value; do
    [ -z "$name" ] && continue
    if [ -n "$FAKE_FW_SETENV_DIE_AFTER" ] && [ "$n" -ge "$FAKE_FW_SETENV_DIE_AFTER" ]; then kill -9 $$; fi
    set_var "$name" "$value"
    n=$((n+1))
  done < "$2"
else
  set_var "$1" "$2"
fi
`;

const NVBOOTCTRL = `#!/bin/sh
f="$FAKE_NVBOOTCTRL_STATE"
[ "$1" = "-t" ] && shift 2
[ -f "$f" ] || printf 'current=0\\nactive=0\\nretry0=3\\nretry1=3\\nsuccess=1\\n' > "$f"
. "$f"
save() { printf 'current=%s\\nactive=%s\\nretry0=%s\\nretry1=%s\\nsuccess=%s\\n' "$current" "$active" "$retry0" "$retry1" "$success" > "$f.tmp"; mv "$f.tmp" "$f"; }
case "$1" in
  get-current-slot) echo "$current" ;;
  set-active-boot-slot) active="$2"; eval "retry$2=3"; success=0; save ;;
  mark-boot-successful) success=1; eval "retry$current=3"; save ;;
  dump-slots-info)
    echo "Current rootfs slot: $current"
    echo "Active rootfs slot: $active"
    echo "num_slots: 2"
    echo "slot: 0,             retry_count: $retry0,             status: normal"
    echo "slot: 1,             retry_count: $retry1,             status: normal" ;;
  *) echo "unknown command $1" >&2; exit 2 ;;
esac
`;

/** Simulate a reboot for the fake Jetson: the boot loader boots the active slot, falling back when its retries run out. */
export const NV_REBOOT = `#!/bin/sh
f="$FAKE_NVBOOTCTRL_STATE"
. "$f"
if [ "$success" = "1" ]; then current=$active; else
  eval "r=\\$retry$active"
  if [ "$r" -gt 0 ]; then eval "retry$active=$((r-1))"; current=$active; else active=$((1-active)); current=$active; success=1; fi
fi
printf 'current=%s\\nactive=%s\\nretry0=%s\\nretry1=%s\\nsuccess=%s\\n' "$current" "$active" "$retry0" "$retry1" "$success" > "$f"
`;

export function writeFakeBootTools(dir: string): { bin: string; fwPrintenv: string; fwSetenv: string; nvbootctrl: string; nvReboot: string } {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const w = (name: string, body: string) => {
    const p = join(bin, name);
    writeFileSync(p, body);
    chmodSync(p, 0o755);
    return p;
  };
  return { bin, fwPrintenv: w("fw_printenv", FW_PRINTENV), fwSetenv: w("fw_setenv", FW_SETENV), nvbootctrl: w("nvbootctrl", NVBOOTCTRL), nvReboot: w("nv-reboot", NV_REBOOT) };
}
