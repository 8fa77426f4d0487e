import type { Driver, DriverContext } from "../../core/driver.js";
import type { SimDriverConfig } from "./config.js";
export class SimDriver implements Driver {
  readonly name: string;
  constructor(readonly config: SimDriverConfig) { this.name = config.name; }
  async start(_ctx: DriverContext): Promise<void> {}
  async stop(): Promise<void> {}
  health() { return { up: true }; }
}
