/**
 * `file: { path, rotate: { size, keep }, fsync }`: JSON lines appended to a file; when it would
 * pass `size`, it is renamed `<path>.1` (older ones shift up to `.keep`, the oldest deleted).
 * A batch is acknowledged after the write (and fsync when asked).
 */
import { mkdir, open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { Event } from "../../../core/index.js";
import type { ClosableSink } from "../sink-runner.js";

export interface FileSinkOptions {
  path: string;
  rotateBytes: number;
  keep: number;
  fsync: boolean;
}

export function createFileSink(o: FileSinkOptions): ClosableSink {
  let fh: FileHandle | undefined;
  let size = 0;
  const openFile = async () => {
    await mkdir(dirname(o.path), { recursive: true });
    fh = await open(o.path, "a");
    size = (await stat(o.path)).size;
    return fh;
  };
  const rotate = async () => {
    await fh?.close();
    fh = undefined;
    await rm(`${o.path}.${o.keep}`, { force: true });
    for (let i = o.keep - 1; i >= 1; i--) await rename(`${o.path}.${i}`, `${o.path}.${i + 1}`).catch(() => undefined);
    await rename(o.path, `${o.path}.1`).catch(() => undefined);
  };
  return {
    async accept(batch: Event[]) {
      let chunk = "";
      for (const e of batch) chunk += JSON.stringify(e) + "\n";
      const bytes = Buffer.byteLength(chunk);
      let f = fh ?? (await openFile());
      if (size > 0 && size + bytes > o.rotateBytes) {
        await rotate();
        f = await openFile();
      }
      await f.appendFile(chunk);
      size += bytes;
      if (o.fsync) await f.sync();
    },
    async close() {
      await fh?.close();
      fh = undefined;
    },
  };
}
