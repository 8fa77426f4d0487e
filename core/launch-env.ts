/**
 * The environment the gateway's Node.js process is started with. Every start path takes it from
 * here: the `#!` line of dist/ridge.mjs (scripts/bundle.mjs writes it) and of bin/ridge.mjs (a test
 * keeps them equal), so `npm start` and the `ridge` command get it by running the file; the flashed
 * boot launcher exports it before it execs the slot's Node (flash/boot-launcher.ts); the
 * startup benchmark runs the bundle through its `#!` line.
 *
 * It must be set before the process starts: glibc reads it once, at start-up. Keep this module
 * free of imports (scripts/bundle.mjs evaluates it on its own).
 */
export const LAUNCH_ENV: Readonly<Record<string, string>> = {
  // glibc malloc, mallopt(3) M_MMAP_THRESHOLD: blocks of 32 KiB and more get their own mapping,
  // returned to the kernel on free(). Left dynamic (glibc's default), the threshold rises to the
  // size of each larger such block freed, and the trim threshold with it to twice that: after the
  // V8 parser and compiler free their start-up zones, later large blocks come from the brk heap
  // and stay resident (about 7 MiB for an idle `ridge run`). Pinned at glibc's default of 128 KiB,
  // the brk heap still grew by ~8 MB in about one idle start in four (most likely a compilation's
  // zone segments, which are at most 32 KiB, held there by one later block); at 32 KiB it stayed
  // at 3.2 MB in 11 of 11 (the 128 KiB setting, interleaved: 4.1–5.1 MB, and 12.4 MB once).
  GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=32768",
};

/**
 * V8 options the gateway's Node.js runs with (measured with `npm run bench -- startup`, one at a
 * time against the same build; the benchmarks run with them too, bench/run.ts):
 * - `--interrupt-budget`: 15× V8's default before a function is considered for optimisation. An
 *   idle gateway's timers (sim driver, watchdog, metrics) otherwise get hot enough within 30 s to
 *   start TurboFan, whose code and zones are ~4–5 MB of resident pages; a loop doing real work (the
 *   pipeline at tens of thousands of events/s) still reaches it within milliseconds.
 * - `--bytecode-old-age=1`: bytecode of functions not run since the last full GC is dropped (and
 *   compiled again if they run): start-up-only code stops occupying the heap.
 * - `--v8-pool-size=1`: one V8 background thread instead of four (concurrent marking and
 *   compilation still run beside the main thread; the boards have 2–6 cores).
 * Together about 3–4 MiB less RSS after 30 s idle.
 */
export const LAUNCH_NODE_FLAGS: readonly string[] = ["--interrupt-budget=1000000", "--bytecode-old-age=1", "--v8-pool-size=1"];

/**
 * `#!/usr/bin/env -S NAME=value … node --flag …`: the first line of dist/ridge.mjs and bin/ridge.mjs.
 * Linux reads at most 255 bytes of a `#!` line (127 before kernel 5.1; every supported board runs
 * 5.10 or later); a test keeps it under that.
 */
export function launchShebang(): string {
  return `#!/usr/bin/env -S ${Object.entries(LAUNCH_ENV)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")} node ${LAUNCH_NODE_FLAGS.join(" ")}`;
}

/** POSIX sh lines that export the launch environment, a value already set by the caller kept. */
export function launchEnvShellLines(): string[] {
  return Object.entries(LAUNCH_ENV).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`);
}
