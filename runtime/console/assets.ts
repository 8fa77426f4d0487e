/**
 * The console's static files (runtime/console/static/). From source they are read from that folder;
 * the esbuild bundle carries them inside dist/ridge.mjs (scripts/bundle.mjs defines
 * __RIDGE_CONSOLE_ASSETS__ from the same folder), so a flashed or OTA slot, which ships the bundle,
 * has them without a folder of its own.
 */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

declare const __RIDGE_CONSOLE_ASSETS__: Record<string, string> | undefined;

export interface Asset {
  body: Buffer;
  contentType: string;
}

const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", css: "text/css; charset=utf-8", js: "text/javascript; charset=utf-8", svg: "image/svg+xml" };

let cache: Map<string, Asset> | undefined;

function load(): Map<string, Asset> {
  const files: Record<string, string> =
    typeof __RIDGE_CONSOLE_ASSETS__ === "object" && __RIDGE_CONSOLE_ASSETS__ !== null
      ? __RIDGE_CONSOLE_ASSETS__
      : (() => {
          const dir = fileURLToPath(new URL("./static/", import.meta.url));
          return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(`${dir}${f}`, "utf8")]));
        })();
  const m = new Map<string, Asset>();
  for (const [name, text] of Object.entries(files)) m.set(name, { body: Buffer.from(text, "utf8"), contentType: TYPES[name.split(".").pop() ?? ""] ?? "application/octet-stream" });
  return m;
}

/** A static file by name (`console.css`), or undefined. */
export function consoleAsset(name: string): Asset | undefined {
  cache ??= load();
  return cache.get(name);
}
