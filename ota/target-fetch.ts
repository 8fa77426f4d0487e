/**
 * How a target's bytes reach the partial file: the whole file from a mirror, or — when the
 * repository signed a chunk index into the target's custom metadata — only the chunks the
 * installed slot does not already hold (chunked-fetch.ts). Either way the result is the same
 * `.part` file, checked against the target's TUF length and hashes. A chunk path that fails
 * (index or a chunk missing or not matching) falls back to the plain download, which resumes
 * from what was assembled.
 */
import type { ErrorCode, Logger, Result } from "../core/index.js";
import { parseChunkRef } from "./chunk-index.js";
import { chunkedFetch, type DeltaStats } from "./chunked-fetch.js";
import { downloadTarget, type DownloadOptions } from "./target-download.js";

export interface FetchTargetOptions extends DownloadOptions {
  /** The target's `custom.chunks` (signed with the targets role), when present. */
  chunks?: unknown;
  /** Directories whose files may already hold chunks (the running slot). */
  seedDirs: readonly string[];
  /** Where a chunked fetch may keep its own state (beside the slots, not in them). */
  workDir: string;
  log?: Logger;
  onDelta?(s: DeltaStats): void;
}

export async function fetchTarget(opts: FetchTargetOptions): Promise<Result<void, ErrorCode>> {
  const ref = parseChunkRef(opts.chunks);
  if (ref) {
    const r = await chunkedFetch({ ...opts, ref });
    if (r.ok || (r.code !== "E_OTA_CHUNK_INDEX" && r.code !== "E_OTA_CHUNK")) return r;
    opts.log?.warn({ code: r.code, reason: r.reason }, `ota: delta download of ${opts.name} failed (${r.reason}); downloading the rest whole`);
  }
  return downloadTarget(opts);
}
