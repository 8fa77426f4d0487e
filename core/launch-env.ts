/**
 * The environment the gateway's Node.js process is started with. Every start path takes it from
 * here: the `#!` line of dist/ridge.mjs (scripts/bundle.mjs writes it) and of bin/ridge.mjs (a test
 * keeps them equal), so `npm start` and the `ridge` command get it by running the file; the flashed
 * boot launcher exports it before it execs the slot's Node (boards/flash/boot-launcher.ts); the
 * startup benchmark runs the bundle through its `#!` line.
 *
 * It must be set before the process starts: glibc reads it once, at start-up. Keep this module
 * free of imports (scripts/bundle.mjs evaluates it on its own).
 */
export const LAUNCH_ENV: Readonly<Record<string, string>> = {
  // glibc malloc, mallopt(3) M_MMAP_THRESHOLD: blocks of 128 KiB and more get their own mapping,
  // returned to the kernel on free(). Left dynamic (glibc's default), the threshold rises to the
  // size of each larger such block freed, and the trim threshold with it to twice that: after the
  // V8 parser and compiler free their start-up zones, later large blocks come from the brk heap
  // and stay resident. Pinned at its default: about 7 MiB less RSS for an idle `ridge run`.
  GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=131072",
};

/** `#!/usr/bin/env -S NAME=value … node`: the first line of dist/ridge.mjs and bin/ridge.mjs. */
export function launchShebang(): string {
  return `#!/usr/bin/env -S ${Object.entries(LAUNCH_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")} node`;
}

/** POSIX sh lines that export the launch environment, a value already set by the caller kept. */
export function launchEnvShellLines(): string[] {
  return Object.entries(LAUNCH_ENV).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`);
}
