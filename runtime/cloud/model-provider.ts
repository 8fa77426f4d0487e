/**
 * The pipeline's `ModelProvider` served from the model cache: `current(name)` is the active blob
 * of `models/current/<name>` (read once per digest), and `onSwitch` fires after an atomic switch,
 * so the `model` operator hot-swaps between batches. While offline the cached model keeps serving.
 */
import { readFileSync } from "node:fs";
import { loadedModel, type LoadedModel, type ModelProvider } from "../pipeline/index.js";
import type { ModelCache } from "../store/model-cache.js";

export function cacheModelProvider(cache: ModelCache): ModelProvider {
  const loaded = new Map<string, LoadedModel>();
  return {
    current(name) {
      const a = cache.current(name);
      if (!a) return undefined;
      const have = loaded.get(name);
      if (have?.digest === a.digest) return have;
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(a.path));
      } catch {
        return have;
      }
      const m = loadedModel(name, bytes);
      loaded.set(name, m);
      return m;
    },
    onSwitch: (cb) => cache.onSwitch(cb),
  };
}
