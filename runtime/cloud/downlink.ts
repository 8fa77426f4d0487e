/**
 * Downlink dispatch: messages on `<prefix>/<gateway-id>/down/<suffix>` go to the handler registered
 * for the longest matching prefix of `<suffix>` (whole topic levels: `twin` matches `twin/desired/x`
 * but not `twins`). Handlers receive the full suffix. A handler that throws is logged by the caller,
 * never allowed to take the link down.
 */
import type { Downlink, DownlinkHandler } from "../contracts.js";

export interface DownlinkRegistry extends Downlink {
  /** Hand a message to its handler; resolves to false when nobody handles the suffix. */
  dispatch(suffix: string, payload: Buffer): Promise<boolean>;
  prefixes(): string[];
}

export function createDownlinkRegistry(): DownlinkRegistry {
  const handlers = new Map<string, DownlinkHandler>();
  const find = (suffix: string): DownlinkHandler | undefined => {
    let best: string | undefined;
    for (const p of handlers.keys())
      if ((suffix === p || suffix.startsWith(p + "/") || p === "") && (best === undefined || p.length > best.length)) best = p;
    return best === undefined ? undefined : handlers.get(best);
  };
  return {
    on(prefix, handler) {
      handlers.set(prefix.replace(/\/+$/, ""), handler);
    },
    async dispatch(suffix, payload) {
      const h = find(suffix);
      if (!h) return false;
      await h(suffix, payload);
      return true;
    },
    prefixes: () => [...handlers.keys()].sort(),
  };
}
