/**
 * CoRE Link Format (RFC 6690 §2) as LwM2M registration payloads use it
 * (OMA-TS-LightweightM2M-Core §6.2.1): `</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</3303/0>;ver=1.1`.
 * Pure and total; bounded by the caller's payload limit.
 */
import { fail, ok, setOwn, type ErrorCode, type Result } from "../../core/index.js";

export interface Link {
  target: string;
  attrs: Record<string, string | true>;
}

export function parseLinkFormat(text: string): Result<Link[], ErrorCode> {
  const out: Link[] = [];
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && /\s/.test(text[i]!)) i++;
  };
  ws();
  if (i >= n) return ok([]);
  for (;;) {
    ws();
    if (text[i] !== "<") return fail("E_LWM2M_LINK_FORMAT", `expected '<' at ${i}`, i);
    const close = text.indexOf(">", i);
    if (close < 0) return fail("E_LWM2M_LINK_FORMAT", "unterminated <target>", i);
    const target = text.slice(i + 1, close);
    i = close + 1;
    const attrs: Record<string, string | true> = {};
    while (i < n && text[i] === ";") {
      i++;
      const m = /^([A-Za-z0-9!#$&+\-.^_`|~]+)/.exec(text.slice(i, i + 256));
      if (!m) return fail("E_LWM2M_LINK_FORMAT", `bad attribute name at ${i}`, i);
      const name = m[1]!;
      i += name.length;
      if (text[i] === "=") {
        i++;
        if (text[i] === '"') {
          const end = text.indexOf('"', i + 1);
          if (end < 0) return fail("E_LWM2M_LINK_FORMAT", "unterminated quoted value", i);
          setOwn(attrs, name, text.slice(i + 1, end));
          i = end + 1;
        } else {
          const start = i;
          while (i < n && text[i] !== ";" && text[i] !== ",") i++;
          setOwn(attrs, name, text.slice(start, i));
        }
      } else setOwn(attrs, name, true);
    }
    out.push({ target, attrs });
    ws();
    if (i >= n) break;
    if (text[i] !== ",") return fail("E_LWM2M_LINK_FORMAT", `expected ',' at ${i}`, i);
    i++;
  }
  return ok(out);
}

export function formatLinkFormat(links: Link[]): string {
  return links
    .map((l) => `<${l.target}>` + Object.entries(l.attrs).map(([k, v]) => (v === true ? `;${k}` : /^[A-Za-z0-9.\-_]*$/.test(v) ? `;${k}=${v}` : `;${k}="${v}"`)).join(""))
    .join(",");
}

/** The object instances a client declared (`</3303/0>` → "/3303/0"), skipping the root `</>` link. */
export function declaredObjects(links: Link[], rootPath = "/"): string[] {
  const root = rootPath === "/" ? "" : rootPath.replace(/\/$/, "");
  return links
    .map((l) => (root && l.target.startsWith(root) ? l.target.slice(root.length) : l.target))
    .filter((t) => /^\/\d+(\/\d+)?$/.test(t));
}
