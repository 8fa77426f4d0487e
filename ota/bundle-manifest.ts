/**
 * The manifest that opens every bundle (`ridge-bundle.json`, the archive's first entry): what the
 * bundle is, where it fits, and every file and link it may contain with size and sha256.
 * Extraction trusts nothing in the archive that the manifest does not list.
 */
import { z } from "zod";
import { artifactKinds } from "./tuf-metadata.js";

export const MANIFEST_NAME = "ridge-bundle.json";
export const BUNDLE_FORMAT = "ridge-bundle/1";
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export const bundleManifest = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    kind: z.enum(artifactKinds),
    version: z.string(),
    board: z.string(),
    arch: z.string(),
    /** The file the launcher runs (runtime bundles). */
    entry: z.string().optional(),
    created: z.string().optional(),
    files: z.record(z.object({ size: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/), mode: z.number().int().min(0).max(0o7777) }).strict()),
    links: z.record(z.string()).default({}),
  })
  .strict();

export type BundleManifest = z.output<typeof bundleManifest>;
