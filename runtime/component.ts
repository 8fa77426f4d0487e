/** What the supervisor runs: started in dependency order, stopped in reverse. */
export interface ComponentHealth {
  up: boolean;
  detail?: string;
}

export interface Component {
  readonly name: string;
  /** Names of components that must be started first (and are stopped after this one). */
  readonly dependsOn?: readonly string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): ComponentHealth;
  /** Extra detail for `GET /status` under `components.<name>`. */
  status?(): Record<string, unknown>;
}
