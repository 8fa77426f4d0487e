/** Whose problem an error is: tells an operator where to look. */
export type FaultCategory =
  | "peer" // bad input from a device, a broker, a repository: not our bug, keep running
  | "config" // bad configuration from the user: say where and what to change
  | "board" // the board lacks a capability (no TPM, no serial port)
  | "environment" // disk full, permission denied, missing binary
  | "internal"; // a bug in Ridgeline
