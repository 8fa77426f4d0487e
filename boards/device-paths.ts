/**
 * Where every flashed device, whatever its board, keeps what the runtime reads: the paths
 * `ridge flash` writes (flash/device-layout.ts) and the runtime looks up (runtime/config/load.ts,
 * runtime/cli/last-exit.ts). Data, like the board files, so both sides read one definition.
 */

/** The credential ID prefix of the unit's directory-wide `LoadCredential=` (systemd.exec(5): ID + "_" + file name). */
export const CREDENTIAL_PREFIX = "ridgeline_";

/** The flashed device's credentials folder: one file per secret, loaded by the unit's LoadCredential=. */
export const DEVICE_CREDENTIALS_DIR = "/etc/ridgeline/credentials";

/** Relative to the data dir: the reason file the runtime writes before a fatal exit (runtime/cli/last-exit.ts). */
export const LAST_EXIT_REL = "boot/last-exit.json";
