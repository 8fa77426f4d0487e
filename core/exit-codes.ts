/**
 * Process exit statuses that cross a process boundary: the runtime exits with them, the A/B
 * launcher (ota/launcher.ts) and the systemd unit that `ridge flash` writes (flash/systemd-unit.ts)
 * act on them. One definition, so the three cannot drift apart.
 */

/** The gateway config cannot run (the CLI's EXIT.badConfig): restarting cannot fix it (RestartPreventExitStatus=). */
export const EXIT_BAD_CONFIG = 2;

/** "Start me again" (EX_TEMPFAIL, sysexits.h): the launcher restarts the runtime, perhaps from the other slot. */
export const EXIT_RESTART = 75;

/**
 * The board is not set up for its boot control (a tool or its config missing): EX_CONFIG from
 * sysexits.h. Restarting cannot fix it, but it is not the gateway config (exit 2) either: the unit
 * lists it in RestartPreventExitStatus= so systemd does not spin on it.
 */
export const EXIT_BOARD_SETUP = 78;
