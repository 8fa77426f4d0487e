/**
 * Where the model operator gets its model. The offline-sync subsystem (runtime/cloud model cache,
 * `<data>/models/current/<name>`) implements ModelProvider; until it is wired, models load from the
 * file named in the operator's config. A switch is picked up between batches: no event is dropped.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";

export interface LoadedModel {
  name: string;
  /** sha256 hex of the bytes: the cache key of compiled models. */
  digest: string;
  format: "json" | "onnx";
  bytes: Uint8Array;
}

export interface ModelProvider {
  current(name: string): LoadedModel | undefined;
  /** Told when a model changes; returns an unsubscribe function. */
  onSwitch(cb: (name: string) => void): () => void;
}

export function loadedModel(name: string, bytes: Uint8Array, format?: "json" | "onnx"): LoadedModel {
  const fmt = format ?? (bytes[0] === 0x7b || bytes[0] === 0x20 || bytes[0] === 0x0a ? "json" : "onnx");
  return { name, digest: createHash("sha256").update(bytes).digest("hex"), format: fmt, bytes };
}

/** Models from files in the config (relative to the data directory), re-read on `reload()`. */
export class FileModelProvider implements ModelProvider {
  private readonly models = new Map<string, LoadedModel>();
  private readonly listeners = new Set<(name: string) => void>();
  constructor(private readonly dataDir: string) {}

  /** Load (or re-load) `name` from `file`; tells listeners when its digest changed. Throws on unreadable files. */
  load(name: string, file: string): LoadedModel {
    const path = isAbsolute(file) ? file : join(this.dataDir, file);
    const m = loadedModel(name, new Uint8Array(readFileSync(path)), file.endsWith(".onnx") ? "onnx" : file.endsWith(".json") ? "json" : undefined);
    const prev = this.models.get(name);
    this.models.set(name, m);
    if (prev && prev.digest !== m.digest) for (const l of this.listeners) l(name);
    return m;
  }

  /** Install a model directly (tests, other providers). */
  set(m: LoadedModel): void {
    const prev = this.models.get(m.name);
    this.models.set(m.name, m);
    if (prev?.digest !== m.digest) for (const l of this.listeners) l(m.name);
  }

  current(name: string): LoadedModel | undefined {
    return this.models.get(name);
  }

  onSwitch(cb: (name: string) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}

/** The cache first (when wired), the operator's `file` as the fallback. */
export function cacheThenFiles(cache: ModelProvider, files: FileModelProvider): ModelProvider {
  return {
    current: (name) => cache.current(name) ?? files.current(name),
    onSwitch: (cb) => {
      const a = cache.onSwitch(cb);
      const b = files.onSwitch(cb);
      return () => {
        a();
        b();
      };
    },
  };
}
