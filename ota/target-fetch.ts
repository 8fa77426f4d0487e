/**
 * How a target's bytes reach the partial file: the whole file from a mirror, or — when the
 * repository signed a chunk index into the target's custom metadata — only the chunks the
 * installed slot does not already hold. Either way the result is the same `.part` file, checked
 * against the target's TUF length and hashes.
 */
import type { ErrorCode, Result } from "../core/index.js";
import { downloadTarget, type DownloadOptions } from "./target-download.js";

export interface FetchTargetOptions extends DownloadOptions {
  /** The target's `custom.chunks` (signed with the targets role), when present. */
  chunks?: unknown;
  /** Directories whose files may already hold chunks (the running slot). */
  seedDirs: readonly string[];
  /** Where a chunked fetch may keep its own state (beside the slots, not in them). */
  workDir: string;
}

export async function fetchTarget(opts: FetchTargetOptions): Promise<Result<void, ErrorCode>> {
  return downloadTarget(opts);
}
