/**
 * The pipeline's `http` sources, kept in step with the config: a source whose definition changed
 * is restarted, an unchanged one is pointed at the new engine after a reload (no port gap).
 */
import { RidgeError, errorMessage, type Event } from "../../core/index.js";
import type { PipelineConfig } from "./config.js";
import { definitionHash, type Engine } from "./engine.js";
import { HttpSource } from "./http-source.js";

export class HttpSources {
  private readonly running = new Map<string, { src: HttpSource; hash: string }>();

  /** `engine` is read at each request, so a swapped engine takes over without a restart. */
  constructor(private readonly engine: () => Engine) {}

  async sync(cfg: PipelineConfig): Promise<void> {
    const wanted = new Map<string, { cfg: NonNullable<PipelineConfig["sources"][string]["http"]>; hash: string }>();
    for (const [name, src] of Object.entries(cfg.sources)) if (src.http) wanted.set(name, { cfg: src.http, hash: definitionHash(src.http) });
    for (const [name, h] of [...this.running]) {
      const w = wanted.get(name);
      if (!w || w.hash !== h.hash) {
        await h.src.stop();
        this.running.delete(name);
      }
    }
    for (const [name, w] of wanted) {
      const target = {
        accepting: () => this.engine().accepting(name),
        ingest: (events: Event[]) => void this.engine().ingestFrom(name, events),
      };
      const have = this.running.get(name);
      if (have) have.src.retarget(target);
      else {
        const src = new HttpSource(name, w.cfg, target);
        try {
          await src.start();
        } catch (e) {
          throw new RidgeError("E_PIPELINE_HTTP_LISTEN", `pipeline source ${name} cannot listen on ${w.cfg.listen}: ${errorMessage(e)}`, { cause: e });
        }
        this.running.set(name, { src, hash: w.hash });
      }
    }
  }

  port(name: string): number | undefined {
    return this.running.get(name)?.src.port;
  }

  ports(): Record<string, { port: number | undefined }> {
    return Object.fromEntries([...this.running].map(([n, h]) => [n, { port: h.src.port }]));
  }

  async stop(): Promise<void> {
    for (const h of this.running.values()) await h.src.stop();
    this.running.clear();
  }
}
